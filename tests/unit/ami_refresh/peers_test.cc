#include "ami-refresh-controller/peers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mocks/kube_client_mock.h"
#include "opsy/core/time_format.h"

namespace opsy::ami_refresh {
namespace {

using ::testing::_;
using ::testing::Return;

kube::Object refresher(std::string_view name, std::string_view created, std::string_view spec) {
  std::string json =
      std::string(R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher",)") +
      R"("metadata":{"name":")" + std::string(name) + R"(","namespace":"ops","uid":"u-)" +
      std::string(name) + R"(","generation":1,"creationTimestamp":")" + std::string(created) +
      R"("},"spec":)" + std::string(spec) + "}";
  return kube::Object::parse(json).value();
}

constexpr std::string_view kProd =
    R"({"region":"us-west-2","clusterName":"prod","ami":"ami-1","exclude":["skip-*"]})";
constexpr std::string_view kOtherCluster =
    R"({"region":"us-west-2","clusterName":"dev","ami":"ami-1"})";

GroupObservation managed(std::string name) {
  return GroupObservation{.name = std::move(name),
                          .kind = GroupKind::Managed,
                          .launch_template = aws::LaunchTemplateSpec{.id = "lt-1", .version = "1"}};
}

AmiRefresher parsed(const kube::Object& obj) {
  return AmiRefresher::fromObject(obj);
}

// Only refreshers of the same region and cluster, created earlier and selecting one of the
// groups too, are reported; deleting one (or making its spec invalid) removes it.
TEST(PeerRegistry, ReportsEarlierRefreshersOfTheSameClusterThatShareAGroup) {
  PeerRegistry registry;
  auto first = parsed(refresher("first", "2026-11-01T00:00:00Z", kProd));
  auto other = parsed(refresher("elsewhere", "2026-10-01T00:00:00Z", kOtherCluster));
  auto later = parsed(refresher("later", "2026-11-02T00:00:00Z", kProd));
  for (const AmiRefresher* r : {&first, &other, &later}) {
    registry.record(r->metadata, r->spec);
  }
  std::vector<GroupObservation> groups = {managed("a"), managed("skip-me")};
  auto peers = registry.overlapping(later, groups);
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].name, "first");
  EXPECT_TRUE(registry.overlapping(first, groups).empty()) << "the earlier one keeps its groups";
  EXPECT_TRUE(registry.overlapping(later, {managed("skip-1")}).empty())
      << "a group both exclude is no overlap";

  registry.remove({.ns = "ops", .name = "first"});
  EXPECT_TRUE(registry.overlapping(later, groups).empty());

  registry.record(first.metadata, first.spec);
  EXPECT_EQ(registry.overlapping(later, groups).size(), 1u);
  registry.record(first.metadata, std::nullopt);  // its spec turned invalid
  EXPECT_TRUE(registry.overlapping(later, groups).empty());
}

// Seeded once from the cache, so a refresher reconciled first after a restart already sees an
// earlier one it has not reconciled yet; a failed list is not retried on every reconcile.
TEST(PeerRegistry, SeedsOnceFromTheReader) {
  kube::MockObjectReader reader;
  kube::ObjectList list;
  list.items = {refresher("first", "2026-11-01T00:00:00Z", kProd),
                refresher("broken", "2026-10-01T00:00:00Z", R"({"region":"us-west-2"})")};
  EXPECT_CALL(reader, list(_, "", _)).Times(1).WillOnce(Return(list));
  PeerRegistry registry;
  registry.seedOnce(reader);
  registry.seedOnce(reader);
  auto later = parsed(refresher("later", "2026-11-02T00:00:00Z", kProd));
  auto peers = registry.overlapping(later, {managed("a")});
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].name, "first");

  kube::MockObjectReader failing;
  EXPECT_CALL(failing, list(_, "", _))
      .Times(1)
      .WillOnce(Return(fail(ErrorCode::PermissionDenied, "forbidden")));
  PeerRegistry unseeded;
  unseeded.seedOnce(failing);
  unseeded.seedOnce(failing);
  EXPECT_TRUE(unseeded.overlapping(later, {managed("a")}).empty());
}

}  // namespace
}  // namespace opsy::ami_refresh

// spec.builderRef with the real ami-refresh-controller binary: the refresher follows a
// PackerBuilder's active image (status.lastRunBuiltImageID), so a second build from a new base
// image is rolled to the node groups with no change to the refresher; a builder that does not
// exist yet is shown on Ready (not Stalled) and is followed as soon as it is created.
#include "e2e/ami_refresh/ami_refresh_fixture.h"

namespace opsy::ami_refresh {
namespace {

constexpr std::string_view kBuilder = "base-al2023";
constexpr std::string_view kNewBaseImage = "ami-0a1b2c3d4e5f60011";
constexpr std::string_view kSecondBuildImage = "ami-0a1b2c3d4e5f60012";

class BuilderRefE2e : public AmiRefreshE2e {
 protected:
  // The sample refresher following the builder instead of selecting by filters.
  void applyFollower() {
    auto sample = opsy::testing::parseJsonOrYaml(
        readFile(std::string(OPSY_TEST_DATA_DIR) + "/samples/amirefresher.yaml"));
    ASSERT_TRUE(sample.has_value()) << sample.error().toString();
    auto& doc = *sample;
    auto& alloc = doc.GetAllocator();
    doc["metadata"].AddMember("namespace", rapidjson::Value("default"), alloc);
    doc["spec"].RemoveMember("amiFilters");
    ASSERT_NO_FATAL_FAILURE(mergeInto(
        doc["spec"], fmt::format(R"({{"builderRef":{{"name":"{}"}}}})", kBuilder), alloc));
    auto created = kube_.createObject(opsy::testing::toJson(doc));
    ASSERT_TRUE(created.has_value()) << created.error().toString();
  }

  // The sample PackerBuilder named kBuilder in default, with its status naming `image` as the
  // packer-builder controller writes it after a completed build.
  void applyBuilder(std::string_view image) {
    auto sample = opsy::testing::parseJsonOrYaml(
        readFile(std::string(OPSY_TEST_DATA_DIR) + "/samples/packerbuilder.yaml"));
    ASSERT_TRUE(sample.has_value()) << sample.error().toString();
    auto& doc = *sample;
    auto& alloc = doc.GetAllocator();
    doc["metadata"].AddMember("namespace", rapidjson::Value("default"), alloc);
    doc["metadata"]["name"].SetString(std::string(kBuilder).c_str(), alloc);
    auto created = kube_.createObject(opsy::testing::toJson(doc));
    ASSERT_TRUE(created.has_value()) << created.error().toString();
    ASSERT_NO_FATAL_FAILURE(setBuiltImage(image));
  }

  // What the packer-builder controller's status write after a build does to the object.
  void setBuiltImage(std::string_view image) {
    auto json = kube_.getObject(kApiVersion, "PackerBuilder", kNamespace, kBuilder);
    ASSERT_TRUE(json.has_value());
    auto doc = opsy::testing::parseJson(*json);
    ASSERT_TRUE(doc.has_value());
    auto& alloc = doc->GetAllocator();
    rapidjson::Value status(rapidjson::kObjectType);
    status.AddMember("lastRunBuiltImageID", rapidjson::Value(std::string(image).c_str(), alloc),
                     alloc);
    status.AddMember("lastRunStatus", "completed", alloc);
    doc->RemoveMember("status");
    doc->AddMember("status", status, alloc);
    ASSERT_TRUE(kube_.updateObject(opsy::testing::toJson(*doc)).has_value());
  }

  // A second build: a new base image and the managed image built from it, tagged as the builder
  // tags its images.
  void registerSecondBuild() { addBuiltImage(kNewBaseImage, "20261201", kSecondBuildImage, "2"); }

  // Writes to the refresher itself (not its status subresource).
  int refresherSpecWrites() const {
    int n = 0;
    for (const opsy::testing::KubeRequest& r : kube_.requestLog()) {
      const bool write =
          r.verb == "create" || r.verb == "update" || r.verb == "patch" || r.verb == "delete";
      if (write && r.resource == "amirefreshers" && r.subresource.empty()) {
        ++n;
      }
    }
    return n;
  }

  bool rolledTo(std::string_view image) const {
    auto r = refresher();
    return r && r->status.target_ami == image && ready() &&
           lastVersionImage(aws_, kUpdateLt) == image &&
           lastVersionImage(aws_, kCurrentLt) == image;
  }
};

// The builder names image A: the groups are rolled to A. A second build (a new base image) moves
// the builder's status to B, with no change to the refresher: the groups are rolled to B, and
// nothing ever writes the refresher's spec.
TEST_F(BuilderRefE2e, ASecondBuildIsRolledWithNoSpecChange) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(applyBuilder(kTargetImage));
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applyFollower());
  ASSERT_TRUE(eventually([&] {
    auto r = refresher();
    return r && r->status.target_ami == kTargetImage && ready() &&
           lastVersionImage(aws_, kUpdateLt) == kTargetImage;
  })) << "never rolled to the builder's first image";
  kube_.resetRequestLog();

  ASSERT_NO_FATAL_FAILURE(registerSecondBuild());
  ASSERT_NO_FATAL_FAILURE(setBuiltImage(kSecondBuildImage));
  // The sample's controllerTimer is the default 5m: only the builder's watch event can bring
  // the refresher back within this wait.
  ASSERT_TRUE(eventually([&] { return rolledTo(kSecondBuildImage); }, std::chrono::seconds(60)))
      << "the second build was not rolled; target "
      << (refresher() ? refresher()->status.target_ami : "?");
  EXPECT_EQ(refresherSpecWrites(), 0);
  EXPECT_GE(eventCount("TargetSelected"), 2);
}

// A refresher that follows a builder nobody created waits on Ready=False naming it (not
// Stalled); creating the builder is enough for it to roll.
TEST_F(BuilderRefE2e, AMissingBuilderIsShownThenFollowedOnceCreated) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applyFollower());
  const std::string missing = fmt::format("PackerBuilder {}/{} not found", kNamespace, kBuilder);
  ASSERT_TRUE(eventually([&] {
    auto c = condition("Ready");
    // The message may carry notes after it (the sample's expiresIn "5m" adds one).
    return c && c->status == kube::kConditionFalse && c->reason == "NoEligibleImage" &&
           c->message.starts_with(missing);
  })) << "Ready never named the missing builder: "
      << (condition("Ready") ? condition("Ready")->message : "no Ready");
  auto stalled = condition("Stalled");
  ASSERT_TRUE(stalled.has_value());
  EXPECT_EQ(stalled->status, kube::kConditionFalse);
  EXPECT_TRUE(aws_.eksUpdates().empty());

  ASSERT_NO_FATAL_FAILURE(applyBuilder(kTargetImage));
  ASSERT_TRUE(eventually([&] {
    auto r = refresher();
    return r && r->status.target_ami == kTargetImage && ready() &&
           lastVersionImage(aws_, kUpdateLt) == kTargetImage;
  })) << "never rolled once the builder existed";
}

// Issue 17: a builder in us-west-2 whose build was copied to eu-west-1 (status.copies, as the
// packer-builder controller writes it); a refresher in eu-west-1 following it rolls its node
// groups onto the eu-west-1 copy. The images are regional in the fake: the builder's own image
// is not visible in eu-west-1 and the copy is visible only there.
TEST_F(BuilderRefE2e, ARefresherInACopyRegionRollsItsRegionsCopy) {
  constexpr std::string_view kUsImage = "ami-0a1b2c3d4e5f60021";
  constexpr std::string_view kEuCopy = "ami-0a1b2c3d4e5f60022";
  aws_.setEksAutoCompleteAfter(1);
  TimePoint now = realClock().now();
  ami::Lineage lineage{.cluster_name = std::string(kCluster),
                       .created_by = std::string(kBuilder),
                       .packer_repo = "https://github.com/ibeify/eks-node-group-ami-refresh",
                       .packer_repo_branch = "main"};
  aws::Tags tags = ami::fullTags(
      lineage, {.base_ami = std::string(kBaseImage), .build_id = "b-1", .job_id = "j-1"}, now);
  for (auto [id, region] : {std::pair{kUsImage, "us-west-2"}, std::pair{kEuCopy, "eu-west-1"}}) {
    aws_.addImage({.id = std::string(id),
                   .name = "ibeify-gitops-al2023-1.30-b-1",
                   .creation_date = formatRfc3339Millis(now),
                   .tags = opsy::testing::TagMap(tags.begin(), tags.end()),
                   .region = region});
  }
  ASSERT_NO_FATAL_FAILURE(applyBuilder(kUsImage));
  {
    auto json = kube_.getObject(kApiVersion, "PackerBuilder", kNamespace, kBuilder);
    ASSERT_TRUE(json.has_value());
    auto doc = opsy::testing::parseJson(*json);
    ASSERT_TRUE(doc.has_value());
    auto& alloc = doc->GetAllocator();
    ASSERT_NO_FATAL_FAILURE(mergeInto(
        (*doc)["status"],
        fmt::format(R"({{"copies":[{{"region":"eu-west-1","imageID":"{}"}}]}})", kEuCopy), alloc));
    ASSERT_TRUE(kube_.updateObject(opsy::testing::toJson(*doc)).has_value());
  }
  ASSERT_NO_FATAL_FAILURE(startController());
  auto sample = opsy::testing::parseJsonOrYaml(
      readFile(std::string(OPSY_TEST_DATA_DIR) + "/samples/amirefresher.yaml"));
  ASSERT_TRUE(sample.has_value()) << sample.error().toString();
  auto& doc = *sample;
  auto& alloc = doc.GetAllocator();
  doc["metadata"].AddMember("namespace", rapidjson::Value("default"), alloc);
  doc["spec"].RemoveMember("amiFilters");
  doc["spec"]["region"].SetString("eu-west-1", alloc);
  ASSERT_NO_FATAL_FAILURE(
      mergeInto(doc["spec"], fmt::format(R"({{"builderRef":{{"name":"{}"}}}})", kBuilder), alloc));
  ASSERT_TRUE(kube_.createObject(opsy::testing::toJson(doc)).has_value());

  ASSERT_TRUE(eventually([&] { return rolledTo(kEuCopy); }, std::chrono::seconds(60)))
      << "the eu-west-1 copy was not rolled; target "
      << (refresher() ? refresher()->status.target_ami : "?") << "; Ready "
      << (condition("Ready") ? condition("Ready")->message : "none");
  // Every EC2 call of this refresher was for its own region.
  for (const opsy::testing::FakeCall& call : aws_.calls()) {
    if (call.service == "ec2") {
      EXPECT_EQ(call.region, "eu-west-1") << call.operation;
    }
  }
}

}  // namespace
}  // namespace opsy::ami_refresh

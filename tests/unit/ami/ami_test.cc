#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "opsy/ami/eligibility.h"
#include "opsy/ami/selection.h"
#include "opsy/ami/tags.h"
#include "opsy/core/time_format.h"

namespace opsy::ami {
namespace {

using std::chrono::hours;
using ::testing::HasSubstr;

// Test names from the case's `name`, with anything but letters and digits as '_'.
template <class T>
std::string caseName(const ::testing::TestParamInfo<T>& param_info) {
  std::string n = param_info.param.name;
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      c = '_';
    }
  }
  return n;
}

const TimePoint kNow = parseRfc3339("2026-11-21T12:00:00Z").value();

aws::Image managed(std::string id, std::string created, std::string status = "active",
                   std::string base = "ami-base1") {
  aws::Image i;
  i.id = std::move(id);
  i.state = aws::ImageState::Available;
  i.creation_date = parseRfc3339(created).value();
  i.tags = fullTags({"prod", "base-al2023", "https://git/x", "main"}, {base, "b1", "j1"},
                    parseRfc3339(created).value());
  i.tags["status"] = std::move(status);
  return i;
}

aws::Image base(std::string id, std::string created) {
  aws::Image i;
  i.id = std::move(id);
  i.state = aws::ImageState::Available;
  i.owner_id = "602401143452";
  i.creation_date = parseRfc3339(created).value();
  return i;
}

// The full tag set is the DESIGN.md schema, with an RFC 3339 UTC create-timestamp.
TEST(Tags, FullSetMatchesSchema) {
  aws::Tags t = fullTags({"prod", "base-al2023", "https://git/x", "main"},
                         {"ami-base1", "build-7", "job-3"}, kNow);
  EXPECT_EQ(t.size(), 10u);
  EXPECT_EQ(t["brought-to-you-by"], "opsy-the-ami-operator");
  EXPECT_EQ(t["cluster-name"], "prod");
  EXPECT_EQ(t["created-by"], "base-al2023");
  EXPECT_EQ(t["packer-repo"], "https://git/x");
  EXPECT_EQ(t["packer-repo-branch"], "main");
  EXPECT_EQ(t["base-ami"], "ami-base1");
  EXPECT_EQ(t["build-id"], "build-7");
  EXPECT_EQ(t["job-id"], "job-3");
  EXPECT_EQ(t["create-timestamp"], "2026-11-21T12:00:00Z");
  EXPECT_EQ(t["status"], "active");
  auto filters = lineageFilters({"prod", "base-al2023", "https://git/x", "main"});
  ASSERT_EQ(filters.size(), 5u);
  EXPECT_EQ(filters[0].name, "tag:brought-to-you-by");
}

struct VerdictCase {
  const char* name;
  aws::Image image;
  bool eligible;
  Refusal refusal;
  const char* reason_part;
};

class Evaluate : public ::testing::TestWithParam<VerdictCase> {};

// Eligible means available, status=active and unexpired; every refusal says why.
TEST_P(Evaluate, Verdict) {
  Verdict v = evaluate(GetParam().image, hours(48), kNow);
  EXPECT_EQ(v.eligible, GetParam().eligible);
  EXPECT_EQ(v.refusal, GetParam().refusal);
  EXPECT_THAT(v.reason, HasSubstr(GetParam().reason_part));
}

aws::Image withState(aws::Image i, aws::ImageState state) {
  i.state = state;
  return i;
}
aws::Image withoutTag(aws::Image i, const std::string& key) {
  i.tags.erase(key);
  return i;
}
aws::Image withTag(aws::Image i, const std::string& key, std::string value) {
  i.tags[key] = std::move(value);
  return i;
}

INSTANTIATE_TEST_SUITE_P(
    Table, Evaluate,
    ::testing::Values(
        VerdictCase{"fresh", managed("ami-1", "2026-11-20T12:00:00Z"), true, Refusal::None, ""},
        VerdictCase{"expired", managed("ami-1", "2026-11-19T11:00:00Z"), false, Refusal::Expired,
                    "ami-1 expired at 2026-11-21T11:00:00Z"},
        VerdictCase{"expires exactly now", managed("ami-1", "2026-11-19T12:00:00Z"), false,
                    Refusal::Expired, "expired"},
        VerdictCase{"deprecated", managed("ami-1", "2026-11-21T00:00:00Z", "deprecated"), false,
                    Refusal::NotActive, "ami-1 is not active (status=deprecated)"},
        VerdictCase{"untagged", withoutTag(managed("ami-1", "2026-11-21T00:00:00Z"), "status"),
                    false, Refusal::NotActive, "no status=active tag"},
        VerdictCase{"pending",
                    withState(managed("ami-1", "2026-11-21T00:00:00Z"), aws::ImageState::Pending),
                    false, Refusal::NotAvailable, "ami-1 is pending"},
        VerdictCase{"no tag, creation date used",
                    withoutTag(managed("ami-1", "2026-11-21T00:00:00Z"), "create-timestamp"), true,
                    Refusal::None, ""},
        VerdictCase{
            "garbage timestamp",
            withTag(managed("ami-1", "2026-11-21T00:00:00Z"), "create-timestamp", "yesterday"),
            false, Refusal::BadTimestamp, "unreadable create-timestamp"}),
    caseName<VerdictCase>);

// The create-timestamp tag wins over CreationDate, so adopting an image never resets its age.
TEST(Evaluate, TagTimestampWinsOverCreationDate) {
  aws::Image i = managed("ami-1", "2026-11-19T00:00:00Z");
  i.creation_date = parseRfc3339("2026-11-21T00:00:00Z").value();
  Verdict v = evaluate(i, hours(48), kNow);
  EXPECT_FALSE(v.eligible);
  EXPECT_EQ(v.refusal, Refusal::Expired);
}

// Filters matching a base pick the newest eligible managed image built from it.
TEST(SelectTarget, ThroughBaseToNewestEligible) {
  std::vector<aws::Image> matched = {base("ami-base1", "2026-11-01T00:00:00Z")};
  std::vector<aws::Image> derived = {
      managed("ami-old", "2026-11-20T00:00:00Z"), managed("ami-new", "2026-11-21T06:00:00Z"),
      managed("ami-other", "2026-11-21T07:00:00Z", "active", "ami-base9")};
  Target t = selectTarget(matched, derived, hours(48), kNow);
  ASSERT_TRUE(t.image.has_value()) << t.explanation;
  EXPECT_EQ(t.image->id, "ami-new");
  EXPECT_EQ(*t.verdict.expires_at, parseRfc3339("2026-11-23T06:00:00Z").value());
}

// A newer but deprecated image is skipped for an older active one.
TEST(SelectTarget, SkipsDeprecatedNewest) {
  std::vector<aws::Image> matched = {managed("ami-a", "2026-11-21T00:00:00Z"),
                                     managed("ami-b", "2026-11-21T10:00:00Z", "deprecated")};
  Target t = selectTarget(matched, {}, hours(48), kNow);
  ASSERT_TRUE(t.image.has_value());
  EXPECT_EQ(t.image->id, "ami-a");
}

struct NoTargetCase {
  const char* name;
  std::vector<aws::Image> matched;
  std::vector<aws::Image> derived;
  const char* explanation;
};

class SelectTargetRefuses : public ::testing::TestWithParam<NoTargetCase> {};

// No eligible image means no target, with an explanation of what was found and why it was refused.
TEST_P(SelectTargetRefuses, ExplainsWhy) {
  Target t = selectTarget(GetParam().matched, GetParam().derived, hours(48), kNow);
  EXPECT_FALSE(t.image.has_value());
  EXPECT_EQ(t.explanation, GetParam().explanation);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SelectTargetRefuses,
    ::testing::Values(
        NoTargetCase{"empty", {}, {}, "no image matched the filters"},
        NoTargetCase{"expired",
                     {managed("ami-x", "2026-11-01T00:00:00Z")},
                     {},
                     "1 image matched; none is eligible: newest ami-x expired at "
                     "2026-11-03T00:00:00Z (created 2026-11-01T00:00:00Z, expiresIn 2d)"},
        NoTargetCase{"deprecated",
                     {managed("ami-x", "2026-11-21T00:00:00Z", "deprecated"),
                      managed("ami-y", "2026-11-20T00:00:00Z", "deprecated"),
                      managed("ami-z", "2026-11-19T00:00:00Z", "deprecated")},
                     {},
                     "3 images matched; none is eligible: newest ami-x is not active "
                     "(status=deprecated)"},
        NoTargetCase{"base without builds",
                     {base("ami-base1", "2026-11-01T00:00:00Z")},
                     {},
                     "1 image matched (1 base with no operator tags, 0 managed images built "
                     "from them); no managed image has been built from ami-base1 yet"},
        NoTargetCase{"foreign public image is never a target",
                     {base("ami-public", "2026-11-21T00:00:00Z")},
                     {base("ami-lookalike", "2026-11-21T01:00:00Z")},
                     "1 image matched (1 base with no operator tags, 0 managed images built "
                     "from them); no managed image has been built from ami-public yet"}),
    caseName<NoTargetCase>);

// The builder keeps only an image built from the current base when a base is required.
TEST(SelectActive, RequiresCurrentBase) {
  std::vector<aws::Image> mine = {managed("ami-1", "2026-11-21T00:00:00Z", "active", "ami-old")};
  EXPECT_TRUE(selectActive(mine, hours(48), kNow).image.has_value());
  Target t = selectActive(mine, hours(48), kNow, std::string("ami-new"));
  EXPECT_FALSE(t.image.has_value());
  EXPECT_EQ(t.explanation, "1 image of this builder, 0 built from ami-new");
}

// The newest base is the newest available one; pending images are ignored.
TEST(NewestAvailable, IgnoresPending) {
  aws::Image pending = base("ami-p", "2026-11-21T00:00:00Z");
  pending.state = aws::ImageState::Pending;
  auto n = newestAvailable(
      {base("ami-a", "2026-11-01T00:00:00Z"), pending, base("ami-b", "2026-11-10T00:00:00Z")});
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->id, "ami-b");
  EXPECT_FALSE(newestAvailable({pending}).has_value());
}

}  // namespace
}  // namespace opsy::ami

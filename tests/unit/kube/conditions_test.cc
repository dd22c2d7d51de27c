#include "opsy/kube/conditions.h"

#include <gtest/gtest.h>

#include "opsy/core/time_format.h"

namespace opsy::kube {
namespace {

const TimePoint kT0 = parseRfc3339("2026-11-21T10:00:00Z").value();
const TimePoint kT1 = parseRfc3339("2026-11-21T10:05:00Z").value();

Condition ready(std::string status, std::string reason, std::string message = "m") {
  return Condition{.type = "Ready",
                   .status = std::move(status),
                   .reason = std::move(reason),
                   .message = std::move(message)};
}

// Setting an identical condition is no change, so a quiet reconcile writes nothing.
TEST(Conditions, SameConditionIsNoChange) {
  std::vector<Condition> cs;
  EXPECT_TRUE(setCondition(cs, ready("True", "ImageActive"), 3, kT0));
  EXPECT_FALSE(setCondition(cs, ready("True", "ImageActive"), 3, kT1));
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].last_transition_time, kT0);
  EXPECT_EQ(cs[0].observed_generation, 3);
}

// lastTransitionTime moves only when the status changes; reason, message and generation updates
// keep it.
TEST(Conditions, TransitionTimeMovesOnlyOnStatusChange) {
  std::vector<Condition> cs;
  setCondition(cs, ready("False", "Building"), 1, kT0);
  EXPECT_TRUE(setCondition(cs, ready("False", "Waiting", "other"), 2, kT1));
  EXPECT_EQ(cs[0].last_transition_time, kT0);
  EXPECT_EQ(cs[0].reason, "Waiting");
  EXPECT_EQ(cs[0].observed_generation, 2);
  EXPECT_TRUE(setCondition(cs, ready("True", "ImageActive"), 2, kT1));
  EXPECT_EQ(cs[0].last_transition_time, kT1);
  EXPECT_TRUE(isConditionTrue(cs, "Ready"));
  EXPECT_FALSE(isConditionTrue(cs, "Stalled"));
}

// One entry per type; removal is reported.
TEST(Conditions, OneEntryPerType) {
  std::vector<Condition> cs;
  setCondition(cs, ready("True", "A"), 1, kT0);
  setCondition(cs, {.type = "Stalled", .status = "True", .reason = "TooManyFailures"}, 1, kT0);
  setCondition(cs, ready("False", "B"), 1, kT1);
  EXPECT_EQ(cs.size(), 2u);
  EXPECT_TRUE(removeCondition(cs, "Stalled"));
  EXPECT_FALSE(removeCondition(cs, "Stalled"));
  EXPECT_EQ(cs.size(), 1u);
}

// The JSON form round-trips with second-precision RFC 3339 times, like metav1.Condition.
TEST(Conditions, JsonRoundTrip) {
  std::vector<Condition> cs;
  setCondition(cs, ready("True", "ImageActive", "ami-1 \"active\""), 4,
               kT0 + std::chrono::milliseconds(700));
  std::string json = conditionsToJson(cs);
  EXPECT_NE(json.find(R"("lastTransitionTime":"2026-11-21T10:00:00Z")"), std::string::npos) << json;
  auto back = conditionsFromJson(json);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, cs);
  EXPECT_FALSE(conditionsFromJson("{}").has_value());
  EXPECT_TRUE(conditionsFromJson(R"([{"status":"True"}])").value().empty());
}

}  // namespace
}  // namespace opsy::kube

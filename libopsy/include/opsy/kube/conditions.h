// File: conditions.h
//
// Status conditions the Kubernetes way (metav1.Condition): one entry per type, with status
// True/False/Unknown, a CamelCase reason, a message and the generation it describes. The
// lastTransitionTime moves only when the status changes, so `kubectl wait --for=condition=Ready`
// and kstatus read them correctly, and setting the same condition twice is not a change (no write).
//
//   kube::ConditionWriter conditions(status.conditions, generation, now);
//   conditions.set(kube::kConditionReady, kube::kConditionTrue, "ImageActive", "ami-0abc");
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::kube {

// metav1.Condition's message maxLength.
inline constexpr std::size_t kMaxConditionMessageBytes = 32768;

inline constexpr std::string_view kConditionTrue = "True";
inline constexpr std::string_view kConditionFalse = "False";
inline constexpr std::string_view kConditionUnknown = "Unknown";

// The condition types both controllers write (kstatus: Ready, Progressing, Stalled).
inline constexpr std::string_view kConditionReady = "Ready";
inline constexpr std::string_view kConditionProgressing = "Progressing";
inline constexpr std::string_view kConditionStalled = "Stalled";

struct Condition {
  std::string type;
  std::string status;  // True | False | Unknown
  std::string reason;
  std::string message;
  std::int64_t observed_generation = 0;
  TimePoint last_transition_time{};

  bool operator==(const Condition&) const = default;
};

// Adds or updates the condition of `c.type` with `observed_generation` = generation. The
// transition time is `now` when the status changes (or the condition is new), else it is kept.
// Returns true when anything changed.
bool setCondition(std::vector<Condition>& conditions, Condition c, std::int64_t generation,
                  TimePoint now);
// Removes the condition of `type`; true when one was there.
bool removeCondition(std::vector<Condition>& conditions, std::string_view type);

// Sets the conditions of one reconcile: every condition it writes describes the same generation
// and moves (if its status changes) at the same instant.
class ConditionWriter {
 public:
  ConditionWriter(std::vector<Condition>& conditions, std::int64_t generation, TimePoint now)
      : conditions_(conditions), generation_(generation), now_(now) {}

  // setCondition() of {type, status, reason, message}; true when anything changed.
  bool set(std::string_view type, std::string_view status, std::string reason, std::string message);
  // Adds "; <note>" to the message of condition `type` when it has one and the note is not there.
  void annotate(std::string_view type, std::string_view note);

 private:
  std::vector<Condition>& conditions_;
  std::int64_t generation_;
  TimePoint now_;
};

const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type);
bool isConditionTrue(const std::vector<Condition>& conditions, std::string_view type);

// The JSON array form used in .status.conditions.
std::string conditionsToJson(const std::vector<Condition>& conditions);
// Parses .status.conditions; entries without a type are skipped, a non-array is an error.
[[nodiscard]] Result<std::vector<Condition>> conditionsFromJson(std::string_view json);

}  // namespace opsy::kube

// File: selection.h
//
// Choosing images. For a PackerBuilder: the newest available base image of its filters, and the
// builder's own active, unexpired image (the one to keep or adopt). For an AMIRefresher: the
// newest eligible target among the images its filters matched — an image with the operator's tags
// is a candidate itself, any other is a *base* whose candidates are the managed images tagged
// base-ami=<its id>. When nothing qualifies, the result explains what was found and why each
// newest candidate was refused.
//
//   ami::Target t = ami::selectTarget(matched, derived, expires_in, now);
//   if (!t.image) status.message = t.explanation;  // reason NoEligibleImage
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "opsy/ami/eligibility.h"
#include "opsy/aws/ec2.h"

namespace opsy::ami {

// The newest image in state `available` (by CreationDate), if any.
std::optional<aws::Image> newestAvailable(const std::vector<aws::Image>& images);

struct Target {
  std::optional<aws::Image> image;
  Verdict verdict;          // of the chosen image
  std::string explanation;  // why this one, or why none
  // The earliest time a candidate newer than the choice (or any, when there is no choice) stops
  // being too young for `min_age`: the target may change then without anything else changing.
  std::optional<TimePoint> changes_at;
};

// The base ids among `matched` (images without the operator's tags): look up the managed images
// tagged base-ami=<id> for these and pass them to selectTarget as `derived`.
std::vector<std::string> baseIds(const std::vector<aws::Image>& matched);

// `min_age`: candidates younger than this are passed over (ami::evaluate), the newest old enough
// is the target.
Target selectTarget(const std::vector<aws::Image>& matched, const std::vector<aws::Image>& derived,
                    Duration expires_in, TimePoint now, Duration min_age = Duration::zero());

// The builder's image to keep: the newest eligible one of `managed` (its lineage images).
// When `required_base` is set, only images built from that base qualify.
Target selectActive(const std::vector<aws::Image>& managed, Duration expires_in, TimePoint now,
                    const std::optional<std::string>& required_base = std::nullopt);

}  // namespace opsy::ami

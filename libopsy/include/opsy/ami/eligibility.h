// File: eligibility.h
//
// Whether an image may be used: it must be `available`, tagged status=active, and not expired,
// where expiry is its create-timestamp tag (else its EC2 CreationDate) plus expiresIn; when a
// minimum age is asked for, also at least that old. Every
// refusal carries a reason a person can act on, because "nothing happened" must always be
// explainable in a condition message.
//
//   ami::Verdict v = ami::evaluate(image, expires_in, clock.now());
//   if (!v.eligible) status.message = v.reason;  // "ami-0abc is not active (status=deprecated)"
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/aws/ec2.h"
#include "opsy/core/clock.h"

namespace opsy::ami {

enum class Refusal { None, NotAvailable, NotActive, Expired, NoTimestamp, BadTimestamp, TooYoung };

struct Verdict {
  bool eligible = false;
  Refusal refusal = Refusal::None;
  std::string reason;                   // empty when eligible
  std::optional<TimePoint> created_at;  // create-timestamp, else CreationDate
  std::optional<TimePoint> expires_at;
  // TooYoung: when the image is old enough (created_at + min_age).
  std::optional<TimePoint> eligible_at;
};

// `min_age` (an AMIRefresher's minImageAge): an image created less than this long ago is refused
// as TooYoung, so a production refresher rolls only what has been active elsewhere for a while.
Verdict evaluate(const aws::Image& image, Duration expires_in, TimePoint now,
                 Duration min_age = Duration::zero());

// When the image was made, as far as the operator is concerned: its create-timestamp tag when that
// parses, else EC2's CreationDate.
std::optional<TimePoint> createdAt(const aws::Image& image);

// A warning for an expiresIn that is probably a mistake: written with "m" (minutes) and under one
// hour, as "6m" meant as six months in the original project's sample comment. Nullopt otherwise.
//   expiresInWarning("spec.expiresIn", "6m", 6min)
//     -> "spec.expiresIn is 6m: m means minutes, so images expire 6 minutes after ..."
std::optional<std::string> expiresInWarning(std::string_view field, std::string_view text,
                                            Duration expires_in);

// Sorts newest first by createdAt (images without a time last), ties by id for determinism.
void sortNewestFirst(std::vector<aws::Image>& images);

}  // namespace opsy::ami

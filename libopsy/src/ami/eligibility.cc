#include "opsy/ami/eligibility.h"

#include <fmt/format.h>

#include <algorithm>

#include "opsy/ami/tags.h"
#include "opsy/core/duration.h"
#include "opsy/core/time_format.h"

namespace opsy::ami {

std::optional<TimePoint> createdAt(const aws::Image& image) {
  if (auto ts = tag(image, kTagCreateTimestamp)) {
    if (auto parsed = parseRfc3339(*ts)) {
      return *parsed;
    }
  }
  return image.creation_date;
}

Verdict evaluate(const aws::Image& image, Duration expires_in, TimePoint now, Duration min_age) {
  Verdict v;
  v.created_at = createdAt(image);
  if (image.state != aws::ImageState::Available) {
    v.refusal = Refusal::NotAvailable;
    v.reason = fmt::format("{} is {}, not available", image.id,
                           image.state.text.empty() ? "in an unknown state" : image.state.text);
    return v;
  }
  auto status = tag(image, kTagStatus);
  if (status != kStatusActive) {
    v.refusal = Refusal::NotActive;
    v.reason = status ? fmt::format("{} is not active (status={})", image.id, *status)
                      : fmt::format("{} has no status=active tag", image.id);
    return v;
  }
  // A create-timestamp that is present but unreadable is refused rather than guessed around:
  // it means someone else wrote the tag, and expiry would be a guess.
  if (auto ts = tag(image, kTagCreateTimestamp); ts && !parseRfc3339(*ts)) {
    v.refusal = Refusal::BadTimestamp;
    v.reason = fmt::format("{} has an unreadable create-timestamp tag \"{}\"", image.id, *ts);
    return v;
  }
  if (!v.created_at) {
    v.refusal = Refusal::NoTimestamp;
    v.reason = fmt::format("{} has neither a create-timestamp tag nor a creation date", image.id);
    return v;
  }
  v.expires_at = *v.created_at + expires_in;
  if (*v.expires_at <= now) {
    v.refusal = Refusal::Expired;
    v.reason = fmt::format("{} expired at {} (created {}, expiresIn {})", image.id,
                           formatRfc3339(*v.expires_at), formatRfc3339(*v.created_at),
                           formatDuration(expires_in));
    return v;
  }
  if (min_age > Duration::zero() && now < *v.created_at + min_age) {
    v.refusal = Refusal::TooYoung;
    v.eligible_at = *v.created_at + min_age;
    v.reason = fmt::format(
        "{} was created {} ago, less than minImageAge {}; it becomes a target at {}", image.id,
        formatDuration(std::chrono::floor<std::chrono::seconds>(now - *v.created_at)),
        formatDuration(min_age), formatRfc3339(*v.eligible_at));
    if (*v.expires_at <= *v.eligible_at) {
      v.reason = fmt::format(
          "{} was created {} ago, less than minImageAge {}, and expires at {} "
          "before it is old enough",
          image.id, formatDuration(std::chrono::floor<std::chrono::seconds>(now - *v.created_at)),
          formatDuration(min_age), formatRfc3339(*v.expires_at));
      v.eligible_at.reset();
    }
    return v;
  }
  v.eligible = true;
  return v;
}

void sortNewestFirst(std::vector<aws::Image>& images) {
  std::stable_sort(images.begin(), images.end(), [](const aws::Image& a, const aws::Image& b) {
    auto ta = createdAt(a);
    auto tb = createdAt(b);
    if (ta.has_value() != tb.has_value()) {
      return ta.has_value();
    }
    if (ta && *ta != *tb) {
      return *ta > *tb;
    }
    return a.id < b.id;
  });
}

std::optional<std::string> expiresInWarning(std::string_view field, std::string_view text,
                                            Duration expires_in) {
  if (text.empty() || text.back() != 'm' || expires_in >= std::chrono::hours(1)) {
    return std::nullopt;
  }
  return fmt::format(
      "{} is {}: m means minutes, so images expire {} minutes after they are made; months are "
      "mo (e.g. 6mo)",
      field, text, std::chrono::duration_cast<std::chrono::minutes>(expires_in).count());
}

}  // namespace opsy::ami

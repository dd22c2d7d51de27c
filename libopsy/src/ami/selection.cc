#include "opsy/ami/selection.h"

#include <fmt/format.h>

#include <set>

#include "opsy/ami/tags.h"

namespace opsy::ami {
namespace {

std::string plural(size_t n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

// Picks the newest eligible image of `candidates`; otherwise explains the newest refusal. Newer
// candidates passed over only for their age are named, with when they stop being too young.
Target pickNewest(std::vector<aws::Image> candidates, Duration expires_in, TimePoint now,
                  const std::string& found, Duration min_age = Duration::zero()) {
  sortNewestFirst(candidates);
  Target t;
  std::optional<Verdict> youngest_refused;
  for (const aws::Image& image : candidates) {
    Verdict v = evaluate(image, expires_in, now, min_age);
    if (v.eligible) {
      t.image = image;
      t.verdict = v;
      t.explanation = fmt::format("{}; newest eligible is {}", found, image.id);
      if (youngest_refused) {
        t.explanation += fmt::format(" (newer: {})", youngest_refused->reason);
      }
      return t;
    }
    if (v.refusal == Refusal::TooYoung && v.eligible_at) {
      if (!youngest_refused) {
        youngest_refused = v;
      }
      if (!t.changes_at || *v.eligible_at < *t.changes_at) {
        t.changes_at = v.eligible_at;
      }
    }
  }
  if (candidates.empty()) {
    t.explanation = found;
  } else {
    Verdict newest = evaluate(candidates.front(), expires_in, now, min_age);
    t.verdict = newest;
    t.explanation = fmt::format("{}; none is eligible: newest {}", found, newest.reason);
  }
  return t;
}

}  // namespace

std::optional<aws::Image> newestAvailable(const std::vector<aws::Image>& images) {
  std::optional<aws::Image> best;
  for (const aws::Image& image : images) {
    if (image.state != aws::ImageState::Available) {
      continue;
    }
    if (!best || image.creation_date > best->creation_date ||
        (image.creation_date == best->creation_date && image.id > best->id)) {
      best = image;
    }
  }
  return best;
}

std::vector<std::string> baseIds(const std::vector<aws::Image>& matched) {
  std::vector<std::string> ids;
  for (const aws::Image& image : matched) {
    if (!isManaged(image)) {
      ids.push_back(image.id);
    }
  }
  return ids;
}

Target selectTarget(const std::vector<aws::Image>& matched, const std::vector<aws::Image>& derived,
                    Duration expires_in, TimePoint now, Duration min_age) {
  if (matched.empty()) {
    Target t;
    t.explanation = "no image matched the filters";
    return t;
  }
  std::set<std::string> bases;
  std::vector<aws::Image> candidates;
  for (const aws::Image& image : matched) {
    if (isManaged(image)) {
      candidates.push_back(image);
    } else {
      bases.insert(image.id);
    }
  }
  size_t from_bases = 0;
  std::set<std::string> seen;
  for (const aws::Image& c : candidates) {
    seen.insert(c.id);
  }
  for (const aws::Image& image : derived) {
    auto base = tag(image, kTagBaseAmi);
    if (isManaged(image) && base && bases.count(*base) && seen.insert(image.id).second) {
      candidates.push_back(image);
      ++from_bases;
    }
  }
  std::string found = fmt::format("{} matched", plural(matched.size(), "image"));
  if (!bases.empty()) {
    found += fmt::format(" ({} with no operator tags, {} built from them)",
                         plural(bases.size(), "base"), plural(from_bases, "managed image"));
  }
  if (candidates.empty()) {
    Target t;
    t.explanation = found + "; no managed image has been built from " +
                    (bases.size() == 1 ? *bases.begin() : "these bases") + " yet";
    return t;
  }
  return pickNewest(std::move(candidates), expires_in, now, found, min_age);
}

Target selectActive(const std::vector<aws::Image>& managed, Duration expires_in, TimePoint now,
                    const std::optional<std::string>& required_base) {
  std::vector<aws::Image> candidates;
  for (const aws::Image& image : managed) {
    if (required_base && tag(image, kTagBaseAmi) != *required_base) {
      continue;
    }
    candidates.push_back(image);
  }
  std::string found = fmt::format("{} of this builder", plural(managed.size(), "image"));
  if (required_base) {
    found += fmt::format(", {} built from {}", candidates.size(), *required_base);
  }
  return pickNewest(std::move(candidates), expires_in, now, found);
}

}  // namespace opsy::ami

#include "opsy/core/token_bucket.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace opsy {

TokenBucket::TokenBucket(Clock& clock, double rate_per_second, int burst)
    : clock_(clock),
      rate_(rate_per_second),
      burst_(burst),
      tokens_(burst),
      last_(clock.steadyNow()) {
  assert(rate_per_second > 0 && burst >= 1);
}

void TokenBucket::refillLocked(std::chrono::steady_clock::time_point now) {
  if (now <= last_) {
    return;
  }
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min<double>(burst_, tokens_ + elapsed * rate_);
  last_ = now;
}

bool TokenBucket::tryTake() {
  if (std::isinf(rate_)) {
    return true;
  }
  std::lock_guard lock(mu_);
  refillLocked(clock_.steadyNow());
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  return false;
}

Duration TokenBucket::reserve() {
  if (std::isinf(rate_)) {
    return Duration::zero();
  }
  std::lock_guard lock(mu_);
  refillLocked(clock_.steadyNow());
  tokens_ -= 1.0;
  if (tokens_ >= 0.0) {
    return Duration::zero();
  }
  // Round up: waking a fraction of a millisecond early would find the token not yet there.
  const double wait_ms = std::ceil(-tokens_ / rate_ * 1000.0 - 1e-9);
  return Duration(static_cast<Duration::rep>(wait_ms));
}

void TokenBucket::take() {
  const Duration wait = reserve();
  if (wait > Duration::zero()) {
    clock_.sleepFor(wait);
  }
}

double TokenBucket::available() const {
  if (std::isinf(rate_)) {
    return std::numeric_limits<double>::infinity();
  }
  std::lock_guard lock(mu_);
  const auto now = clock_.steadyNow();
  if (now <= last_) {
    return tokens_;
  }
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  return std::min<double>(burst_, tokens_ + elapsed * rate_);
}

}  // namespace opsy

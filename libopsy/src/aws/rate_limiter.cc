#include "opsy/aws/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace opsy::aws {

RateLimiter::RateLimiter(double rate_per_second, double burst, Clock& clock)
    : rate_(rate_per_second),
      burst_(std::max(1.0, burst)),
      clock_(clock),
      tokens_(std::max(1.0, burst)),
      last_(clock.steadyNow()) {}

void RateLimiter::refillLocked() {
  auto now = clock_.steadyNow();
  double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
}

void RateLimiter::acquire() {
  if (rate_ <= 0) {
    return;
  }
  Duration wait{0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    refillLocked();
    tokens_ -= 1.0;
    if (tokens_ >= 0) {
      return;
    }
    // Reserve the token: the deficit is paid back by the refill while this caller sleeps.
    wait = Duration(static_cast<Duration::rep>(std::ceil(-tokens_ / rate_ * 1000.0)));
  }
  clock_.sleepFor(wait);
}

bool RateLimiter::tryAcquire() {
  if (rate_ <= 0) {
    return true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  refillLocked();
  if (tokens_ < 1.0) {
    return false;
  }
  tokens_ -= 1.0;
  return true;
}

}  // namespace opsy::aws

// File: rate_limiter.h
//
// A client-side token bucket, one per AWS client, so a busy controller stays under the service's
// request-rate limits (EC2 throttles per account and API) instead of relying on retries after
// RequestLimitExceeded. Tokens refill at `rate` per second up to `burst`; time comes from the
// injected Clock. Callers that find the bucket empty reserve a future token and sleep for it, so
// concurrent callers are served in order without busy waiting.
//
//   aws::RateLimiter limiter(20.0, 40.0, clock);   // 20 req/s, bursts of 40
//   limiter.acquire();
#pragma once

#include <mutex>

#include "opsy/core/clock.h"

namespace opsy::aws {

class RateLimiter {
 public:
  // rate <= 0 disables limiting.
  RateLimiter(double rate_per_second, double burst, Clock& clock);

  // Takes one token, sleeping on the clock until it is available.
  void acquire();
  // Takes one token if one is available now.
  bool tryAcquire();

 private:
  void refillLocked();

  std::mutex mu_;
  double rate_;
  double burst_;
  Clock& clock_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace opsy::aws

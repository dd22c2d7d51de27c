// File: token_bucket.h
//
// A thread-safe token bucket on an injected Clock: tokens refill at `rate` per second up to
// `burst`, and each call spends one. It paces calls to an API server or an AWS endpoint, and backs
// the overall limit of the work queue's retries. reserve() lets a caller that must not block
// (a queue scheduling a retry) learn how long to wait instead of sleeping.
//
//   TokenBucket bucket(clock, /*rate_per_second=*/10, /*burst=*/100);
//   if (!bucket.tryTake()) { return fail(ErrorCode::Throttled, "client-side rate limit"); }
#pragma once

#include <chrono>
#include <mutex>

#include "opsy/core/clock.h"

namespace opsy {

class TokenBucket {
 public:
  // The bucket starts full. A rate of +infinity disables limiting; rate must be > 0 and burst >= 1.
  TokenBucket(Clock& clock, double rate_per_second, int burst);

  // Spends a token if one is available now; never waits and never goes into debt.
  bool tryTake();
  // Spends a token now, going into debt if none is left, and returns how long the caller must
  // wait before acting on it (zero when a token was available). Reservations queue up: N callers
  // reserving together get waits of 1/rate, 2/rate, ... past the empty point.
  Duration reserve();
  // reserve() followed by sleeping on the clock for the returned time.
  void take();
  // Tokens in the bucket now; negative while reservations are outstanding.
  double available() const;

  double rate() const { return rate_; }
  int burst() const { return burst_; }

 private:
  void refillLocked(std::chrono::steady_clock::time_point now);

  Clock& clock_;
  const double rate_;
  const int burst_;
  mutable std::mutex mu_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace opsy

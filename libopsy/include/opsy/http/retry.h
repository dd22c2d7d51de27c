// File: retry.h
//
// The AWS "standard" retry mode, usable by any client: at most 3 attempts, full-jitter
// exponential backoff (rand(0,1) * min(base * 2^(attempt-1), 20 s)), and a retry quota shared by
// every call of one client (500 tokens; a retry costs 5, a retry after a timeout 10; a call that
// succeeds after retrying returns its cost, a first-try success adds 1) so an outage does not turn
// into a retry storm. The caller decides what is retryable through `classify`; a server's
// Retry-After (Error::retry_after) raises the delay to at least what it asked.
//
//   http::RetryPolicy policy;                       // standard mode defaults
//   http::RetryQuota quota;                          // one per client
//   auto images = http::withRetries<Images>(policy, quota, clock, [&](int) { return call(); });
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::http {

enum class RetryClass { Permanent, Transient, Throttle, Timeout };

// The delay-seconds form of an HTTP Retry-After value ("7", " 1.5 "), rounded up to whole
// milliseconds; nullopt for the HTTP-date form, negative or non-finite values, more than a day,
// or anything else.
std::optional<std::chrono::milliseconds> parseRetryAfterSeconds(std::string_view value);

// Default classification from the canonical error code: Throttled -> Throttle,
// DeadlineExceeded -> Timeout, Unavailable -> Transient, anything else -> Permanent.
RetryClass classifyByCode(const Error& e);

struct RetryPolicy {
  int max_attempts = 3;
  Duration base_delay = std::chrono::seconds(1);
  Duration max_backoff = std::chrono::seconds(20);
  std::function<RetryClass(const Error&)> classify = classifyByCode;
  // Source of uniform numbers in [0, 1); tests pin it for exact schedules.
  std::function<double()> random;
};

class RetryQuota {
 public:
  explicit RetryQuota(int capacity = 500, int retry_cost = 5, int timeout_cost = 10,
                      int no_retry_increment = 1);

  // Takes the cost of one retry; false when the quota cannot pay for it.
  bool acquire(RetryClass cls, int* cost);
  // A call that succeeded after retrying returns what its last retry took.
  void release(int cost);
  // A call that succeeded on its first attempt.
  void onFirstTrySuccess();
  int available() const;

 private:
  mutable std::mutex mu_;
  int capacity_;
  int available_;
  int retry_cost_;
  int timeout_cost_;
  int no_retry_increment_;
};

// Drives attempts one by one; withRetries() is the usual entry point.
class Retrier {
 public:
  Retrier(const RetryPolicy& policy, RetryQuota& quota, Clock& clock);

  // After attempt `attempt` (1-based) failed with `e`: the delay before the next attempt, or
  // nullopt to give up (permanent error, attempts exhausted, or quota empty).
  std::optional<Duration> onFailure(const Error& e, int attempt);
  void onSuccess(int attempt);
  Clock& clock() { return clock_; }

 private:
  const RetryPolicy& policy_;
  RetryQuota& quota_;
  Clock& clock_;
  int last_cost_ = 0;
};

// Calls `call(attempt)` until it succeeds, fails permanently, or the policy gives up; sleeps on
// `clock` between attempts. The final error says how many attempts were made.
template <class T, class Fn>
[[nodiscard]] Result<T> withRetries(const RetryPolicy& policy, RetryQuota& quota, Clock& clock,
                                    Fn&& call) {
  Retrier retrier(policy, quota, clock);
  for (int attempt = 1;; ++attempt) {
    Result<T> result = call(attempt);
    if (result) {
      retrier.onSuccess(attempt);
      return result;
    }
    std::optional<Duration> delay = retrier.onFailure(result.error(), attempt);
    if (!delay.has_value()) {
      if (attempt > 1) {
        result.error().message += " (after " + std::to_string(attempt) + " attempts)";
      }
      return result;
    }
    clock.sleepFor(*delay);
  }
}

}  // namespace opsy::http

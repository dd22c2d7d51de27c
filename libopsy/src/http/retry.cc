#include "opsy/http/retry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>

#include "opsy/core/strings.h"

namespace opsy::http {
namespace {

double defaultRandom() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

}  // namespace

RetryClass classifyByCode(const Error& e) {
  switch (e.code) {
    case ErrorCode::Throttled: return RetryClass::Throttle;
    case ErrorCode::DeadlineExceeded: return RetryClass::Timeout;
    case ErrorCode::Unavailable: return RetryClass::Transient;
    default: return RetryClass::Permanent;
  }
}

RetryQuota::RetryQuota(int capacity, int retry_cost, int timeout_cost, int no_retry_increment)
    : capacity_(capacity),
      available_(capacity),
      retry_cost_(retry_cost),
      timeout_cost_(timeout_cost),
      no_retry_increment_(no_retry_increment) {}

bool RetryQuota::acquire(RetryClass cls, int* cost) {
  std::lock_guard lock(mu_);
  int c = cls == RetryClass::Timeout ? timeout_cost_ : retry_cost_;
  if (available_ < c) {
    return false;
  }
  available_ -= c;
  *cost = c;
  return true;
}

void RetryQuota::release(int cost) {
  std::lock_guard lock(mu_);
  available_ = std::min(capacity_, available_ + cost);
}

void RetryQuota::onFirstTrySuccess() {
  std::lock_guard lock(mu_);
  available_ = std::min(capacity_, available_ + no_retry_increment_);
}

int RetryQuota::available() const {
  std::lock_guard lock(mu_);
  return available_;
}

Retrier::Retrier(const RetryPolicy& policy, RetryQuota& quota, Clock& clock)
    : policy_(policy), quota_(quota), clock_(clock) {}

std::optional<Duration> Retrier::onFailure(const Error& e, int attempt) {
  RetryClass cls = policy_.classify ? policy_.classify(e) : classifyByCode(e);
  if (cls == RetryClass::Permanent || attempt >= policy_.max_attempts) {
    return std::nullopt;
  }
  int cost = 0;
  if (!quota_.acquire(cls, &cost)) {
    return std::nullopt;
  }
  last_cost_ = cost;
  // Full jitter: rand(0,1) * min(base * 2^(attempt-1), cap).
  double exp = static_cast<double>(policy_.base_delay.count()) *
               static_cast<double>(1LL << std::min(attempt - 1, 30));
  double capped = std::min(exp, static_cast<double>(policy_.max_backoff.count()));
  double r = policy_.random ? policy_.random() : defaultRandom();
  auto delay = Duration(static_cast<int64_t>(r * capped));
  if (e.retry_after.has_value()) {
    delay = std::max(delay, std::min(*e.retry_after, policy_.max_backoff));
  }
  return delay;
}

void Retrier::onSuccess(int attempt) {
  if (attempt == 1) {
    quota_.onFirstTrySuccess();
  } else {
    quota_.release(last_cost_);
  }
}

std::optional<std::chrono::milliseconds> parseRetryAfterSeconds(std::string_view value) {
  value = trimSpace(value);
  double seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  // A day is far beyond any real rate-limit window; larger values are treated as garbage.
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() ||
      !std::isfinite(seconds) || seconds < 0 || seconds > 86400) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(seconds * 1000)));
}

}  // namespace opsy::http

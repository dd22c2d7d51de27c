// File: fake_clock.h
//
// A Clock for deterministic tests. Time moves only when the test says so: advance() moves both
// the wall and the monotonic clock. In auto-advance mode (the default) sleepFor(d) advances time
// by d and returns at once, which suits single-threaded retry and backoff tests; with
// autoAdvance(false) sleepFor() blocks until another thread advances past the wake-up time,
// which suits tests of background threads (leader election, informers).
//
//   FakeClock clock(parseRfc3339("2026-01-01T00:00:00Z").value());
//   clock.advance(std::chrono::hours(49));
#pragma once

#include <condition_variable>
#include <mutex>

#include "opsy/core/clock.h"

namespace opsy {

class FakeClock : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::hours(24 * 365 * 56)));

  TimePoint now() const override;
  std::chrono::steady_clock::time_point steadyNow() const override;
  void sleepFor(Duration d) override;

  void advance(Duration d);
  void setNow(TimePoint t);  // moves wall time only; monotonic time never goes back
  void autoAdvance(bool on);
  // Total time requested through sleepFor(), so tests can assert on backoff schedules.
  Duration totalSlept() const;
  // Number of threads currently blocked in sleepFor() (only in non-auto mode).
  int sleepers() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  TimePoint wall_;
  Duration mono_{0};
  Duration slept_{0};
  bool auto_advance_ = true;
  int sleepers_ = 0;
};

}  // namespace opsy

// File: fake_clock.h
//
// A Clock for deterministic tests. Time moves only when the test says so: advance() moves both
// the wall and the monotonic clock. In auto-advance mode (the default) sleepFor(d) advances time
// by d and returns at once, which suits single-threaded retry and backoff tests; with
// autoAdvance(false) sleepFor() blocks until another thread advances past the wake-up time,
// which suits tests of background threads (leader election, informers): advanceAndSettle() moves
// time only once those threads are idle again, so no step races a thread that is still working.
//
//   FakeClock clock(parseRfc3339("2026-01-01T00:00:00Z").value());
//   clock.advance(std::chrono::hours(49));
#pragma once

#include <condition_variable>
#include <mutex>
#include <set>

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

  // Real time a test waits for background threads before calling it a hang: generous, so that
  // only a thread that never gets back to its sleep fails a test, however loaded the machine.
  static constexpr std::chrono::seconds kSettleTimeout{60};
  // Waits (in real time) until at least `n` threads are blocked in sleepFor() on a wake-up time
  // still ahead: every thread woken by an earlier advance() has done its work and gone back to
  // sleep. False on timeout.
  [[nodiscard]] bool waitForSleepers(int n,
                                     std::chrono::milliseconds timeout = kSettleTimeout) const;
  // advance(d), then waitForSleepers(n): one step of a test driving `n` sleeping threads, after
  // which every effect of the step is visible.
  [[nodiscard]] bool advanceAndSettle(Duration d, int n,
                                      std::chrono::milliseconds timeout = kSettleTimeout);

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  TimePoint wall_;
  Duration mono_{0};
  Duration slept_{0};
  bool auto_advance_ = true;
  // Monotonic wake-up time of each thread blocked in sleepFor().
  std::multiset<Duration> wakeups_;
};

}  // namespace opsy

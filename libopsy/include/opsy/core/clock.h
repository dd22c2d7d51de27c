// File: clock.h
//
// Time as a dependency. Code that needs "now" or needs to wait takes a Clock&, so tests can run a
// week of expiry logic or a retry storm in microseconds with FakeClock (fake_clock.h).
//
//   void Renewer::tick(Clock& clock) { if (clock.now() > deadline_) ... }
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace opsy {

using SystemClock = std::chrono::system_clock;
// Microseconds: the finest precision any wire format we speak carries (Kubernetes MicroTime).
using TimePoint = std::chrono::time_point<SystemClock, std::chrono::microseconds>;
using Duration = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, for timestamps written to AWS tags, statuses and signatures.
  virtual TimePoint now() const = 0;
  // Monotonic time, for measuring intervals (lease expiry, backoff, timeouts).
  virtual std::chrono::steady_clock::time_point steadyNow() const = 0;
  // Blocks the calling thread for `d` (a FakeClock advances instead, or waits to be advanced).
  virtual void sleepFor(Duration d) = 0;
  // Waits until `cv` is notified or `d` has passed, `lock` held on entry and on return (spurious
  // wake-ups allowed), so an idle thread sleeps until its next deadline and a new, earlier one
  // wakes it. A clock whose time is not the real one (FakeClock) cannot be woken by `cv`: it
  // releases the lock and sleepFor()s at most `slice`, so a caller that loops re-checks its state
  // at least every `slice` of the clock's time.
  virtual void waitFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, Duration d,
                       Duration slice);
};

using ClockPtr = std::shared_ptr<Clock>;

// The process-wide real clock.
Clock& realClock();
ClockPtr realClockPtr();

}  // namespace opsy

// File: clock.h
//
// Time as a dependency. Code that needs "now" or needs to wait takes a Clock&, so tests can run a
// week of expiry logic or a retry storm in microseconds with FakeClock (fake_clock.h).
//
//   void Renewer::tick(Clock& clock) { if (clock.now() > deadline_) ... }
#pragma once

#include <chrono>
#include <memory>

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
};

using ClockPtr = std::shared_ptr<Clock>;

// The process-wide real clock.
Clock& realClock();
ClockPtr realClockPtr();

}  // namespace opsy

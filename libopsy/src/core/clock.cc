#include <algorithm>
#include <iterator>
#include <thread>

#include "opsy/core/clock.h"
#include "opsy/core/fake_clock.h"

namespace opsy {
namespace {

class RealClock : public Clock {
 public:
  TimePoint now() const override {
    return std::chrono::time_point_cast<std::chrono::microseconds>(SystemClock::now());
  }
  std::chrono::steady_clock::time_point steadyNow() const override {
    return std::chrono::steady_clock::now();
  }
  void sleepFor(Duration d) override { std::this_thread::sleep_for(d); }
  void waitFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, Duration d,
               Duration /*slice*/) override {
    cv.wait_for(lock, d);
  }
};

}  // namespace

void Clock::waitFor(std::condition_variable& /*cv*/, std::unique_lock<std::mutex>& lock, Duration d,
                    Duration slice) {
  lock.unlock();
  sleepFor(std::min(d, slice));
  lock.lock();
}

ClockPtr realClockPtr() {
  static const ClockPtr clock = std::make_shared<RealClock>();
  return clock;
}

Clock& realClock() {
  return *realClockPtr();
}

FakeClock::FakeClock(TimePoint start) : wall_(start) {}

TimePoint FakeClock::now() const {
  std::lock_guard lock(mu_);
  return wall_;
}

std::chrono::steady_clock::time_point FakeClock::steadyNow() const {
  std::lock_guard lock(mu_);
  return std::chrono::steady_clock::time_point(mono_);
}

void FakeClock::sleepFor(Duration d) {
  std::unique_lock lock(mu_);
  slept_ += d;
  if (auto_advance_) {
    wall_ += d;
    mono_ += d;
    cv_.notify_all();
    return;
  }
  const Duration wake = mono_ + d;
  auto entry = wakeups_.insert(wake);
  cv_.notify_all();
  cv_.wait(lock, [&] { return mono_ >= wake || auto_advance_; });
  wakeups_.erase(entry);
}

void FakeClock::advance(Duration d) {
  std::lock_guard lock(mu_);
  wall_ += d;
  mono_ += d;
  cv_.notify_all();
}

void FakeClock::setNow(TimePoint t) {
  std::lock_guard lock(mu_);
  wall_ = t;
  cv_.notify_all();
}

void FakeClock::autoAdvance(bool on) {
  std::lock_guard lock(mu_);
  auto_advance_ = on;
  cv_.notify_all();
}

Duration FakeClock::totalSlept() const {
  std::lock_guard lock(mu_);
  return slept_;
}

int FakeClock::sleepers() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(wakeups_.size());
}

bool FakeClock::waitForSleepers(int n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  // A sleeper whose wake-up time has come is still in wakeups_ until its thread runs again; only
  // the ones still waiting for the future count as idle.
  return cv_.wait_for(lock, timeout, [&] {
    return std::distance(wakeups_.upper_bound(mono_), wakeups_.end()) >= n;
  });
}

bool FakeClock::advanceAndSettle(Duration d, int n, std::chrono::milliseconds timeout) {
  advance(d);
  return waitForSleepers(n, timeout);
}

}  // namespace opsy

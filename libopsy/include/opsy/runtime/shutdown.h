// File: shutdown.h
//
// Graceful stop for a controller process. Shutdown is a one-way latch that every long-running
// part (workers, informers, the leader elector, the probe server) watches; SignalHandler turns the
// first SIGTERM or SIGINT into a request on it, and a second signal into an immediate exit, which
// is what an operator pressing Ctrl-C twice expects.
//
//   Shutdown shutdown;
//   SignalHandler signals(shutdown);    // before any other thread starts
//   shutdown.waitFor(std::chrono::seconds(1));
#pragma once

#include <signal.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "opsy/core/clock.h"

namespace opsy::runtime {

class Shutdown {
 public:
  // Idempotent; `reason` is kept from the first call.
  void request(std::string reason);
  bool requested() const;
  std::string reason() const;
  // Blocks until requested.
  void wait() const;
  // Blocks until requested or `timeout` passed; true when requested.
  bool waitFor(Duration timeout) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool requested_ = false;
  std::string reason_;
};

class SignalHandler {
 public:
  // Blocks SIGTERM and SIGINT in the calling thread (and so in every thread it starts later) and
  // waits for them on a dedicated thread.
  explicit SignalHandler(Shutdown& shutdown);
  ~SignalHandler();
  SignalHandler(const SignalHandler&) = delete;
  SignalHandler& operator=(const SignalHandler&) = delete;

 private:
  Shutdown& shutdown_;
  sigset_t previous_mask_;
  std::thread thread_;
};

}  // namespace opsy::runtime

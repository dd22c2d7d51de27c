#include "opsy/runtime/shutdown.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "opsy/core/log.h"

namespace opsy::runtime {
namespace {

sigset_t stopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // Used only to wake the waiting thread when the handler is destroyed.
  sigaddset(&set, SIGUSR2);
  return set;
}

}  // namespace

void Shutdown::request(std::string reason) {
  {
    std::lock_guard lock(mu_);
    if (requested_) {
      return;
    }
    requested_ = true;
    reason_ = std::move(reason);
  }
  cv_.notify_all();
}

bool Shutdown::requested() const {
  std::lock_guard lock(mu_);
  return requested_;
}

std::string Shutdown::reason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

void Shutdown::wait() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return requested_; });
}

bool Shutdown::waitFor(Duration timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requested_; });
}

SignalHandler::SignalHandler(Shutdown& shutdown) : shutdown_(shutdown) {
  sigset_t set = stopSignals();
  pthread_sigmask(SIG_BLOCK, &set, &previous_mask_);
  thread_ = std::thread([this, set] {
    int count = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) {
        continue;
      }
      if (sig == SIGUSR2) {
        return;
      }
      ++count;
      if (count == 1) {
        log::get("runtime").info("stop requested", log::kv("signal", strsignal(sig)));
        shutdown_.request(std::string("signal ") + strsignal(sig));
      } else {
        // A second signal: the user wants out now, whatever is in flight.
        log::get("runtime").warn("second signal, exiting now", log::kv("signal", strsignal(sig)));
        std::_Exit(1);
      }
    }
  });
}

SignalHandler::~SignalHandler() {
  pthread_kill(thread_.native_handle(), SIGUSR2);
  thread_.join();
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

}  // namespace opsy::runtime

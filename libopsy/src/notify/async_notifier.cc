#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "opsy/core/log.h"
#include "opsy/notify/notifier.h"

namespace opsy::notify {
namespace {

constexpr std::size_t kMaxTitleBytes = 256;
constexpr std::size_t kMaxMessageBytes = 4096;
constexpr std::size_t kMaxFieldBytes = 1024;

}  // namespace

struct AsyncNotifier::Impl {
  SenderPtr sender;
  Clock& clock;
  AsyncNotifierOptions options;
  http::RetryQuota quota;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Notification> queue;
  bool stopping = false;
  std::chrono::steady_clock::time_point drain_deadline;
  bool busy = false;
  uint64_t sent = 0;
  uint64_t failed = 0;
  uint64_t dropped = 0;
  std::thread worker;
  std::mt19937_64 ids{std::random_device{}()};

  // 128 random bits as hex; not a secret, only unique enough to deduplicate retries.
  std::string nextId() { return fmt::format("{:016x}{:016x}", ids(), ids()); }

  Impl(SenderPtr s, Clock& c, AsyncNotifierOptions o)
      : sender(std::move(s)), clock(c), options(std::move(o)) {}

  void run() {
    auto logger = log::get("notify");
    while (true) {
      Notification n;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) {
          return;  // stopping and drained
        }
        if (stopping && clock.steadyNow() >= drain_deadline) {
          size_t left = queue.size();
          dropped += left;
          queue.clear();
          lock.unlock();
          logger.warn("notifications dropped at shutdown",
                      log::kv("sender", sender->name(), "count", left));
          for (size_t i = 0; options.observer && i < left; ++i) {
            options.observer(sender->name(), Delivery::Dropped);
          }
          cv.notify_all();
          return;
        }
        n = std::move(queue.front());
        queue.pop_front();
        busy = true;
      }
      Status status = http::withRetries<void>(options.retry, quota, clock,
                                              [&](int) { return sender->send(n); });
      {
        std::lock_guard lock(mu);
        busy = false;
        if (status) {
          ++sent;
        } else {
          ++failed;
        }
      }
      if (options.observer) {
        options.observer(sender->name(), status ? Delivery::Sent : Delivery::Failed);
      }
      if (!status) {
        logger.warn("notification not delivered",
                    log::kv("sender", sender->name(), "object", n.object, "title", n.title, "error",
                            status.error().toString()));
      }
      cv.notify_all();
    }
  }
};

AsyncNotifier::AsyncNotifier(SenderPtr sender, Clock& clock, AsyncNotifierOptions options)
    : impl_(std::make_unique<Impl>(std::move(sender), clock, std::move(options))) {
  impl_->worker = std::thread([this] { impl_->run(); });
}

AsyncNotifier::~AsyncNotifier() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->drain_deadline = impl_->clock.steadyNow() + impl_->options.drain_timeout;
  }
  impl_->cv.notify_all();
  impl_->worker.join();
}

std::string_view toString(Delivery d) {
  switch (d) {
    case Delivery::Sent: return "sent";
    case Delivery::Failed: return "failed";
    case Delivery::Dropped: return "dropped";
  }
  return "failed";
}

void AsyncNotifier::notify(Notification n) {
  // What a notification says comes from statuses and services' errors: masked like a log line and
  // bounded before it leaves the process (each destination has its own, smaller, limits too).
  n.title = log::scrubBounded(n.title, kMaxTitleBytes);
  n.message = log::scrubBounded(n.message, kMaxMessageBytes);
  for (auto& [name, value] : n.fields) {
    value = log::scrubBounded(value, kMaxFieldBytes);
  }
  bool dropped = false;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->queue.size() >= impl_->options.max_queue) {
      ++impl_->dropped;
      dropped = true;
    } else {
      if (n.id.empty()) {
        n.id = impl_->nextId();
      }
      if (!n.time) {
        n.time = impl_->clock.now();
      }
      impl_->queue.push_back(std::move(n));
    }
  }
  if (dropped) {
    if (impl_->options.observer) {
      impl_->options.observer(impl_->sender->name(), Delivery::Dropped);
    }
    return;
  }
  impl_->cv.notify_all();
}

void AsyncNotifier::flush() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->queue.empty() && !impl_->busy; });
}

uint64_t AsyncNotifier::sent() const {
  std::lock_guard lock(impl_->mu);
  return impl_->sent;
}
uint64_t AsyncNotifier::failed() const {
  std::lock_guard lock(impl_->mu);
  return impl_->failed;
}
uint64_t AsyncNotifier::dropped() const {
  std::lock_guard lock(impl_->mu);
  return impl_->dropped;
}

}  // namespace opsy::notify

// File: notifier.h
//
// How the controllers tell people what happened (build started, succeeded, failed, stalled, image
// adopted; rollout started, group failed, rollout finished). A Sender delivers one notification
// synchronously (Slack, and later SNS, SES, Discord, webhooks); AsyncNotifier queues
// notifications and sends them from a background thread with retries, so a slow or failing
// destination never blocks or fails a reconcile.
//
//   auto notifier = std::make_shared<AsyncNotifier>(std::move(slack_sender), clock);
//   notifier->notify({.title = "Build succeeded", .object = "ci/base", ...});
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/http/retry.h"

namespace opsy::notify {

enum class Severity { Info, Success, Warning, Error };

struct Notification {
  std::string title;   // "Build succeeded"
  std::string kind;    // "PackerBuilder"
  std::string object;  // "namespace/name"
  std::string state;   // the resource's state after the transition
  Severity severity = Severity::Info;
  std::vector<std::pair<std::string, std::string>> fields;  // {"Base AMI", "ami-…"}
  std::string message;                                      // one or two sentences for a person
  // Set by AsyncNotifier::notify when empty: the same on every retry of one notification, so a
  // receiver can drop duplicates (webhook X-Opsy-Delivery header) and order by time.
  std::string id;
  std::optional<TimePoint> time;
};

class Sender {
 public:
  virtual ~Sender() = default;
  /** A short name for logs and metrics ("slack"). */
  virtual std::string name() const = 0;
  /**
   * Delivers `n` once. Throttling must come back as ErrorCode::Throttled with retry_after set
   * when the destination said how long to wait; other retryable failures as Unavailable.
   */
  [[nodiscard]] virtual Status send(const Notification& n) = 0;
};

using SenderPtr = std::unique_ptr<Sender>;

class Notifier {
 public:
  virtual ~Notifier() = default;
  /** Queues `n` for delivery and returns at once; never fails. */
  virtual void notify(Notification n) = 0;
};

using NotifierPtr = std::shared_ptr<Notifier>;

// What became of one queued notification, for metrics.
enum class Delivery { Sent, Failed, Dropped };
std::string_view toString(Delivery d);  // "sent", "failed", "dropped"

struct AsyncNotifierOptions {
  size_t max_queue = 256;   // beyond this, new notifications are dropped (and counted)
  http::RetryPolicy retry;  // defaults: 3 attempts, jittered backoff; Retry-After honoured
  // Called once per notification with its outcome and the sender's name; may be empty.
  std::function<void(std::string_view sender, Delivery outcome)> observer;
  // On destruction, how long queued notifications may still be tried before the rest are
  // dropped, so a dead destination cannot hold a stopping controller past its grace period.
  Duration drain_timeout = std::chrono::seconds(10);
};

class AsyncNotifier : public Notifier {
 public:
  AsyncNotifier(SenderPtr sender, Clock& clock, AsyncNotifierOptions options = {});
  // Delivers what is queued (for at most drain_timeout, then drops the rest), then stops.
  ~AsyncNotifier() override;
  AsyncNotifier(const AsyncNotifier&) = delete;
  AsyncNotifier& operator=(const AsyncNotifier&) = delete;

  void notify(Notification n) override;

  // Blocks until the queue is empty and nothing is being sent (tests, graceful shutdown).
  void flush();
  uint64_t sent() const;
  uint64_t failed() const;
  uint64_t dropped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opsy::notify

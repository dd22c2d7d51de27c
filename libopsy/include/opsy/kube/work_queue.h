// File: work_queue.h
//
// The queue between watch events and reconcile workers, keyed by "namespace/name". It follows
// client-go's rate-limited delaying queue: a key queued twice is processed once, a key is never
// handed to two workers at once (re-adding it while it is processed queues it again after done()),
// addAfter() schedules a requeue (the earlier deadline wins), and addRateLimited() retries with
// per-key exponential backoff capped by an overall token bucket. runWorkers() maps a reconcile
// outcome onto these calls the way controller-runtime does.
//
//   WorkQueue queue(clock, {.name = "packer-builder"});
//   auto workers = runWorkers(queue, 2, [&](const std::string& key) { return reconcile(key); });
//   ...; queue.shutDownWithDrain(); workers.join();
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/error.h"
#include "opsy/core/token_bucket.h"

namespace opsy::kube {

// Observation hooks, so the runtime can bind Prometheus (workqueue_depth, _adds_total,
// _queue_duration_seconds, _work_duration_seconds, _retries_total,
// _unfinished_work_seconds, _longest_running_processor_seconds) without this layer knowing it.
// Calls come from the queue's threads and must not block or call back into the queue.
class WorkQueueMetrics {
 public:
  virtual ~WorkQueueMetrics() = default;
  /** Number of keys ready to be handed to a worker. */
  virtual void setDepth(std::int64_t depth) = 0;
  /** A key was added (de-duplicated adds are not counted). */
  virtual void onAdd() = 0;
  /** Seconds a key waited in the queue between add and get. */
  virtual void observeQueueLatency(double seconds) = 0;
  /** Seconds a worker spent between get and done. */
  virtual void observeWorkDuration(double seconds) = 0;
  /** A rate-limited retry was scheduled. */
  virtual void onRetry() = 0;
  /** Sum of the running times of every key being processed, and the longest of them. */
  virtual void setUnfinishedWork(double total_seconds, double longest_seconds) = 0;
};

using WorkQueueMetricsPtr = std::shared_ptr<WorkQueueMetrics>;

// The default: observes nothing.
WorkQueueMetricsPtr noopWorkQueueMetrics();

struct WorkQueueOptions {
  std::string name = "default";
  // Per-key backoff: base * 2^failures, capped (client-go's default 5 ms .. 1000 s).
  Duration base_delay = std::chrono::milliseconds(5);
  Duration max_delay = std::chrono::seconds(1000);
  // Overall retry pacing, shared by all keys (client-go's default 10 qps, burst 100).
  double qps = 10;
  int burst = 100;
  WorkQueueMetricsPtr metrics;
  // A background thread moves delayed keys to the ready queue and refreshes the unfinished-work
  // metrics. With the real clock it sleeps until the next deadline (an earlier addAfter() wakes
  // it), so an idle queue costs no wake-ups; other clocks cannot be woken early, so it sleeps in
  // slices of `timer_resolution` of their time. Tests can turn the thread off and rely on get()
  // and processDueForTest(), which also move due keys. With a FakeClock, keep the thread only in
  // autoAdvance(false) mode (else its sleeps push time forward), and switch auto-advance back on
  // before destroying the queue so the sleeping thread returns.
  bool timer_thread = true;
  Duration timer_resolution = std::chrono::milliseconds(10);
  // requeueAfter outcomes are spread by up to this fraction either way, so keys reconciled
  // together (a restart, a shared lookup) do not come back together every period.
  double requeue_jitter = 0.1;
  std::uint64_t jitter_seed = 0;  // 0: seeded from std::random_device
};

class WorkQueue {
 public:
  WorkQueue(Clock& clock, WorkQueueOptions options = {});
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `key` unless it is already queued; while it is being processed, it is queued again
  // when the worker calls done(). Ignored after shutdown.
  void add(const std::string& key);
  // Adds `key` once `delay` has passed; if it is already waiting, the earlier deadline wins.
  void addAfter(const std::string& key, Duration delay);
  // Adds `key` after its backoff: max(per-key exponential delay, overall token-bucket wait).
  void addRateLimited(const std::string& key);
  // Clears the backoff of `key` (after a success, or when giving up on it).
  void forget(const std::string& key);
  // How many rate-limited retries `key` has had since it was last forgotten.
  int numRequeues(const std::string& key) const;
  // The delay addRateLimited() would choose now, spending the backoff step and a token.
  Duration when(const std::string& key);
  // `delay` spread uniformly by ±requeue_jitter (what a requeueAfter outcome waits).
  Duration jittered(Duration delay);

  // Blocks until a key is ready and marks it as being processed; nullopt once shut down (keys
  // still queued then are not handed out: reconciles are level-based and run again on restart).
  std::optional<std::string> get();
  // The worker finished `key`; every get() must be paired with exactly one done().
  void done(const std::string& key);

  // Stops handing out keys and refuses new ones; returns at once.
  void shutDown();
  // shutDown(), then waits until every key handed out has been done().
  void shutDownWithDrain();
  bool shuttingDown() const;

  // Keys ready for a worker (not counting delayed or in-flight keys).
  std::size_t len() const;
  std::size_t numWaiting() const;
  std::size_t numProcessing() const;

  // Moves keys whose delay has passed to the ready queue (what the timer thread does).
  void processDueForTest();
  // Pushes the unfinished-work and longest-running-processor values to the metrics.
  void updateUnfinishedWorkMetrics();

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  void addLocked(const std::string& key, SteadyTime now);
  void processDueLocked(SteadyTime now);
  // Pushes the unfinished-work metrics; true while some key is being processed.
  bool refreshUnfinishedWorkLocked(SteadyTime now);
  void timerLoop();

  Clock& clock_;
  WorkQueueOptions options_;
  WorkQueueMetricsPtr metrics_;
  TokenBucket bucket_;

  mutable std::mutex mu_;
  std::condition_variable cv_;        // get() waiters
  std::condition_variable drain_cv_;  // shutDownWithDrain() waiter
  std::condition_variable timer_cv_;  // an earlier deadline, work started, or shutdown
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;
  std::unordered_map<std::string, SteadyTime> queued_at_;
  std::unordered_map<std::string, SteadyTime> processing_;
  std::set<std::pair<SteadyTime, std::string>> waiting_;
  std::unordered_map<std::string, SteadyTime> waiting_deadline_;
  std::unordered_map<std::string, int> failures_;
  bool shutting_down_ = false;
  std::mt19937_64 jitter_rng_;
  std::thread timer_;
};

// What a reconcile asks the queue to do next, mapped like controller-runtime: success forgets
// the key's backoff; an error retries with backoff; a terminal error forgets without retrying;
// requeue_after forgets the backoff and schedules the key after the delay (jittered).
struct WorkOutcome {
  enum class Kind { Success, Error, Terminal, RequeueAfter };
  Kind kind = Kind::Success;
  Duration requeue_after{0};
  std::optional<Error> error;

  static WorkOutcome success() { return {}; }
  static WorkOutcome failed(Error e) { return {Kind::Error, Duration{0}, std::move(e)}; }
  static WorkOutcome terminal(Error e) { return {Kind::Terminal, Duration{0}, std::move(e)}; }
  static WorkOutcome requeueAfter(Duration d) { return {Kind::RequeueAfter, d, std::nullopt}; }
};

using WorkFn = std::function<WorkOutcome(const std::string& key)>;

// Applies `outcome` for `key` to the queue (forget / addRateLimited / addAfter). done() is the
// caller's job. Exposed so a single-threaded test can drive the same mapping the workers use.
void applyOutcome(WorkQueue& queue, const std::string& key, const WorkOutcome& outcome);

// N threads, each looping get() -> fn(key) -> applyOutcome -> done() until the queue shuts down.
class WorkerGroup {
 public:
  WorkerGroup() = default;
  explicit WorkerGroup(std::vector<std::thread> threads) : threads_(std::move(threads)) {}
  WorkerGroup(WorkerGroup&&) = default;
  WorkerGroup& operator=(WorkerGroup&&) = default;
  ~WorkerGroup();
  // Waits for every worker to exit (they exit once the queue is shut down).
  void join();

 private:
  std::vector<std::thread> threads_;
};

// Logs nothing: `fn` owns the one log line per failed reconcile (the manager's wrapper writes it).
[[nodiscard]] WorkerGroup runWorkers(WorkQueue& queue, int workers, const WorkFn& fn);

}  // namespace opsy::kube

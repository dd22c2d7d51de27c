#include "opsy/kube/work_queue.h"

#include <algorithm>
#include <cmath>
#include <exception>

namespace opsy::kube {
namespace {

class NoopWorkQueueMetrics : public WorkQueueMetrics {
 public:
  void setDepth(std::int64_t) override {}
  void onAdd() override {}
  void observeQueueLatency(double) override {}
  void observeWorkDuration(double) override {}
  void onRetry() override {}
  void setUnfinishedWork(double, double) override {}
};

double secondsBetween(std::chrono::steady_clock::time_point from,
                      std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// The unfinished-work metrics are refreshed this often by the timer thread (client-go: 500 ms).
constexpr Duration kUnfinishedWorkPeriod = std::chrono::milliseconds(500);
// With nothing waiting the timer thread still looks once a minute: a bound on the cost of a
// missed wake-up, not something the queue relies on.
constexpr Duration kLongestIdleWait = std::chrono::seconds(60);

}  // namespace

WorkQueueMetricsPtr noopWorkQueueMetrics() {
  static const WorkQueueMetricsPtr metrics = std::make_shared<NoopWorkQueueMetrics>();
  return metrics;
}

WorkQueue::WorkQueue(Clock& clock, WorkQueueOptions options)
    : clock_(clock),
      options_(std::move(options)),
      metrics_(options_.metrics ? options_.metrics : noopWorkQueueMetrics()),
      bucket_(clock, options_.qps, options_.burst),
      jitter_rng_(options_.jitter_seed != 0 ? options_.jitter_seed : std::random_device{}()) {
  if (options_.timer_thread) {
    timer_ = std::thread([this] { timerLoop(); });
  }
}

WorkQueue::~WorkQueue() {
  shutDown();
  if (timer_.joinable()) {
    timer_.join();
  }
}

void WorkQueue::addLocked(const std::string& key, SteadyTime now) {
  if (shutting_down_ || dirty_.count(key) > 0) {
    return;
  }
  metrics_->onAdd();
  dirty_.insert(key);
  if (processing_.count(key) > 0) {
    return;  // done() queues it again
  }
  queue_.push_back(key);
  queued_at_[key] = now;
  metrics_->setDepth(static_cast<std::int64_t>(queue_.size()));
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  addLocked(key, clock_.steadyNow());
}

void WorkQueue::addAfter(const std::string& key, Duration delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) {
    return;
  }
  const SteadyTime now = clock_.steadyNow();
  if (delay <= Duration::zero()) {
    addLocked(key, now);
    return;
  }
  const SteadyTime deadline = now + delay;
  auto it = waiting_deadline_.find(key);
  if (it != waiting_deadline_.end()) {
    if (it->second <= deadline) {
      return;
    }
    waiting_.erase({it->second, key});
    it->second = deadline;
  } else {
    waiting_deadline_.emplace(key, deadline);
  }
  const bool earliest = waiting_.empty() || deadline < waiting_.begin()->first;
  waiting_.emplace(deadline, key);
  if (earliest) {
    timer_cv_.notify_one();
  }
}

Duration WorkQueue::jittered(Duration delay) {
  if (options_.requeue_jitter <= 0 || delay <= Duration::zero()) {
    return delay;
  }
  std::uniform_real_distribution<double> spread(-options_.requeue_jitter, options_.requeue_jitter);
  double factor;
  {
    std::lock_guard lock(mu_);
    factor = 1.0 + spread(jitter_rng_);
  }
  return std::max(
      Duration(1),
      Duration(static_cast<Duration::rep>(static_cast<double>(delay.count()) * factor)));
}

Duration WorkQueue::when(const std::string& key) {
  int failures = 0;
  {
    std::lock_guard lock(mu_);
    failures = failures_[key]++;
  }
  // base * 2^failures in floating point, so a long failure streak saturates instead of overflowing.
  const double backoff_ms =
      static_cast<double>(options_.base_delay.count()) * std::pow(2.0, std::min(failures, 62));
  const Duration backoff = backoff_ms >= static_cast<double>(options_.max_delay.count())
                               ? options_.max_delay
                               : Duration(static_cast<Duration::rep>(backoff_ms));
  return std::max(backoff, bucket_.reserve());
}

void WorkQueue::addRateLimited(const std::string& key) {
  const Duration delay = when(key);
  metrics_->onRetry();
  addAfter(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int WorkQueue::numRequeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::processDueLocked(SteadyTime now) {
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    std::string key = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    waiting_deadline_.erase(key);
    addLocked(key, now);
  }
}

void WorkQueue::processDueForTest() {
  std::lock_guard lock(mu_);
  processDueLocked(clock_.steadyNow());
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (shutting_down_) {
      return std::nullopt;
    }
    const SteadyTime now = clock_.steadyNow();
    processDueLocked(now);
    if (!queue_.empty()) {
      std::string key = std::move(queue_.front());
      queue_.pop_front();
      metrics_->setDepth(static_cast<std::int64_t>(queue_.size()));
      auto queued = queued_at_.find(key);
      if (queued != queued_at_.end()) {
        metrics_->observeQueueLatency(secondsBetween(queued->second, now));
        queued_at_.erase(queued);
      }
      dirty_.erase(key);
      if (processing_.empty()) {
        timer_cv_.notify_one();  // the unfinished-work metrics need refreshing again
      }
      processing_[key] = now;
      return key;
    }
    cv_.wait(lock);
  }
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = processing_.find(key);
  if (it == processing_.end()) {
    return;
  }
  const SteadyTime now = clock_.steadyNow();
  metrics_->observeWorkDuration(secondsBetween(it->second, now));
  processing_.erase(it);
  if (dirty_.count(key) > 0 && !shutting_down_) {
    queue_.push_back(key);
    queued_at_[key] = now;
    metrics_->setDepth(static_cast<std::int64_t>(queue_.size()));
    cv_.notify_one();
  }
  if (processing_.empty()) {
    drain_cv_.notify_all();
  }
}

void WorkQueue::shutDown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  timer_cv_.notify_all();
  cv_.notify_all();
  drain_cv_.notify_all();
}

void WorkQueue::shutDownWithDrain() {
  std::unique_lock lock(mu_);
  shutting_down_ = true;
  timer_cv_.notify_all();
  cv_.notify_all();
  drain_cv_.wait(lock, [&] { return processing_.empty(); });
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

std::size_t WorkQueue::len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t WorkQueue::numWaiting() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

std::size_t WorkQueue::numProcessing() const {
  std::lock_guard lock(mu_);
  return processing_.size();
}

void WorkQueue::updateUnfinishedWorkMetrics() {
  std::lock_guard lock(mu_);
  (void)refreshUnfinishedWorkLocked(clock_.steadyNow());
}

bool WorkQueue::refreshUnfinishedWorkLocked(SteadyTime now) {
  double total = 0;
  double longest = 0;
  for (const auto& [key, started] : processing_) {
    const double s = secondsBetween(started, now);
    total += s;
    longest = std::max(longest, s);
  }
  metrics_->setUnfinishedWork(total, longest);
  return !processing_.empty();
}

void WorkQueue::timerLoop() {
  SteadyTime next_metrics = clock_.steadyNow();
  // After a refresh that found nothing in progress the metrics read 0 until work starts again
  // (get() wakes this thread then), so an idle queue does not refresh them.
  bool work_in_progress = true;
  std::unique_lock lock(mu_);
  while (!shutting_down_) {
    const SteadyTime now = clock_.steadyNow();
    processDueLocked(now);
    if (!processing_.empty()) {
      work_in_progress = true;
    }
    if (work_in_progress && now >= next_metrics) {
      work_in_progress = refreshUnfinishedWorkLocked(now);
      next_metrics = now + kUnfinishedWorkPeriod;
    }
    // Rounded up: waking a fraction of a millisecond early would spin until the deadline.
    auto until = [&](SteadyTime t) {
      return std::max(Duration(1), std::chrono::ceil<Duration>(t - now));
    };
    Duration wait = kLongestIdleWait;
    if (!waiting_.empty()) {
      wait = std::min(wait, until(waiting_.begin()->first));
    }
    if (work_in_progress) {
      wait = std::min(wait, until(next_metrics));
    }
    clock_.waitFor(timer_cv_, lock, wait, options_.timer_resolution);
  }
}

void applyOutcome(WorkQueue& queue, const std::string& key, const WorkOutcome& outcome) {
  switch (outcome.kind) {
    case WorkOutcome::Kind::Success:
    case WorkOutcome::Kind::Terminal: queue.forget(key); return;
    case WorkOutcome::Kind::Error: queue.addRateLimited(key); return;
    case WorkOutcome::Kind::RequeueAfter:
      queue.forget(key);
      queue.addAfter(key, queue.jittered(outcome.requeue_after));
      return;
  }
}

WorkerGroup::~WorkerGroup() {
  join();
}

void WorkerGroup::join() {
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

WorkerGroup runWorkers(WorkQueue& queue, int workers, const WorkFn& fn) {
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(std::max(workers, 0)));
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&queue, fn] {
      while (auto key = queue.get()) {
        WorkOutcome outcome;
        try {
          outcome = fn(*key);
        } catch (const std::exception& e) {
          outcome = WorkOutcome::failed(Error(ErrorCode::Internal, e.what()));
        } catch (...) {
          outcome = WorkOutcome::failed(Error(ErrorCode::Internal, "unknown exception"));
        }
        applyOutcome(queue, *key, outcome);
        queue.done(*key);
      }
    });
  }
  return WorkerGroup(std::move(threads));
}

}  // namespace opsy::kube

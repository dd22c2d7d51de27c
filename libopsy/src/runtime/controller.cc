#include "opsy/runtime/controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <random>

#include "opsy/controller/failure.h"
#include "opsy/core/duration.h"
#include "opsy/core/log.h"
#include "runtime/controller_internal.h"

namespace opsy::runtime {
namespace {

log::Logger logger() {
  return log::get("runtime");
}

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string apiGroupOf(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? "" : std::string(api_version.substr(0, slash));
}

// A short id that ties the log lines of one reconcile together. Stepping by the golden-ratio
// constant keeps consecutive ids visibly different.
std::string nextReconcileId() {
  static std::atomic<std::uint32_t> next{std::random_device{}()};
  return fmt::format("{:08x}", next.fetch_add(0x9E3779B9U, std::memory_order_relaxed));
}

class QueueMetricsAdapter : public kube::WorkQueueMetrics {
 public:
  QueueMetricsAdapter(Metrics& metrics, std::string queue)
      : metrics_(metrics), queue_(std::move(queue)) {}
  void setDepth(std::int64_t depth) override { metrics_.queueDepth(queue_, depth); }
  void onAdd() override { metrics_.queueAdd(queue_); }
  void observeQueueLatency(double s) override { metrics_.queueLatency(queue_, toDuration(s)); }
  void observeWorkDuration(double s) override { metrics_.queueWorkDuration(queue_, toDuration(s)); }
  void onRetry() override { metrics_.queueRetry(queue_); }
  void setUnfinishedWork(double, double) override {}

 private:
  static Duration toDuration(double s) {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
  }
  Metrics& metrics_;
  std::string queue_;
};

}  // namespace

ReconcileResult resultOf(const kube::WorkOutcome& outcome) {
  switch (outcome.kind) {
    case kube::WorkOutcome::Kind::Success: return ReconcileResult::Success;
    case kube::WorkOutcome::Kind::Error: return ReconcileResult::Error;
    case kube::WorkOutcome::Kind::Terminal: return ReconcileResult::Terminal;
    case kube::WorkOutcome::Kind::RequeueAfter: return ReconcileResult::RequeueAfter;
  }
  return ReconcileResult::Error;
}

kube::WorkFn instrumentReconcile(std::string controller, ReconcileFn fn, Metrics& metrics,
                                 Clock& clock) {
  auto out = log::get("controller." + controller);
  return [name = std::move(controller), fn = std::move(fn), &metrics, &clock,
          out](const std::string& key) {
    const std::string id = nextReconcileId();
    const auto started = clock.steadyNow();
    kube::WorkOutcome outcome;
    try {
      outcome = fn(key);
    } catch (const std::exception& e) {
      outcome = kube::WorkOutcome::failed(
          Error(ErrorCode::Internal, std::string("reconcile threw: ") + e.what()));
    } catch (...) {
      outcome = kube::WorkOutcome::failed(Error(ErrorCode::Internal, "reconcile threw"));
    }
    const auto elapsed = std::chrono::duration_cast<Duration>(clock.steadyNow() - started);
    const ReconcileResult result = resultOf(outcome);
    const std::string reason =
        outcome.error ? controller::describeFailure(*outcome.error, {}).reason : "";
    metrics.reconcileDone(result, elapsed, reason);
    const std::string error_text = outcome.error ? outcome.error->toString() : "";
    switch (result) {
      case ReconcileResult::Error:
        out.error("reconcile failed",
                  log::kv("controller", name, "object", key, "reconcile_id", id, "reason", reason,
                          "error", error_text, "duration_s", seconds(elapsed)));
        break;
      case ReconcileResult::Terminal:
        out.error("reconcile failed terminally",
                  log::kv("controller", name, "object", key, "reconcile_id", id, "error",
                          error_text, "duration_s", seconds(elapsed)));
        break;
      case ReconcileResult::RequeueAfter:
        out.debug("reconcile done", log::kv("controller", name, "object", key, "reconcile_id", id,
                                            "result", toString(result), "requeue_after",
                                            formatDuration(outcome.requeue_after)));
        break;
      case ReconcileResult::Success:
        out.debug("reconcile done", log::kv("controller", name, "object", key, "reconcile_id", id,
                                            "result", toString(result)));
        break;
    }
    return outcome;
  };
}

kube::WorkQueueMetricsPtr queueMetrics(Metrics& metrics, std::string queue) {
  return std::make_shared<QueueMetricsAdapter>(metrics, std::move(queue));
}

OwnerMapper controllerOwnerOf(const kube::Resource& owner) {
  return [owner](const kube::Object& owned) -> std::optional<std::string> {
    for (const auto& ref : owned.metadata.owner_references) {
      if (ref.controller && ref.kind == owner.kind && apiGroupOf(ref.api_version) == owner.group) {
        return kube::objectKey(owner.namespaced ? owned.metadata.ns : "", ref.name);
      }
    }
    return std::nullopt;
  };
}

Controller::Controller(ControllerSpec spec, Metrics& metrics, Clock& clock)
    : spec_(std::move(spec)), metrics_(metrics), clock_(clock) {
  kube::WorkQueueOptions qo;
  qo.name = spec_.name;
  qo.metrics = queueMetrics(metrics_, spec_.name);
  queue_ = std::make_unique<kube::WorkQueue>(clock_, qo);
}

Controller::~Controller() {
  shutDown();
  join();
}

kube::ResourceEventHandlers Controller::primaryHandlers() {
  kube::WorkQueue* queue = queue_.get();
  kube::ResourceEventHandlers handlers;
  handlers.on_add = [queue](const kube::Object& obj) { queue->add(obj.key()); };
  handlers.on_update = [queue](const kube::Object&, const kube::Object& obj) {
    queue->add(obj.key());
  };
  handlers.on_delete = [queue](const kube::Object& obj) { queue->add(obj.key()); };
  return handlers;
}

kube::ResourceEventHandlers Controller::ownedHandlers(const OwnedResource& owned) {
  kube::WorkQueue* queue = queue_.get();
  OwnerMapper map = owned.map_to_owner ? owned.map_to_owner : controllerOwnerOf(spec_.resource);
  KeysMapper map_keys = owned.map_to_keys;
  auto enqueue = [queue, map, map_keys](const kube::Object& obj) {
    if (map_keys) {
      for (const std::string& key : map_keys(obj)) {
        queue->add(key);
      }
      return;
    }
    if (auto key = map(obj); key.has_value()) {
      queue->add(*key);
    }
  };
  kube::ResourceEventHandlers handlers;
  handlers.on_add = enqueue;
  handlers.on_update = [enqueue, map_keys](const kube::Object& old, const kube::Object& obj) {
    // A watched object that stops referring to one key still enqueues it, so that one sees the
    // change too (a refresher moved from builder A to B: A loses a follower).
    if (map_keys) {
      enqueue(old);
    }
    enqueue(obj);
  };
  handlers.on_delete = enqueue;
  return handlers;
}

void Controller::start(int default_workers) {
  const int n = spec_.workers > 0 ? spec_.workers : default_workers;
  workers_ = kube::runWorkers(*queue_, n,
                              instrumentReconcile(spec_.name, spec_.reconcile, metrics_, clock_));
  logger().info("controller started", log::kv("controller", spec_.name, "workers", n));
}

void Controller::shutDown() {
  queue_->shutDown();
}

void Controller::join() {
  workers_.join();
}

}  // namespace opsy::runtime

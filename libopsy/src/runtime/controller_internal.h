// The controller loop's decisions that tests exercise without running workers: how a reconcile
// outcome is counted and logged, and how the work queue reports to the process metrics.
#pragma once

#include <string>

#include "opsy/core/clock.h"
#include "opsy/kube/work_queue.h"
#include "opsy/runtime/controller.h"
#include "opsy/runtime/metrics.h"

namespace opsy::runtime {

ReconcileResult resultOf(const kube::WorkOutcome& outcome);

// Wraps a reconcile: times it, counts it in opsy_reconcile_*, logs failures, and turns an escaped
// exception into an Error outcome (a throw must not end a worker thread, and so the process).
kube::WorkFn instrumentReconcile(std::string controller, ReconcileFn fn, Metrics& metrics,
                                 Clock& clock);

// Binds a work queue's observations to the process metrics under the queue's name.
kube::WorkQueueMetricsPtr queueMetrics(Metrics& metrics, std::string queue);

}  // namespace opsy::runtime

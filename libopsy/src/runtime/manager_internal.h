// The Manager's decisions that tests exercise without starting a Manager: how a reconcile outcome
// is counted, what /readyz answers, and where the cluster config comes from.
#pragma once

#include <string>
#include <vector>

#include "opsy/runtime/manager.h"

namespace opsy::runtime {

ReconcileResult resultOf(const kube::WorkOutcome& outcome);

// Wraps a reconcile: times it, counts it in opsy_reconcile_*, logs failures, and turns an escaped
// exception into an Error outcome (a throw must not end a worker thread, and so the process).
kube::WorkFn instrumentReconcile(std::string controller, ReconcileFn fn, Metrics& metrics,
                                 Clock& clock);

// Binds a work queue's observations to the process metrics under the queue's name.
kube::WorkQueueMetricsPtr queueMetrics(Metrics& metrics, std::string queue);

// /readyz "informers": fails naming the caches that have not synced yet.
Status cachesReady(const std::vector<std::string>& unsynced);
// /readyz "leader-election": settled once this replica leads or has seen another holder; a
// standby is ready, as in controller-runtime.
Status electionSettled(bool enabled, bool leading, const std::string& observed_leader);

// --kubeconfig, else KUBECONFIG, else in-cluster, else ~/.kube/config (deps.rest_config wins).
[[nodiscard]] Result<kube::RestConfig> resolveRestConfig(const ManagerOptions& options,
                                                         const ManagerDeps& deps, Clock& clock);

[[nodiscard]] Status validateOptions(const ManagerOptions& options);

}  // namespace opsy::runtime

// File: wiring.h
//
// What binds the AMIRefresher Reconciler to a running process: rollout metrics on the process's
// Prometheus registry, AWS clients from the Manager (so AWS_ENDPOINT_URL, the credentials chain
// and the request metrics apply). main.cc only parses flags and calls these.
//
//   Reconciler r({..., .aws = managerAwsClients(manager.aws()),
//                 .metrics = rolloutMetrics(manager.metrics())});
#pragma once

#include "ami-refresh-controller/execute.h"
#include "ami-refresh-controller/reconciler.h"
#include "opsy/kube/store.h"
#include "opsy/runtime/aws_clients.h"
#include "opsy/runtime/controller.h"
#include "opsy/runtime/metrics.h"

namespace opsy::ami_refresh {

// RolloutMetrics on `metrics` (which must outlive the result). opsy_rollout_groups{phase} sums
// the groups of every refresher; with `per_object` (--per-object-metrics) also
// opsy_rollout_object_groups{object,phase}, one series per refresher and phase, each phase set
// (zero included, so a phase its groups left does not keep an old count) and removed with the
// refresher. Off by default: 10,000 refreshers would be 70,000 series.
RolloutMetricsPtr rolloutMetrics(runtime::Metrics& metrics, bool per_object = false);

// The EC2, EKS and Auto Scaling clients of a region, cached by `clients`.
AwsClientsFactory managerAwsClients(runtime::AwsClients& clients);

// The keys ("namespace/name") of the refreshers in `refreshers` whose spec.builderRef names
// `builder`, from the ami::builderRefIndex() of that cache (no scan); none without that index.
std::vector<std::string> followersOf(const kube::Store& refreshers, const kube::Object& builder);

// PackerBuilders watched read-only (their informer also serves the reconciler's reads of them):
// every event of one enqueues the refreshers that follow it. `refreshers` is the controller's
// AMIRefresher cache, which must carry ami::builderRefIndex() and outlive the controller.
runtime::OwnedResource watchedBuilders(const kube::Store& refreshers);

}  // namespace opsy::ami_refresh

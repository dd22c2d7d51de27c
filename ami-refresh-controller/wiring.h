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
#include "opsy/runtime/aws_clients.h"
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

}  // namespace opsy::ami_refresh

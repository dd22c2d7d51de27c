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

// RolloutMetrics on `metrics` (which must outlive the result). Every phase of an object is set,
// zero included, so a phase its groups left does not keep an old count.
RolloutMetricsPtr rolloutMetrics(runtime::Metrics& metrics);

// The EC2, EKS and Auto Scaling clients of a region, cached by `clients`.
AwsClientsFactory managerAwsClients(runtime::AwsClients& clients);

}  // namespace opsy::ami_refresh

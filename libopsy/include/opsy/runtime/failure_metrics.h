// File: failure_metrics.h
//
// Counts, in opsy_reconcile_errors_total{controller,reason}, the reconciles that end without an
// error but show a failure on their object (controller/failure.h); the controller loop counts
// the ones that end in an error.
//
//   deps.failures = runtime::failureCounter(manager.metrics());
#pragma once

#include "opsy/controller/failure.h"
#include "opsy/runtime/metrics.h"

namespace opsy::runtime {

[[nodiscard]] controller::FailureCounterPtr failureCounter(Metrics& metrics);

}  // namespace opsy::runtime

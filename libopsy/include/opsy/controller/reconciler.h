// File: reconciler.h
//
// The contract between a controller's reconciler and the work queue, as controller-runtime's
// reconcile.Reconciler: given the key of an object, bring the world closer to its spec and say
// when to look again. An error asks for a retry with backoff; a duration asks for another look
// after it; nullopt waits for the next change. workFn() adapts a Reconciler to the Manager.
//
//   manager.addController({.name = "ami-refresh", .resource = amiRefreshers(),
//                          .reconcile = controller::workFn(reconciler)});
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/kube/object.h"
#include "opsy/kube/work_queue.h"

namespace opsy::controller {

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  /** One level-triggered reconcile of `key`: the requeue delay, nullopt, or an error to retry. */
  [[nodiscard]] virtual Result<std::optional<Duration>> reconcile(const kube::ObjectKey& key) = 0;
};

// The work-queue outcome of a reconcile's result.
kube::WorkOutcome toWorkOutcome(const Result<std::optional<Duration>>& result);

// A work function that reconciles "namespace/name" keys with `reconciler` (which must outlive it).
std::function<kube::WorkOutcome(const std::string& key)> workFn(Reconciler& reconciler);

}  // namespace opsy::controller

#include "opsy/controller/reconciler.h"

namespace opsy::controller {

kube::WorkOutcome toWorkOutcome(const Result<std::optional<Duration>>& result) {
  if (!result) {
    // The Manager logs and counts the failure; one line per failed reconcile.
    return kube::WorkOutcome::failed(result.error());
  }
  if (*result) {
    return kube::WorkOutcome::requeueAfter(**result);
  }
  return kube::WorkOutcome::success();
}

std::function<kube::WorkOutcome(const std::string& key)> workFn(Reconciler& reconciler) {
  return [&reconciler](const std::string& key) {
    return toWorkOutcome(reconciler.reconcile(kube::ObjectKey::parse(key)));
  };
}

}  // namespace opsy::controller

// The Manager's decisions that tests exercise without starting a Manager: what /readyz answers,
// where the cluster config comes from and whether its credentials may go over plain HTTP (and,
// through the headers below, how a reconcile outcome is counted and which options are valid).
#pragma once

#include <string>
#include <vector>

#include "opsy/runtime/manager.h"
#include "opsy/runtime/manager_options.h"
#include "runtime/controller_internal.h"

namespace opsy::runtime {

// /readyz "informers": fails naming the caches that have not synced yet.
Status cachesReady(const std::vector<std::string>& unsynced);
// /readyz "leader-election": settled once this replica leads or has seen another holder; a
// standby is ready, as in controller-runtime.
Status electionSettled(bool enabled, bool leading, const std::string& observed_leader);

// Startup refusal of credentials in clear text (kube::checkPlaintextCredentials), with the fix:
// an https:// server, or --insecure-allow-http-credentials-on-loopback for a loopback server.
[[nodiscard]] Status plaintextCredentialsAllowed(const kube::RestConfig& config,
                                                 const ManagerOptions& options);

// --kubeconfig, else KUBECONFIG, else in-cluster, else ~/.kube/config (deps.rest_config wins).
[[nodiscard]] Result<kube::RestConfig> resolveRestConfig(const ManagerOptions& options,
                                                         const ManagerDeps& deps, Clock& clock);

}  // namespace opsy::runtime

// File: manager_options.h
//
// What a controller binary is configured with, and the command-line flags that set it: the
// controller-runtime flag set (--kubeconfig, --namespace, --metrics-bind-address,
// --health-probe-bind-address, --leader-elect, ...) with environment fallbacks, so every binary
// takes the same flags. validateOptions() is what Manager::create() checks first.
//
//   runtime::ManagerOptions options{.name = "packer-builder"};
//   runtime::addManagerFlags(flags, options);  ... flags.parse(argc, argv) ...
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/flags.h"
#include "opsy/core/result.h"

namespace opsy::runtime {

// What a controller binary is configured with; addManagerFlags() binds the flag-settable fields.
struct ManagerOptions {
  // The controller's short name ("packer-builder"): the metrics' controller label, the default
  // leader election id ("<name>.ami.refresh.ops") and events' reportingController
  // ("ami.refresh.ops/<name>-controller").
  std::string name;
  std::string version;

  // --kubeconfig, else KUBECONFIG, else in-cluster, else ~/.kube/config.
  std::string kubeconfig;
  std::string context;
  // Namespaces to watch (repeatable); empty watches every namespace.
  std::vector<std::string> namespaces;
  // "0" disables an endpoint; both may name the same address.
  std::string metrics_bind_address = ":8080";
  std::string health_probe_bind_address = ":8081";
  // /metrics over HTTPS, only to scrapers RBAC allows (metrics_access.h). The certificate is read
  // from <metrics_cert_path>/<metrics_cert_name> and <metrics_cert_key>, or self-signed when no
  // path is given.
  bool metrics_secure = false;
  std::string metrics_cert_path;
  std::string metrics_cert_name = "tls.crt";
  std::string metrics_cert_key = "tls.key";
  bool leader_elect = false;
  // Default: the namespace of the config (the pod's own namespace in-cluster).
  std::string leader_election_namespace;
  // The Lease name; default "<name>.ami.refresh.ops".
  std::string leader_election_id;
  // Default number of concurrent reconciles per controller.
  int workers = 2;
  std::string log_format = "text";
  std::string log_level = "info";
  // Region for AWS clients asked for without one; empty: AWS_REGION / AWS_DEFAULT_REGION.
  std::string aws_region;
  // Hosts, name globs or CIDRs that webhook and Discord notifications may reach although they are
  // private, loopback or link-local, or over http:// (notify/destination_policy.h).
  std::vector<std::string> notification_allowed_hosts;
  // A watch that receives nothing, not even a bookmark, for this long is dropped and resumed from
  // its last resourceVersion (API servers send a bookmark about every minute).
  Duration watch_idle_timeout = std::chrono::minutes(2);
  // The longest watch event line and Kubernetes API response body read; a longer one fails that
  // watch or call (ResourceExhausted) and its connection is dropped.
  int watch_max_event_bytes = 16 << 20;
  int kube_max_response_bytes = 64 << 20;
  // Development only: send the config's credentials to an http:// API server when its host is a
  // loopback address. Credentials never go to any other http:// server.
  bool insecure_allow_http_credentials_on_loopback = false;

  // Not flags: timings a binary or a test may tune.
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  // How long in-flight reconciles may run after a stop before the process exits anyway (with 1).
  Duration graceful_shutdown_timeout = std::chrono::seconds(30);
  // Workers start only once every informer has synced; longer than this is a fatal error.
  Duration cache_sync_timeout = std::chrono::minutes(2);
};

// Binds --kubeconfig, --context, --namespace, --metrics-bind-address, --metrics-secure,
// --metrics-cert-path, --metrics-cert-name, --metrics-cert-key, --health-probe-bind-address,
// --leader-elect, --leader-election-namespace,
// --leader-election-id, --workers, --log-format, --log-level, --aws-region,
// --watch-idle-timeout, --watch-max-event-bytes, --kube-max-response-bytes and
// --insecure-allow-http-credentials-on-loopback to `options`, each but --kubeconfig with an
// environment fallback (WATCH_NAMESPACE, OPSY_LEADER_ELECT, ..., AWS_REGION; see usage()). The
// current values of `options` are the defaults.
void addManagerFlags(FlagSet& flags, ManagerOptions& options);

// Bad flag values (workers below 1, an empty namespace, an unparsable bind address, log format
// or level, non-positive timeouts, size limits under 1 KiB) as InvalidArgument naming the flag.
[[nodiscard]] Status validateOptions(const ManagerOptions& options);

}  // namespace opsy::runtime

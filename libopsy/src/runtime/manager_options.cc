#include "opsy/runtime/manager_options.h"

#include <fmt/format.h>

#include "opsy/core/log.h"
#include "opsy/notify/destination_policy.h"
#include "opsy/runtime/probe_server.h"

namespace opsy::runtime {

void addManagerFlags(FlagSet& flags, ManagerOptions& options) {
  flags.addString("kubeconfig", &options.kubeconfig,
                  "Path to a kubeconfig. Without it: KUBECONFIG, then the in-cluster service "
                  "account, then ~/.kube/config.");
  flags.addString("context", &options.context, "kubeconfig context to use.", "OPSY_CONTEXT");
  flags.addStringList("namespace", &options.namespaces,
                      "Namespace to watch (repeatable). Default: every namespace.",
                      "WATCH_NAMESPACE");
  flags.addString("metrics-bind-address", &options.metrics_bind_address,
                  "Address for /metrics; \"0\" disables it.", "OPSY_METRICS_BIND_ADDRESS");
  flags.addBool("metrics-secure", &options.metrics_secure,
                "Serve /metrics over HTTPS to scrapers whose token RBAC allows get on /metrics "
                "(checked with TokenReview and SubjectAccessReview).",
                "OPSY_METRICS_SECURE");
  flags.addString("metrics-cert-path", &options.metrics_cert_path,
                  "Directory with the certificate for secure metrics, re-read when it changes. "
                  "Default: a self-signed certificate made at start.",
                  "OPSY_METRICS_CERT_PATH");
  flags.addString("metrics-cert-name", &options.metrics_cert_name,
                  "Certificate file in --metrics-cert-path.", "OPSY_METRICS_CERT_NAME");
  flags.addString("metrics-cert-key", &options.metrics_cert_key,
                  "Private key file in --metrics-cert-path.", "OPSY_METRICS_CERT_KEY");
  flags.addString("health-probe-bind-address", &options.health_probe_bind_address,
                  "Address for /healthz and /readyz; \"0\" disables it.",
                  "OPSY_HEALTH_PROBE_BIND_ADDRESS");
  flags.addBool("leader-elect", &options.leader_elect,
                "Elect a leader with a Lease so only one replica acts.", "OPSY_LEADER_ELECT");
  flags.addString("leader-election-namespace", &options.leader_election_namespace,
                  "Namespace of the leader election Lease. Default: the pod's namespace.",
                  "OPSY_LEADER_ELECTION_NAMESPACE");
  flags.addString("leader-election-id", &options.leader_election_id,
                  "Name of the leader election Lease. Default: <controller>.ami.refresh.ops.",
                  "OPSY_LEADER_ELECTION_ID");
  flags.addInt("workers", &options.workers, "Concurrent reconciles per controller.",
               "OPSY_WORKERS");
  flags.addString("log-format", &options.log_format, "Log format: text or json.",
                  "OPSY_LOG_FORMAT");
  flags.addString("log-level", &options.log_level,
                  "Log level: trace, debug, info, warn, error or off.", "OPSY_LOG_LEVEL");
  flags.addString("aws-region", &options.aws_region, "AWS region for objects that do not name one.",
                  "AWS_REGION");
  flags.addStringList("notification-allowed-hosts", &options.notification_allowed_hosts,
                      "Hosts, *.globs or CIDRs webhook and Discord notifications may reach "
                      "although they are not public addresses, or over http://.",
                      "OPSY_NOTIFICATION_ALLOWED_HOSTS");
  flags.addDuration("watch-idle-timeout", &options.watch_idle_timeout,
                    "Drop and resume a watch that receives nothing, not even a bookmark, for this "
                    "long.",
                    "OPSY_WATCH_IDLE_TIMEOUT");
  flags.addInt("watch-max-event-bytes", &options.watch_max_event_bytes,
               "Longest watch event accepted; a longer one drops the watch.",
               "OPSY_WATCH_MAX_EVENT_BYTES");
  flags.addInt("kube-max-response-bytes", &options.kube_max_response_bytes,
               "Longest Kubernetes API response body accepted; a longer one fails the call.",
               "OPSY_KUBE_MAX_RESPONSE_BYTES");
  flags.addBool("insecure-allow-http-credentials-on-loopback",
                &options.insecure_allow_http_credentials_on_loopback,
                "Development only: send the kubeconfig's credentials to an http:// API server on "
                "127.0.0.0/8, ::1 or localhost.",
                "OPSY_INSECURE_ALLOW_HTTP_CREDENTIALS_ON_LOOPBACK");
}

Status validateOptions(const ManagerOptions& options) {
  if (options.name.empty()) {
    return fail(ErrorCode::InvalidArgument, "manager: a controller name is required");
  }
  if (options.workers < 1) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("flag --workers: must be at least 1, got {}", options.workers));
  }
  for (const auto& ns : options.namespaces) {
    if (ns.empty()) {
      return fail(ErrorCode::InvalidArgument, "flag --namespace: empty namespace");
    }
  }
  if (auto invalid = notify::invalidDestinationPolicy({options.notification_allowed_hosts})) {
    return fail(ErrorCode::InvalidArgument, "flag " + *invalid);
  }
  if (auto a = parseBindAddress(options.metrics_bind_address); !a) {
    return fail(ErrorCode::InvalidArgument, "flag --metrics-bind-address: " + a.error().message);
  }
  if (auto a = parseBindAddress(options.health_probe_bind_address); !a) {
    return fail(ErrorCode::InvalidArgument,
                "flag --health-probe-bind-address: " + a.error().message);
  }
  if (options.metrics_secure && options.metrics_bind_address != "0" &&
      options.metrics_bind_address == options.health_probe_bind_address) {
    return fail(ErrorCode::InvalidArgument,
                "flag --metrics-secure: secure metrics need their own --metrics-bind-address; "
                "the health probes (plain HTTP, no token) use " +
                    options.metrics_bind_address + " too");
  }
  if (!options.metrics_cert_path.empty() &&
      (options.metrics_cert_name.empty() || options.metrics_cert_key.empty())) {
    return fail(ErrorCode::InvalidArgument,
                "flags --metrics-cert-name and --metrics-cert-key: must name files in "
                "--metrics-cert-path");
  }
  if (auto f = log::parseFormat(options.log_format); !f) {
    return fail(ErrorCode::InvalidArgument, "flag --log-format: " + f.error().message);
  }
  if (auto l = log::parseLevel(options.log_level); !l) {
    return fail(ErrorCode::InvalidArgument, "flag --log-level: " + l.error().message);
  }
  if (options.graceful_shutdown_timeout.count() <= 0 || options.cache_sync_timeout.count() <= 0) {
    return fail(ErrorCode::InvalidArgument, "manager: timeouts must be positive");
  }
  if (options.watch_idle_timeout.count() <= 0) {
    return fail(ErrorCode::InvalidArgument, "flag --watch-idle-timeout: must be positive");
  }
  constexpr int kMinLimit = 1024;
  if (options.watch_max_event_bytes < kMinLimit) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("flag --watch-max-event-bytes: must be at least {}, got {}", kMinLimit,
                            options.watch_max_event_bytes));
  }
  if (options.kube_max_response_bytes < kMinLimit) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("flag --kube-max-response-bytes: must be at least {}, got {}",
                            kMinLimit, options.kube_max_response_bytes));
  }
  return ok();
}

}  // namespace opsy::runtime

// File: probe_server.h
//
// The HTTP endpoints a controller pod exposes: /metrics (Prometheus text format) and the kubelet
// probes /healthz (the process is alive) and /readyz (caches synced, leader election settled).
// Metrics and probes may share one address or use two (--metrics-bind-address,
// --health-probe-bind-address); "0" disables one, like controller-runtime. Protected metrics
// (ProbeServerOptions::metrics_tls) are served over HTTPS on their own address, and every scrape
// must pass the access check (metrics_access.h); probes stay plain HTTP for the kubelet.
//
//   ProbeServer server({.metrics_address = ":8080", .probe_address = ":8081"}, metrics);
//   server.addReadyCheck("informers", [&] { return informers.hasSynced() ? ok() : fail(...); });
//   OPSY_RETURN_IF_ERROR(server.start());
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "opsy/core/result.h"
#include "opsy/runtime/metrics.h"
#include "opsy/runtime/metrics_access.h"
#include "opsy/runtime/serving_certificate.h"

namespace opsy::runtime {

struct BindAddress {
  std::string host;  // "0.0.0.0" when the flag gave only ":port"
  int port = 0;
};

// Parses "host:port", ":port" or "[::1]:port". "0" means disabled (nullopt).
[[nodiscard]] Result<std::optional<BindAddress>> parseBindAddress(std::string_view text);

struct ProbeServerOptions {
  std::string metrics_address = ":8080";
  std::string probe_address = ":8081";
  // Set: /metrics is HTTPS with this certificate, and then `metrics_access` must be set too.
  std::shared_ptr<ServingCertificate> metrics_tls;
  // Decides each /metrics request from its Authorization header (status 200 serves the page).
  std::function<MetricsAccess::Decision(std::string_view authorization)> metrics_access;
};

class ProbeServer {
 public:
  using Check = std::function<Status()>;

  ProbeServer(ProbeServerOptions options, const Metrics& metrics);
  ~ProbeServer();
  ProbeServer(const ProbeServer&) = delete;
  ProbeServer& operator=(const ProbeServer&) = delete;

  // Checks run on every probe request; a failing check's message is shown with ?verbose.
  void addHealthCheck(std::string name, Check check);
  void addReadyCheck(std::string name, Check check);

  // Binds and serves on background threads. Fails naming the address when it cannot bind, and
  // when protected metrics would share the probes' address.
  [[nodiscard]] Status start();
  void stop();

  // The bound ports (useful with port 0); 0 when that endpoint is disabled.
  int metricsPort() const;
  int probePort() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opsy::runtime

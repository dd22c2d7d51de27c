#include "opsy/runtime/probe_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <charconv>
#include <mutex>
#include <thread>
#include <vector>

#include "opsy/core/log.h"

namespace opsy::runtime {
namespace {

// Threads per server (metrics, probes): see start().
constexpr std::size_t kServerThreads = 3;

struct NamedCheck {
  std::string name;
  ProbeServer::Check check;
};

// Kubernetes-style check output: "ok" or, with ?verbose, one "[+]name ok" / "[-]name failed: why"
// line per check, and 500 when any failed.
void serveChecks(const std::vector<NamedCheck>& checks, std::mutex& mu, const httplib::Request& req,
                 httplib::Response& res, std::string_view what) {
  std::vector<NamedCheck> snapshot;
  {
    std::lock_guard lock(mu);
    snapshot = checks;
  }
  bool verbose = req.has_param("verbose");
  bool healthy = true;
  std::string body;
  for (const NamedCheck& c : snapshot) {
    Status s = c.check ? c.check() : ok();
    if (s) {
      body += fmt::format("[+]{} ok\n", c.name);
    } else {
      healthy = false;
      body += fmt::format("[-]{} failed: {}\n", c.name, s.error().message);
    }
  }
  res.status = healthy ? 200 : 500;
  if (verbose || !healthy) {
    body +=
        healthy ? fmt::format("{} check passed\n", what) : fmt::format("{} check failed\n", what);
    res.set_content(body, "text/plain; charset=utf-8");
  } else {
    res.set_content("ok", "text/plain; charset=utf-8");
  }
}

}  // namespace

Result<std::optional<BindAddress>> parseBindAddress(std::string_view text) {
  if (text == "0") {
    return std::optional<BindAddress>();
  }
  auto bad = [&](std::string_view why) {
    return fail(
        ErrorCode::InvalidArgument,
        fmt::format("invalid bind address \"{}\": {} (expected host:port or :port)", text, why));
  };
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return bad("missing port");
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("IPv6 hosts must be in brackets");
  }
  int port = -1;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port < 0 || port > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  return std::optional<BindAddress>(
      BindAddress{host.empty() ? "0.0.0.0" : std::string(host), port});
}

struct ProbeServer::Impl {
  ProbeServerOptions options;
  const Metrics& metrics;
  std::mutex mu;
  std::vector<NamedCheck> health;
  std::vector<NamedCheck> ready;
  // One server per distinct address; metrics_server may be the same object as probe_server.
  std::vector<std::unique_ptr<httplib::Server>> servers;
  std::vector<std::thread> threads;
  int metrics_port = 0;
  int probe_port = 0;

  Impl(ProbeServerOptions o, const Metrics& m) : options(std::move(o)), metrics(m) {}

  void routeMetrics(httplib::Server& s) {
    s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      if (options.metrics_access) {
        MetricsAccess::Decision d = options.metrics_access(req.get_header_value("Authorization"));
        if (d.http_status != 200) {
          res.status = d.http_status;
          if (d.http_status == 401) {
            res.set_header("WWW-Authenticate", "Bearer");
          }
          res.set_content(d.message, "text/plain; charset=utf-8");
          return;
        }
      }
      res.set_content(metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8");
    });
  }
  Result<std::unique_ptr<httplib::Server>> metricsServer() {
    if (!options.metrics_tls) {
      return std::make_unique<httplib::Server>();
    }
    if (!options.metrics_access) {
      return fail(ErrorCode::InvalidArgument, "protected metrics need an access check");
    }
    std::string setup_error;
    auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
      auto configured = options.metrics_tls->configure(ctx);
      if (!configured) {
        setup_error = configured.error().message;
      }
      return static_cast<bool>(configured);
    });
    if (!server->is_valid()) {
      return fail(ErrorCode::Internal, "cannot set up TLS for /metrics" +
                                           (setup_error.empty() ? "" : ": " + setup_error));
    }
    // A scrape is a GET; nothing it sends needs more than this.
    server->set_payload_max_length(64 * 1024);
    return std::unique_ptr<httplib::Server>(std::move(server));
  }
  void routeProbes(httplib::Server& s) {
    s.Get("/healthz", [this](const httplib::Request& req, httplib::Response& res) {
      serveChecks(health, mu, req, res, "healthz");
    });
    s.Get("/readyz", [this](const httplib::Request& req, httplib::Response& res) {
      serveChecks(ready, mu, req, res, "readyz");
    });
  }
  Result<int> listen(httplib::Server& s, const BindAddress& addr) {
    // httplib's default adds SO_REUSEPORT, which would let a second process share our port
    // silently; a busy port must be a start-up error instead.
    s.set_socket_options([](int sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    int port = addr.port;
    bool bound = false;
    if (port == 0) {
      port = s.bind_to_any_port(addr.host);
      bound = port > 0;
    } else {
      bound = s.bind_to_port(addr.host, port);
    }
    if (!bound) {
      return fail(ErrorCode::Unavailable,
                  fmt::format("cannot listen on {}:{} (in use, or not an address of this host)",
                              addr.host, addr.port));
    }
    return port;
  }
};

ProbeServer::ProbeServer(ProbeServerOptions options, const Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), metrics)) {}

ProbeServer::~ProbeServer() {
  stop();
}

void ProbeServer::addHealthCheck(std::string name, Check check) {
  std::lock_guard lock(impl_->mu);
  impl_->health.push_back({std::move(name), std::move(check)});
}

void ProbeServer::addReadyCheck(std::string name, Check check) {
  std::lock_guard lock(impl_->mu);
  impl_->ready.push_back({std::move(name), std::move(check)});
}

Status ProbeServer::start() {
  OPSY_ASSIGN_OR_RETURN(auto metrics_addr, parseBindAddress(impl_->options.metrics_address));
  OPSY_ASSIGN_OR_RETURN(auto probe_addr, parseBindAddress(impl_->options.probe_address));
  bool shared = metrics_addr && probe_addr && metrics_addr->host == probe_addr->host &&
                metrics_addr->port == probe_addr->port && metrics_addr->port != 0;
  if (shared && impl_->options.metrics_tls) {
    // The kubelet probes over plain HTTP and without a token.
    return fail(ErrorCode::InvalidArgument,
                fmt::format("protected metrics need an address of their own; the health probes "
                            "also use {}",
                            impl_->options.metrics_address));
  }
  if (metrics_addr) {
    OPSY_ASSIGN_OR_RETURN(auto server, impl_->metricsServer());
    impl_->routeMetrics(*server);
    if (shared) {
      impl_->routeProbes(*server);
    }
    OPSY_ASSIGN_OR_RETURN(impl_->metrics_port, impl_->listen(*server, *metrics_addr));
    if (shared) {
      impl_->probe_port = impl_->metrics_port;
    }
    impl_->servers.push_back(std::move(server));
  }
  if (probe_addr && !shared) {
    auto server = std::make_unique<httplib::Server>();
    impl_->routeProbes(*server);
    auto port = impl_->listen(*server, *probe_addr);
    if (!port) {
      stop();
      return fail(port.error());
    }
    impl_->probe_port = *port;
    impl_->servers.push_back(std::move(server));
  }
  for (auto& server : impl_->servers) {
    // httplib's default pool has at least 8 threads per server; a kubelet's probes and one or
    // two Prometheus scrapers (each holding a kept-alive connection, and so a thread) need few.
    server->new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
    httplib::Server* s = server.get();
    impl_->threads.emplace_back([s] { s->listen_after_bind(); });
  }
  // stop() is a no-op on a server that has not entered its accept loop yet, so wait for it.
  for (auto& server : impl_->servers) {
    while (!server->is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  log::get("runtime").info(
      "probe server listening",
      log::kv("metrics_port", impl_->metrics_port, "probe_port", impl_->probe_port,
              "metrics_scheme", impl_->options.metrics_tls ? "https" : "http"));
  return ok();
}

void ProbeServer::stop() {
  for (auto& server : impl_->servers) {
    server->stop();
  }
  for (auto& t : impl_->threads) {
    if (t.joinable()) {
      t.join();
    }
  }
  impl_->threads.clear();
  impl_->servers.clear();
}

int ProbeServer::metricsPort() const {
  return impl_->metrics_port;
}
int ProbeServer::probePort() const {
  return impl_->probe_port;
}

}  // namespace opsy::runtime

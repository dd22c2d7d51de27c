#include "opsy/runtime/probe_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

namespace opsy::runtime {
namespace {

// A port that was free a moment ago (bound to port 0, then released).
int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

httplib::Result get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  return client.Get(path);
}

// Bind addresses follow controller-runtime's flags: ":port" binds all interfaces, "0" disables.
TEST(BindAddress, ParsesFlagForms) {
  auto any = parseBindAddress(":8080").value();
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->host, "0.0.0.0");
  EXPECT_EQ(any->port, 8080);
  auto local = parseBindAddress("127.0.0.1:0").value();
  EXPECT_EQ(local->host, "127.0.0.1");
  auto v6 = parseBindAddress("[::1]:9090").value();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_FALSE(parseBindAddress("0").value().has_value());
  for (const char* bad : {"8080", "host:", "host:http", ":70000", "::1:80"}) {
    auto r = parseBindAddress(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

// /metrics serves the registry in text format, with the standard families present from the start.
TEST(ProbeServer, ServesMetricsInTextFormat) {
  Metrics metrics("packer-builder", "1.2.3");
  metrics.reconcileDone(ReconcileResult::Success, std::chrono::milliseconds(20));
  ProbeServer server({"127.0.0.1:0", "127.0.0.1:0"}, metrics);
  ASSERT_TRUE(server.start().has_value());
  auto res = get(server.metricsPort(), "/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("version=0.0.4"), std::string::npos);
  EXPECT_NE(
      res->body.find(R"(opsy_reconcile_total{controller="packer-builder",result="success"} 1)"),
      std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find(R"(opsy_reconcile_total{controller="packer-builder",result="error"} 0)"),
            std::string::npos);
  EXPECT_NE(res->body.find(R"(opsy_build_info{controller="packer-builder",version="1.2.3"} 1)"),
            std::string::npos);
  // Probes are on their own port when the addresses differ.
  auto wrong = get(server.metricsPort(), "/healthz");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 404);
  server.stop();
}

// /readyz fails with the failing check named until every check passes; /healthz is independent.
TEST(ProbeServer, ReadyzReflectsChecks) {
  Metrics metrics("ami-refresh");
  ProbeServer server({"0", "127.0.0.1:0"}, metrics);
  std::atomic<bool> synced{false};
  server.addReadyCheck("informers", [&]() -> Status {
    return synced ? ok() : fail(ErrorCode::Unavailable, "caches not synced");
  });
  server.addHealthCheck("ping", [] { return ok(); });
  ASSERT_TRUE(server.start().has_value());
  EXPECT_EQ(server.metricsPort(), 0);
  auto ready = get(server.probePort(), "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 500);
  EXPECT_NE(ready->body.find("[-]informers failed: caches not synced"), std::string::npos);
  auto health = get(server.probePort(), "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  synced = true;
  ready = get(server.probePort(), "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ok");
  auto verbose = get(server.probePort(), "/readyz?verbose");
  ASSERT_TRUE(verbose);
  EXPECT_NE(verbose->body.find("[+]informers ok"), std::string::npos);
}

// One address for both serves every endpoint from one listener.
TEST(ProbeServer, SharedAddressServesAll) {
  Metrics metrics("x");
  int port = freePort();
  std::string addr = "127.0.0.1:" + std::to_string(port);
  ProbeServer server({addr, addr}, metrics);
  ASSERT_TRUE(server.start().has_value());
  EXPECT_EQ(server.metricsPort(), port);
  EXPECT_EQ(server.metricsPort(), server.probePort());
  auto metrics_res = get(port, "/metrics");
  auto health_res = get(port, "/healthz");
  ASSERT_TRUE(metrics_res && health_res);
  EXPECT_EQ(metrics_res->status, 200);
  EXPECT_EQ(health_res->status, 200);
}

// A port already in use is a start-up error naming the address, not a silent failure.
TEST(ProbeServer, BusyPortIsAnError) {
  Metrics metrics("x");
  httplib::Server other;  // binds with httplib's defaults, SO_REUSEPORT included
  int port = other.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  ProbeServer server({"127.0.0.1:" + std::to_string(port), "0"}, metrics);
  auto started = server.start();
  ASSERT_FALSE(started.has_value());
  EXPECT_NE(started.error().message.find(std::to_string(port)), std::string::npos);
}

// Protected metrics: HTTPS only, every scrape decided by the access check from its Authorization
// header (401 carries a Bearer challenge); the probes stay plain HTTP on their own port.
TEST(ProbeServer, SecureMetricsAnswerOnlyWhatTheAccessCheckAllows) {
  Metrics metrics("x");
  ProbeServerOptions options{"127.0.0.1:0", "127.0.0.1:0"};
  options.metrics_tls = ServingCertificate::selfSigned({"127.0.0.1"}).value();
  std::vector<std::string> seen;
  std::mutex mu;
  options.metrics_access = [&](std::string_view authorization) -> MetricsAccess::Decision {
    std::lock_guard lock(mu);
    seen.emplace_back(authorization);
    if (authorization == "Bearer good") {
      return {200, ""};
    }
    return authorization.empty() ? MetricsAccess::Decision{401, "Unauthorized\n"}
                                 : MetricsAccess::Decision{403, "Forbidden\n"};
  };
  ProbeServer server(options, metrics);
  ASSERT_TRUE(server.start().has_value());

  httplib::SSLClient tls("127.0.0.1", server.metricsPort());
  tls.enable_server_certificate_verification(false);  // self-signed: a scraper skips or pins it
  tls.set_connection_timeout(2);
  auto anonymous = tls.Get("/metrics");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(anonymous->body.find("opsy_"), std::string::npos);
  auto denied = tls.Get("/metrics", httplib::Headers{{"Authorization", "Bearer bad"}});
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403);
  auto allowed = tls.Get("/metrics", httplib::Headers{{"Authorization", "Bearer good"}});
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200);
  EXPECT_NE(allowed->body.find("opsy_build_info"), std::string::npos);
  EXPECT_EQ(seen, (std::vector<std::string>{"", "Bearer bad", "Bearer good"}));

  // Plain HTTP to the metrics port gets no page.
  auto plain = get(server.metricsPort(), "/metrics");
  EXPECT_FALSE(plain && plain->status == 200);
  auto health = get(server.probePort(), "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

// The kubelet probes without TLS or a token, so protected metrics cannot share their address.
TEST(ProbeServer, SecureMetricsRefuseTheProbeAddress) {
  Metrics metrics("x");
  const std::string addr = "127.0.0.1:" + std::to_string(freePort());
  ProbeServerOptions options{addr, addr};
  options.metrics_tls = ServingCertificate::selfSigned({"127.0.0.1"}).value();
  options.metrics_access = [](std::string_view) { return MetricsAccess::Decision{}; };
  ProbeServer server(options, metrics);
  auto started = server.start();
  ASSERT_FALSE(started.has_value());
  EXPECT_NE(started.error().message.find("address of their own"), std::string::npos);
}

}  // namespace
}  // namespace opsy::runtime

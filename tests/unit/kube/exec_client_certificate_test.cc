// A kubeconfig whose exec plugin returns a client certificate (clientCertificateData and
// clientKeyData) authenticates with it: the kubeconfig is loaded, the plugin runs, the client
// presents the certificate over mutual TLS through the production transport.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <string>

#include "opsy/core/fake_clock.h"
#include "opsy/kube/client.h"
#include "opsy/kube/config.h"
#include "opsy/kube/transport.h"
#include "support/loopback_server.h"
#include "support/test_pki.h"

namespace opsy::kube {
namespace {

// PEM text as a JSON string body: line breaks escaped.
std::string jsonString(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The plugin's certificate reaches the server as the TLS client identity of every request, and
// no bearer token is sent when the plugin returned none.
TEST(ExecClientCertificate, PluginCertificateAuthenticatesOverMutualTls) {
  testing::clearProxyEnvironment();
  testing::LoopbackTls tls = testing::LoopbackTls::create();
  testing::TempDir dir;
  testing::LoopbackTls::Files files = tls.writeTo(dir);
  const testing::IssuedCert plugin_cert = tls.ca.issueClientCert("exec-plugin-user");

  auto server = std::make_unique<httplib::SSLServer>(
      files.server_cert.c_str(), files.server_key.c_str(), files.ca_cert.c_str());
  server->set_keep_alive_timeout(1);
  server->Get("/api/v1/namespaces/ci/pods/p",
              [](const httplib::Request& req, httplib::Response& res) {
                res.set_content(R"({"metadata":{"name":")" + testing::peerCommonName(req.ssl) +
                                    R"(","annotations":{"authorization":")" +
                                    req.get_header_value("Authorization") + R"("}}})",
                                "application/json");
              });
  testing::LoopbackServer running(std::move(server));

  const std::string credential = dir.write(
      "credential.json",
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{)"
      R"("clientCertificateData":")" +
          jsonString(plugin_cert.cert_pem) + R"(","clientKeyData":")" +
          jsonString(plugin_cert.key_pem) + R"("}})");
  const std::string plugin = dir.write("plugin.sh", "#!/bin/sh\nexec cat " + credential + "\n");
  ASSERT_EQ(chmod(plugin.c_str(), 0755), 0);
  const std::string kubeconfig =
      dir.write("config",
                "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
                "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                "clusters: [{name: c, cluster: {server: \"" +
                    running.url("", "localhost") + "\", certificate-authority: \"" + files.ca_cert +
                    "\"}}]\n"
                    "users:\n- name: u\n  user:\n    exec:\n"
                    "      apiVersion: client.authentication.k8s.io/v1\n"
                    "      command: " +
                    plugin + "\n");

  FakeClock clock;
  auto cfg = loadKubeconfig(clock, {.explicit_path = kubeconfig, .context = "", .env = {}});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().toString();
  auto transport = makeTransport(*cfg);
  ASSERT_TRUE(transport.has_value()) << transport.error().toString();
  ClientPtr client = makeClient(*cfg, *transport, clock);
  for (int i = 0; i < 2; ++i) {
    auto pod = client->get(resources::pods(), "ci", "p");
    ASSERT_TRUE(pod.has_value()) << pod.error().toString();
    EXPECT_EQ(pod->metadata.name, "exec-plugin-user");
    EXPECT_EQ(pod->metadata.annotations.at("authorization"), "");
  }
}

}  // namespace
}  // namespace opsy::kube

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

#include "opsy/http/curl_transport.h"
#include "support/loopback_server.h"
#include "support/test_pki.h"
#include "unit/http/curl_test_support.h"

namespace opsy::http {
namespace {

using ::testing::HasSubstr;

void addRoutes(httplib::Server& server) {
  server.Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Host", req.get_header_value("Host"));
    res.set_header("X-Peer", testing::peerCommonName(req.ssl));
    res.set_header("X-Port", std::to_string(req.remote_port));
    res.set_content("hello", "text/plain");
  });
}

class CurlTransportTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tls_ = std::make_unique<testing::LoopbackTls>(testing::LoopbackTls::create());
    dir_ = std::make_unique<testing::TempDir>();
    files_ = tls_->writeTo(*dir_);
    IssuedCert renamed = tls_->ca.issueServerCert({"kubernetes.test"});
    renamed_cert_ = dir_->write("renamed.crt", renamed.cert_pem);
    renamed_key_ = dir_->write("renamed.key", renamed.key_pem);
    IssuedCert stranger = tls_->other_ca.issueClientCert("stranger");
    stranger_ = std::make_unique<IssuedCert>(stranger);
  }
  static void TearDownTestSuite() {
    stranger_.reset();
    dir_.reset();
    tls_.reset();
  }

  // A TLS server for localhost and 127.0.0.1; with `require_client_cert` it demands a client
  // certificate issued by the test CA.
  static std::unique_ptr<testing::LoopbackServer> startServer(bool require_client_cert = false) {
    auto server = std::make_unique<httplib::SSLServer>(
        files_.server_cert.c_str(), files_.server_key.c_str(),
        require_client_cert ? files_.ca_cert.c_str() : nullptr);
    server->set_keep_alive_timeout(1);
    addRoutes(*server);
    return std::make_unique<testing::LoopbackServer>(std::move(server));
  }

  static Result<Response> get(const CurlTransportOptions& options, const std::string& url) {
    OPSY_ASSIGN_OR_RETURN(TransportPtr t, makeCurlTransport(options));
    return t->send(makeRequest("GET", url));
  }

  using IssuedCert = testing::IssuedCert;
  static inline std::unique_ptr<testing::LoopbackTls> tls_;
  static inline std::unique_ptr<testing::TempDir> dir_;
  static inline testing::LoopbackTls::Files files_;
  static inline std::string renamed_cert_;
  static inline std::string renamed_key_;
  static inline std::unique_ptr<IssuedCert> stranger_;
};

// The server's certificate verifies against a CA given as a file or as PEM data, by DNS name and
// by IP address.
TEST_F(CurlTransportTlsTest, VerifiesServerAgainstConfiguredCa) {
  auto server = startServer();
  CurlTransportOptions from_file;
  from_file.tls.ca_file = files_.ca_cert;
  CurlTransportOptions from_pem;
  from_pem.tls.ca_pem = tls_->ca.caCertPem();
  for (const CurlTransportOptions* options : {&from_file, &from_pem}) {
    for (const char* host : {"localhost", "127.0.0.1"}) {
      Result<Response> resp = get(*options, server->url("/hello", host));
      ASSERT_TRUE(resp.has_value()) << host << ": " << resp.error().toString();
      EXPECT_EQ(resp->status, 200);
      EXPECT_EQ(resp->body, "hello");
    }
  }
}

// A server certificate from an untrusted CA fails with FailedPrecondition (fix the config, do
// not retry), whether the CA is configured or the system store is used.
TEST_F(CurlTransportTlsTest, UntrustedServerIsFailedPrecondition) {
  auto server = startServer();
  CurlTransportOptions wrong_file;
  wrong_file.tls.ca_file = files_.other_ca_cert;
  CurlTransportOptions wrong_pem;
  wrong_pem.tls.ca_pem = tls_->other_ca.caCertPem();
  CurlTransportOptions system_store;
  for (const CurlTransportOptions* options : {&wrong_file, &wrong_pem, &system_store}) {
    Result<Response> resp = get(*options, server->url("/hello", "localhost"));
    ASSERT_FALSE(resp.has_value());
    EXPECT_EQ(resp.error().code, ErrorCode::FailedPrecondition) << resp.error().toString();
    EXPECT_THAT(resp.error().message, HasSubstr("certificate"));
  }
}

// verify=false accepts a server no configured CA vouches for.
TEST_F(CurlTransportTlsTest, VerifyOffAcceptsAnyServer) {
  auto server = startServer();
  CurlTransportOptions options;
  options.tls.verify = false;
  options.tls.ca_pem = tls_->other_ca.caCertPem();
  Result<Response> resp = get(options, server->url("/hello", "localhost"));
  ASSERT_TRUE(resp.has_value()) << resp.error().toString();
  EXPECT_EQ(resp->body, "hello");
}

// tls-server-name: a certificate issued only for "kubernetes.test" verifies when the server
// name says so, while the connection still goes to the URL's address and the Host header still
// names it. Without the override the same server is rejected.
TEST_F(CurlTransportTlsTest, ServerNameOverridesTheVerifiedName) {
  auto server = std::make_unique<httplib::SSLServer>(renamed_cert_.c_str(), renamed_key_.c_str());
  addRoutes(*server);
  testing::LoopbackServer running(std::move(server));
  CurlTransportOptions options;
  options.tls.ca_pem = tls_->ca.caCertPem();

  Result<Response> plain = get(options, running.url("/hello"));
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error().code, ErrorCode::FailedPrecondition);

  options.tls.server_name = "kubernetes.test";
  Result<Response> renamed = get(options, running.url("/hello"));
  ASSERT_TRUE(renamed.has_value()) << renamed.error().toString();
  EXPECT_EQ(renamed->body, "hello");
  EXPECT_EQ(renamed->header("X-Host"), "127.0.0.1:" + std::to_string(running.port()));
}

// Mutual TLS: the client certificate and key, from files or from PEM data, reach the server.
TEST_F(CurlTransportTlsTest, PresentsClientCertificate) {
  auto server = startServer(/*require_client_cert=*/true);
  CurlTransportOptions from_files;
  from_files.tls.ca_file = files_.ca_cert;
  from_files.tls.client_cert_file = files_.client_cert;
  from_files.tls.client_key_file = files_.client_key;
  CurlTransportOptions from_pem;
  from_pem.tls.ca_pem = tls_->ca.caCertPem();
  from_pem.tls.client_cert_pem = tls_->client.cert_pem;
  from_pem.tls.client_key_pem = tls_->client.key_pem;
  for (const CurlTransportOptions* options : {&from_files, &from_pem}) {
    Result<Response> resp = get(*options, server->url("/hello", "localhost"));
    ASSERT_TRUE(resp.has_value()) << resp.error().toString();
    EXPECT_EQ(resp->header("X-Peer"), "test-user");
  }
}

// A server that requires a client certificate refuses a client without one, or with one from a
// CA it does not trust. The server ends the handshake, which the client sees as a dropped
// connection: Unavailable.
TEST_F(CurlTransportTlsTest, ServerRequiringClientCertificateRefusesOthers) {
  auto server = startServer(/*require_client_cert=*/true);
  CurlTransportOptions without;
  without.tls.ca_pem = tls_->ca.caCertPem();
  CurlTransportOptions stranger;
  stranger.tls.ca_pem = tls_->ca.caCertPem();
  stranger.tls.client_cert_pem = stranger_->cert_pem;
  stranger.tls.client_key_pem = stranger_->key_pem;
  for (const CurlTransportOptions* options : {&without, &stranger}) {
    Result<Response> resp = get(*options, server->url("/hello", "localhost"));
    ASSERT_FALSE(resp.has_value());
    EXPECT_EQ(resp.error().code, ErrorCode::Unavailable) << resp.error().toString();
  }
}

// A request's own client certificate (an exec plugin's, which rotates) replaces the transport's
// for that request only: the server sees it, and the next request without one is the transport's
// identity again, never a connection made with the other certificate.
TEST_F(CurlTransportTlsTest, RequestClientCertificateReplacesTheTransportsForThatRequest) {
  auto server = startServer(/*require_client_cert=*/true);
  CurlTransportOptions options;
  options.tls.ca_pem = tls_->ca.caCertPem();
  options.tls.client_cert_pem = tls_->client.cert_pem;
  options.tls.client_key_pem = tls_->client.key_pem;
  Result<TransportPtr> t = makeCurlTransport(options);
  ASSERT_TRUE(t.has_value()) << t.error().toString();
  const IssuedCert rotated = tls_->ca.issueClientCert("plugin-user");
  Request with_own = makeRequest("GET", server->url("/hello", "localhost"));
  with_own.client_certificate = ClientCertificate{rotated.cert_pem, rotated.key_pem};
  for (int round = 0; round < 2; ++round) {
    Result<Response> own = (*t)->send(with_own);
    ASSERT_TRUE(own.has_value()) << own.error().toString();
    EXPECT_EQ(own->header("X-Peer"), "plugin-user");
    Result<Response> transports =
        (*t)->send(makeRequest("GET", server->url("/hello", "localhost")));
    ASSERT_TRUE(transports.has_value()) << transports.error().toString();
    EXPECT_EQ(transports->header("X-Peer"), "test-user");
  }
}

// TLS connections are reused too: two calls, one handshake, one client port.
TEST_F(CurlTransportTlsTest, ReusesTlsConnection) {
  auto server = startServer();
  CurlTransportOptions options;
  options.tls.ca_pem = tls_->ca.caCertPem();
  Result<TransportPtr> t = makeCurlTransport(options);
  ASSERT_TRUE(t.has_value());
  Result<Response> first = (*t)->send(makeRequest("GET", server->url("/hello", "localhost")));
  Result<Response> second = (*t)->send(makeRequest("GET", server->url("/hello", "localhost")));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->header("X-Port"), second->header("X-Port"));
}

}  // namespace
}  // namespace opsy::http

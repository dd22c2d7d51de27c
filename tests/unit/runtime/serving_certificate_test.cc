// The certificate protected /metrics presents: from files (and their rotation on disk), or
// self-signed; checked by real TLS handshakes of a client that trusts one CA or the other.
#include "opsy/runtime/serving_certificate.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include "support/test_pki.h"

namespace opsy::runtime {
namespace {

namespace fs = std::filesystem;

// An HTTPS server on 127.0.0.1 presenting `certificate`, answering "ok" on /.
class TlsServer {
 public:
  explicit TlsServer(ServingCertificatePtr certificate)
      : certificate_(std::move(certificate)),
        server_([this](SSL_CTX& ctx) { return certificate_->configure(ctx).has_value(); }) {
    server_.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~TlsServer() {
    server_.stop();
    thread_.join();
  }
  // Whether a client trusting only the CA in `ca_file` completes a request.
  bool trustedBy(const std::string& ca_file) const {
    httplib::SSLClient client("127.0.0.1", port_);
    client.set_ca_cert_path(ca_file.c_str());
    client.enable_server_certificate_verification(true);
    client.set_connection_timeout(2);
    auto res = client.Get("/");
    return res && res->status == 200;
  }

 private:
  ServingCertificatePtr certificate_;
  httplib::SSLServer server_;
  std::thread thread_;
  int port_ = 0;
};

class ServingCertificateTest : public ::testing::Test {
 protected:
  // Replaces the pair the way a Secret volume update does: new files, then a rename over the old.
  void install(const testing::IssuedCert& cert) {
    const std::string tmp_cert = dir_.write("tls.crt.new", cert.cert_pem);
    const std::string tmp_key = dir_.write("tls.key.new", cert.key_pem);
    fs::rename(tmp_key, keyFile());
    fs::rename(tmp_cert, certFile());
  }
  std::string certFile() const { return dir_.path() + "/tls.crt"; }
  std::string keyFile() const { return dir_.path() + "/tls.key"; }

  testing::TempDir dir_;
  testing::TestPki ca1_ = testing::TestPki::create("ca one");
  testing::TestPki ca2_ = testing::TestPki::create("ca two");
  std::string ca1_file_ = dir_.write("ca1.crt", ca1_.caCertPem());
  std::string ca2_file_ = dir_.write("ca2.crt", ca2_.caCertPem());
};

// A pair from files is presented; a rotated pair is presented from the next handshake on, without
// a restart; a half-written rotation (key of another certificate) keeps the previous pair serving.
TEST_F(ServingCertificateTest, FilesAreServedAndRotatedWithoutRestart) {
  install(ca1_.issueServerCert({"127.0.0.1"}));
  auto certificate = ServingCertificate::fromFiles(certFile(), keyFile());
  ASSERT_TRUE(certificate.has_value()) << certificate.error().message;
  TlsServer server(*certificate);
  EXPECT_TRUE(server.trustedBy(ca1_file_));
  EXPECT_FALSE(server.trustedBy(ca2_file_));

  install(ca2_.issueServerCert({"127.0.0.1"}));
  EXPECT_TRUE(server.trustedBy(ca2_file_));
  EXPECT_FALSE(server.trustedBy(ca1_file_));

  // Only the certificate changed so far: it does not match the key, so the CA-two pair stays.
  dir_.write("tls.crt", ca1_.issueServerCert({"127.0.0.1"}).cert_pem);
  EXPECT_TRUE(server.trustedBy(ca2_file_));
  install(ca1_.issueServerCert({"127.0.0.1"}));
  EXPECT_TRUE(server.trustedBy(ca1_file_));
}

// Missing, malformed and mismatched files fail at start, naming the file.
TEST_F(ServingCertificateTest, BadFilesAreRefusedNamingTheFile) {
  auto missing = ServingCertificate::fromFiles(certFile(), keyFile());
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find(certFile()), std::string::npos);

  const testing::IssuedCert one = ca1_.issueServerCert({"127.0.0.1"});
  const testing::IssuedCert two = ca1_.issueServerCert({"127.0.0.1"});
  dir_.write("tls.crt", "not a certificate");
  dir_.write("tls.key", one.key_pem);
  auto malformed = ServingCertificate::fromFiles(certFile(), keyFile());
  ASSERT_FALSE(malformed.has_value());
  EXPECT_EQ(malformed.error().message, certFile() + ": no PEM certificate in it");

  dir_.write("tls.crt", one.cert_pem);
  dir_.write("tls.key", two.key_pem);
  auto mismatched = ServingCertificate::fromFiles(certFile(), keyFile());
  ASSERT_FALSE(mismatched.has_value());
  EXPECT_EQ(mismatched.error().message,
            keyFile() + " is not the private key of the certificate in " + certFile());
}

// Without files a self-signed certificate for the given names is made: a client that pins it
// (trusts exactly it) connects to 127.0.0.1, one trusting another CA does not.
TEST_F(ServingCertificateTest, SelfSignedCertificateServesItsNames) {
  auto certificate = ServingCertificate::selfSigned({"controller-0", "localhost", "127.0.0.1"});
  ASSERT_TRUE(certificate.has_value()) << certificate.error().message;
  TlsServer server(*certificate);
  const std::string pinned = dir_.write("self.crt", (*certificate)->certificatePem());
  EXPECT_TRUE(server.trustedBy(pinned));
  EXPECT_FALSE(server.trustedBy(ca1_file_));
}

}  // namespace
}  // namespace opsy::runtime

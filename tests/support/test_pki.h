// File: test_pki.h
//
// Certificates for TLS tests, generated at test time with OpenSSL so none are checked in or can
// expire: a CA that issues server certificates (DNS names and IP addresses) and client
// certificates (CN = user, O = groups, as Kubernetes reads them). Keys are EC P-256, which is fast
// to generate. LoopbackTls bundles the usual set for servers on 127.0.0.1.
//
//   auto tls = testing::LoopbackTls::create();
//   testing::TempDir dir;
//   testing::LoopbackTls::Files files = tls.writeTo(dir);  // files.server_cert, files.ca_cert...
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <vector>

namespace opsy::testing {

// The CN of the client certificate the peer of `ssl` presented, or "<none>" (null `ssl`, or no
// certificate): what a TLS test server answers so a test sees which identity arrived.
std::string peerCommonName(const SSL* ssl);

struct IssuedCert {
  std::string cert_pem;
  std::string key_pem;
};

class TestPki {
 public:
  // A new self-signed CA. Aborts if OpenSSL fails, which only happens when it is broken.
  static TestPki create(const std::string& common_name = "opsy test ca");

  const std::string& caCertPem() const { return ca_cert_pem_; }
  const std::string& caKeyPem() const { return ca_key_pem_; }

  // A server certificate whose subjectAltName holds each name: an IP address ("127.0.0.1",
  // "::1") becomes an IP entry, anything else a DNS entry. The first name is also the CN.
  IssuedCert issueServerCert(const std::vector<std::string>& names) const;

  // A client certificate with CN = common_name and one O per organization.
  IssuedCert issueClientCert(const std::string& common_name,
                             const std::vector<std::string>& organizations = {}) const;

 private:
  TestPki() = default;

  std::shared_ptr<EVP_PKEY> key_;
  std::shared_ptr<X509> cert_;
  std::string ca_cert_pem_;
  std::string ca_key_pem_;
};

// A directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the file's full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// The usual TLS test set: a CA, a server certificate for localhost and 127.0.0.1 signed by it, a
// client certificate ("test-user", group "test-group") signed by it, and an unrelated CA that
// trusts neither.
struct LoopbackTls {
  TestPki ca;
  TestPki other_ca;
  IssuedCert server;
  IssuedCert client;

  struct Files {
    std::string ca_cert;
    std::string other_ca_cert;
    std::string server_cert;
    std::string server_key;
    std::string client_cert;
    std::string client_key;
  };

  static LoopbackTls create();
  Files writeTo(const TempDir& dir) const;
};

}  // namespace opsy::testing

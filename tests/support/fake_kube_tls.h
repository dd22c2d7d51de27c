// File: fake_kube_tls.h
//
// The fake Kubernetes API server's TLS identity (internal): a certificate for 127.0.0.1 and
// localhost issued by a fresh test CA (test_pki.h). pem() is the CA that clients trust; kubectl
// only sends bearer tokens over TLS, so the fake serves HTTPS when asked to.
//
//   auto cert = makeServingCertificate().value();
//   httplib::SSLServer server(cert.x509(), cert.key());
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "opsy/core/result.h"

namespace opsy::testing {

class ServingCertificate {
 public:
  X509* x509() const { return cert_.get(); }
  EVP_PKEY* key() const { return key_.get(); }
  const std::string& pem() const { return pem_; }
  std::string pemBase64() const;

  friend Result<ServingCertificate> makeServingCertificate();

 private:
  std::shared_ptr<X509> cert_;
  std::shared_ptr<EVP_PKEY> key_;
  std::string pem_;
};

[[nodiscard]] Result<ServingCertificate> makeServingCertificate();

}  // namespace opsy::testing

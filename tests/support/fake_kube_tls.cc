#include "support/fake_kube_tls.h"

#include <openssl/pem.h>

#include <vector>

#include "support/test_pki.h"

namespace opsy::testing {

std::string ServingCertificate::pemBase64() const {
  std::vector<unsigned char> out(4 * ((pem_.size() + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(pem_.data()),
                                static_cast<int>(pem_.size()));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n));
}

Result<ServingCertificate> makeServingCertificate() {
  // A fresh CA per server; clients trust the CA, the server presents the certificate it issued.
  TestPki ca = TestPki::create("fake-kube ca");
  IssuedCert serving = ca.issueServerCert({"127.0.0.1", "localhost"});
  ServingCertificate out;
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(
      BIO_new_mem_buf(serving.cert_pem.data(), static_cast<int>(serving.cert_pem.size())),
      BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(
      BIO_new_mem_buf(serving.key_pem.data(), static_cast<int>(serving.key_pem.size())), BIO_free);
  out.cert_ = std::shared_ptr<X509>(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr),
                                    X509_free);
  out.key_ = std::shared_ptr<EVP_PKEY>(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (out.cert_ == nullptr || out.key_ == nullptr) {
    return fail(ErrorCode::Internal, "cannot load the fake API server's serving certificate");
  }
  out.pem_ = ca.caCertPem();
  return out;
}

}  // namespace opsy::testing

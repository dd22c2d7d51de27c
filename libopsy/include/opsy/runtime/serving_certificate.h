// File: serving_certificate.h
//
// The certificate an HTTPS endpoint of the controller presents (today: protected /metrics). Either
// read from PEM files, as cert-manager or a mounted kubernetes.io/tls Secret provides them, and
// re-read when they change on disk (rotation needs no restart), or, without files, a self-signed
// certificate made in memory at start, as controller-runtime does: scrapers then skip verification
// or pin it, the traffic is still encrypted and the token still checked.
//
//   OPSY_ASSIGN_OR_RETURN(auto cert, ServingCertificate::fromFiles(dir + "/tls.crt", ...));
//   cert->configure(ctx);  // the SSL_CTX of the server; each handshake gets the current pair
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "opsy/core/result.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace opsy::runtime {

class ServingCertificate {
 public:
  // Reads the certificate (leaf first, then its chain) and the private key, which must belong to
  // it. Fails naming the file that is missing or malformed.
  [[nodiscard]] static Result<std::shared_ptr<ServingCertificate>> fromFiles(std::string cert_file,
                                                                             std::string key_file);
  // A fresh P-256 key and a self-signed certificate valid for a year, for these DNS names and IP
  // addresses (e.g. "localhost", "127.0.0.1", the pod's host name).
  [[nodiscard]] static Result<std::shared_ptr<ServingCertificate>> selfSigned(
      const std::vector<std::string>& hosts);

  ~ServingCertificate();
  ServingCertificate(const ServingCertificate&) = delete;
  ServingCertificate& operator=(const ServingCertificate&) = delete;

  // Sets TLS 1.2 as the minimum and makes every handshake on `ctx` present the current pair. The
  // certificate must outlive the context.
  [[nodiscard]] Status configure(SSL_CTX& ctx);

  // With files: reads them again when their size, modification time or inode changed since the
  // last read; a pair that does not load (half-written during a rotation) keeps the previous one
  // in service and is tried again on the next handshake. Called by every handshake.
  void refresh();

  // The PEM of the certificate in service (its leaf), e.g. for a test to trust it.
  std::string certificatePem() const;

  struct Impl;

 private:
  explicit ServingCertificate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

using ServingCertificatePtr = std::shared_ptr<ServingCertificate>;

}  // namespace opsy::runtime

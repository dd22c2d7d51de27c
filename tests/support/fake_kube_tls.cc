#include "support/fake_kube_tls.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <vector>

namespace opsy::testing {

namespace {

Status addExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) {
    return fail(ErrorCode::Internal, std::string("cannot build certificate extension ") + value);
  }
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok();
}

}  // namespace

std::string ServingCertificate::pemBase64() const {
  std::vector<unsigned char> out(4 * ((pem_.size() + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(pem_.data()),
                                static_cast<int>(pem_.size()));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n));
}

Result<ServingCertificate> makeServingCertificate() {
  ServingCertificate out;
  out.key_ = std::shared_ptr<EVP_PKEY>(EVP_EC_gen("P-256"), EVP_PKEY_free);
  out.cert_ = std::shared_ptr<X509>(X509_new(), X509_free);
  if (out.key_ == nullptr || out.cert_ == nullptr) {
    return fail(ErrorCode::Internal, "cannot generate a serving key");
  }
  X509* cert = out.cert_.get();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
  X509_set_pubkey(cert, out.key_.get());
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("fake-kube"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  OPSY_RETURN_IF_ERROR(addExtension(cert, NID_basic_constraints, "critical,CA:TRUE"));
  OPSY_RETURN_IF_ERROR(
      addExtension(cert, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign"));
  OPSY_RETURN_IF_ERROR(addExtension(cert, NID_ext_key_usage, "serverAuth"));
  OPSY_RETURN_IF_ERROR(addExtension(cert, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"));
  if (X509_sign(cert, out.key_.get(), EVP_sha256()) == 0) {
    return fail(ErrorCode::Internal, "cannot sign the serving certificate");
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  out.pem_.assign(data, static_cast<size_t>(size));
  return out;
}

}  // namespace opsy::testing

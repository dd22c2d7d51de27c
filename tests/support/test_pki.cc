#include "support/test_pki.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace opsy::testing {

std::string peerCommonName(const SSL* ssl) {
  X509* cert = ssl != nullptr ? SSL_get1_peer_certificate(ssl) : nullptr;
  if (cert == nullptr) {
    return "<none>";
  }
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
  X509_free(cert);
  return cn;
}
namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "test pki: %s failed: %s\n", what,
               ERR_error_string(ERR_get_error(), nullptr));
  std::abort();
}

void check(int rc, const char* what) {
  if (rc != 1) {
    die(what);
  }
}

template <class T>
T* checkPtr(T* p, const char* what) {
  if (p == nullptr) {
    die(what);
  }
  return p;
}

std::shared_ptr<EVP_PKEY> newKey() {
  return {checkPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), "EC key generation"),
          EVP_PKEY_free};
}

std::string toPem(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(checkPtr(BIO_new(BIO_s_mem()), "BIO_new"),
                                                BIO_free);
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string toPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(checkPtr(BIO_new(BIO_s_mem()), "BIO_new"),
                                                BIO_free);
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext =
      checkPtr(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()), "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, ext, -1), "X509_add_ext");
  X509_EXTENSION_free(ext);
}

void addName(X509_NAME* name, const char* field, const std::string& value) {
  check(
      X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0),
      "X509_NAME_add_entry_by_txt");
}

// A certificate for `key` with the given subject, valid from an hour ago for a day, and not yet
// signed. A random 63-bit serial keeps certificates from one CA distinct.
std::shared_ptr<X509> newCert(EVP_PKEY* key, const std::string& common_name,
                              const std::vector<std::string>& organizations) {
  std::shared_ptr<X509> cert(checkPtr(X509_new(), "X509_new"), X509_free);
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");
  uint64_t serial = 0;
  check(RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial)), "RAND_bytes");
  serial = (serial >> 1) | 1;
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial), "serial");
  checkPtr(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600), "notBefore");
  checkPtr(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600), "notAfter");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  for (const std::string& o : organizations) {
    addName(subject, "O", o);
  }
  addName(subject, "CN", common_name);
  check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");
  return cert;
}

bool isIpAddress(const std::string& name) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

TestPki TestPki::create(const std::string& common_name) {
  TestPki pki;
  pki.key_ = newKey();
  pki.cert_ = newCert(pki.key_.get(), common_name, {});
  X509* cert = pki.cert_.get();
  check(X509_set_issuer_name(cert, X509_get_subject_name(cert)), "X509_set_issuer_name");
  addExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  addExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  addExtension(cert, cert, NID_subject_key_identifier, "hash");
  addExtension(cert, cert, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert, pki.key_.get(), EVP_sha256()) == 0) {
    die("X509_sign");
  }
  pki.ca_cert_pem_ = toPem(cert);
  pki.ca_key_pem_ = toPem(pki.key_.get());
  return pki;
}

IssuedCert TestPki::issueServerCert(const std::vector<std::string>& names) const {
  std::shared_ptr<EVP_PKEY> key = newKey();
  std::shared_ptr<X509> cert = newCert(key.get(), names.empty() ? "server" : names.front(), {});
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.get())),
        "X509_set_issuer_name");
  addExtension(cert.get(), cert_.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExtension(cert.get(), cert_.get(), NID_key_usage, "critical,digitalSignature");
  addExtension(cert.get(), cert_.get(), NID_ext_key_usage, "serverAuth");
  addExtension(cert.get(), cert_.get(), NID_subject_key_identifier, "hash");
  addExtension(cert.get(), cert_.get(), NID_authority_key_identifier, "keyid:always");
  std::string san;
  for (const std::string& name : names) {
    san += (san.empty() ? "" : ",") + std::string(isIpAddress(name) ? "IP:" : "DNS:") + name;
  }
  if (!san.empty()) {
    addExtension(cert.get(), cert_.get(), NID_subject_alt_name, san);
  }
  if (X509_sign(cert.get(), key_.get(), EVP_sha256()) == 0) {
    die("X509_sign");
  }
  return IssuedCert{.cert_pem = toPem(cert.get()), .key_pem = toPem(key.get())};
}

IssuedCert TestPki::issueClientCert(const std::string& common_name,
                                    const std::vector<std::string>& organizations) const {
  std::shared_ptr<EVP_PKEY> key = newKey();
  std::shared_ptr<X509> cert = newCert(key.get(), common_name, organizations);
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.get())),
        "X509_set_issuer_name");
  addExtension(cert.get(), cert_.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExtension(cert.get(), cert_.get(), NID_key_usage, "critical,digitalSignature");
  addExtension(cert.get(), cert_.get(), NID_ext_key_usage, "clientAuth");
  addExtension(cert.get(), cert_.get(), NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert.get(), key_.get(), EVP_sha256()) == 0) {
    die("X509_sign");
  }
  return IssuedCert{.cert_pem = toPem(cert.get()), .key_pem = toPem(key.get())};
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "opsy-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string file = (std::filesystem::path(path_) / name).string();
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) {
    std::fprintf(stderr, "test pki: cannot write %s\n", file.c_str());
    std::abort();
  }
  return file;
}

LoopbackTls LoopbackTls::create() {
  TestPki ca = TestPki::create("opsy test ca");
  TestPki other_ca = TestPki::create("unrelated test ca");
  IssuedCert server = ca.issueServerCert({"localhost", "127.0.0.1"});
  IssuedCert client = ca.issueClientCert("test-user", {"test-group"});
  return LoopbackTls{.ca = std::move(ca),
                     .other_ca = std::move(other_ca),
                     .server = std::move(server),
                     .client = std::move(client)};
}

LoopbackTls::Files LoopbackTls::writeTo(const TempDir& dir) const {
  return Files{.ca_cert = dir.write("ca.crt", ca.caCertPem()),
               .other_ca_cert = dir.write("other-ca.crt", other_ca.caCertPem()),
               .server_cert = dir.write("server.crt", server.cert_pem),
               .server_key = dir.write("server.key", server.key_pem),
               .client_cert = dir.write("client.crt", client.cert_pem),
               .client_key = dir.write("client.key", client.key_pem)};
}

}  // namespace opsy::testing

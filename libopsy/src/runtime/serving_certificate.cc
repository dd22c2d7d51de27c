#include "opsy/runtime/serving_certificate.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "opsy/core/log.h"

namespace opsy::runtime {
namespace {

// Certificate files are small; a larger one is not a certificate and is not read whole.
constexpr std::streamsize kMaxPemBytes = 1 << 20;

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct ChainFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using ChainPtr = std::unique_ptr<STACK_OF(X509), ChainFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// One certificate with its chain and key, shared with handshakes in progress while a rotation
// replaces it.
struct Pair {
  X509Ptr leaf;
  ChainPtr chain;
  PkeyPtr key;
};

std::string opensslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return "unknown OpenSSL error";
  }
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

Result<std::string> readPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(ErrorCode::NotFound, fmt::format("cannot read {}", path));
  }
  std::string text(static_cast<size_t>(kMaxPemBytes) + 1, '\0');
  in.read(text.data(), kMaxPemBytes + 1);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(kMaxPemBytes)) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{} is larger than {} bytes: not a PEM file", path, kMaxPemBytes));
  }
  return text;
}

Result<std::shared_ptr<const Pair>> loadPair(const std::string& cert_file,
                                             const std::string& key_file) {
  OPSY_ASSIGN_OR_RETURN(std::string cert_pem, readPem(cert_file));
  OPSY_ASSIGN_OR_RETURN(std::string key_pem, readPem(key_file));
  auto pair = std::make_shared<Pair>();
  BioPtr cert_bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  pair->leaf.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (pair->leaf == nullptr) {
    ERR_clear_error();
    return fail(ErrorCode::InvalidArgument, fmt::format("{}: no PEM certificate in it", cert_file));
  }
  pair->chain.reset(sk_X509_new_null());
  while (X509* next = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(pair->chain.get(), next);
  }
  ERR_clear_error();  // the end of the file reads as an error
  BioPtr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  pair->key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (pair->key == nullptr) {
    ERR_clear_error();
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{}: no unencrypted PEM private key in it", key_file));
  }
  if (X509_check_private_key(pair->leaf.get(), pair->key.get()) != 1) {
    ERR_clear_error();
    return fail(
        ErrorCode::InvalidArgument,
        fmt::format("{} is not the private key of the certificate in {}", key_file, cert_file));
  }
  return std::shared_ptr<const Pair>(std::move(pair));
}

// What identifies a version of a file on disk: a Secret volume swaps a symlink on update, which
// changes the inode even when size and time would match.
struct FileStamp {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {};
  }
  return {true, st.st_dev, st.st_ino, st.st_size,
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

Status addExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    return fail(ErrorCode::Internal,
                fmt::format("self-signed certificate: extension {}: {}", value, opensslError()));
  }
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (added != 1) {
    return fail(ErrorCode::Internal, "self-signed certificate: " + opensslError());
  }
  return ok();
}

}  // namespace

struct ServingCertificate::Impl {
  std::string cert_file;  // empty for a self-signed certificate
  std::string key_file;
  mutable std::mutex mu;
  std::shared_ptr<const Pair> current;
  FileStamp cert_stamp;
  FileStamp key_stamp;
  // The stamps of a pair that failed to load, so a broken rotation is reported once.
  std::pair<FileStamp, FileStamp> failed_stamps;

  std::shared_ptr<const Pair> pair() const {
    std::lock_guard lock(mu);
    return current;
  }
};

ServingCertificate::ServingCertificate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServingCertificate::~ServingCertificate() = default;

Result<std::shared_ptr<ServingCertificate>> ServingCertificate::fromFiles(std::string cert_file,
                                                                          std::string key_file) {
  auto impl = std::make_unique<Impl>();
  impl->cert_stamp = stampOf(cert_file);
  impl->key_stamp = stampOf(key_file);
  OPSY_ASSIGN_OR_RETURN(impl->current, loadPair(cert_file, key_file));
  impl->cert_file = std::move(cert_file);
  impl->key_file = std::move(key_file);
  return std::shared_ptr<ServingCertificate>(new ServingCertificate(std::move(impl)));
}

Result<std::shared_ptr<ServingCertificate>> ServingCertificate::selfSigned(
    const std::vector<std::string>& hosts) {
  auto pair = std::make_shared<Pair>();
  pair->key.reset(EVP_EC_gen("P-256"));
  pair->leaf.reset(X509_new());
  pair->chain.reset(sk_X509_new_null());
  if (pair->key == nullptr || pair->leaf == nullptr) {
    return fail(ErrorCode::Internal, "self-signed certificate: " + opensslError());
  }
  X509* cert = pair->leaf.get();
  X509_set_version(cert, 2);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert));
  // An hour back: nodes whose clocks run a little behind still accept it.
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
  X509_set_pubkey(cert, pair->key.get());
  X509_NAME* name = X509_get_subject_name(cert);
  const std::string common_name = hosts.empty() ? "localhost" : hosts.front();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  std::string san;
  for (const std::string& host : hosts) {
    unsigned char buf[sizeof(struct in6_addr)];
    const bool ip =
        inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
    if (host.empty() || host.find_first_of(",\n") != std::string::npos) {
      continue;
    }
    san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + host;
  }
  if (!san.empty()) {
    OPSY_RETURN_IF_ERROR(addExtension(cert, NID_subject_alt_name, san));
  }
  OPSY_RETURN_IF_ERROR(addExtension(cert, NID_basic_constraints, "critical,CA:FALSE"));
  OPSY_RETURN_IF_ERROR(addExtension(cert, NID_key_usage, "critical,digitalSignature"));
  OPSY_RETURN_IF_ERROR(addExtension(cert, NID_ext_key_usage, "serverAuth"));
  if (X509_sign(cert, pair->key.get(), EVP_sha256()) == 0) {
    return fail(ErrorCode::Internal, "self-signed certificate: " + opensslError());
  }
  auto impl = std::make_unique<Impl>();
  impl->current = std::move(pair);
  return std::shared_ptr<ServingCertificate>(new ServingCertificate(std::move(impl)));
}

void ServingCertificate::refresh() {
  Impl& d = *impl_;
  if (d.cert_file.empty()) {
    return;
  }
  const FileStamp cert_stamp = stampOf(d.cert_file);
  const FileStamp key_stamp = stampOf(d.key_file);
  {
    std::lock_guard lock(d.mu);
    if ((cert_stamp == d.cert_stamp && key_stamp == d.key_stamp) ||
        d.failed_stamps == std::make_pair(cert_stamp, key_stamp)) {
      return;
    }
  }
  auto loaded = loadPair(d.cert_file, d.key_file);
  std::lock_guard lock(d.mu);
  if (!loaded) {
    d.failed_stamps = {cert_stamp, key_stamp};
    log::get("runtime").warn(
        "serving certificate changed on disk but does not load; keeping the "
        "previous one",
        log::kv("error", loaded.error().message));
    return;
  }
  d.current = std::move(*loaded);
  d.cert_stamp = cert_stamp;
  d.key_stamp = key_stamp;
  d.failed_stamps = {};
  log::get("runtime").info("serving certificate reloaded", log::kv("file", d.cert_file));
}

Status ServingCertificate::configure(SSL_CTX& ctx) {
  if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1) {
    return fail(ErrorCode::Internal, "TLS setup: " + opensslError());
  }
  SSL_CTX_set_cert_cb(
      &ctx,
      [](SSL* ssl, void* arg) -> int {
        auto* self = static_cast<ServingCertificate*>(arg);
        self->refresh();
        std::shared_ptr<const Pair> pair = self->impl_->pair();
        // Copies the references it keeps, so a later rotation cannot free what this handshake
        // still uses.
        return SSL_use_cert_and_key(ssl, pair->leaf.get(), pair->key.get(), pair->chain.get(), 1) ==
                       1
                   ? 1
                   : 0;
      },
      this);
  return ok();
}

std::string ServingCertificate::certificatePem() const {
  std::shared_ptr<const Pair> pair = impl_->pair();
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), pair->leaf.get());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace opsy::runtime

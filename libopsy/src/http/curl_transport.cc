#include "opsy/http/curl_transport.h"

#include <arpa/inet.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <charconv>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <system_error>
#include <vector>

#include "opsy/core/buffer.h"
#include "opsy/core/log.h"
#include "opsy/core/strings.h"

namespace opsy::http {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

[[nodiscard]] Status globalInit() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    return fail(ErrorCode::Internal,
                std::string("curl_global_init failed: ") + curl_easy_strerror(result));
  }
  return ok();
}

// ---- Option validation (OpenSSL parses what curl would otherwise reject at the first call) ----

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// Refuses encrypted keys instead of letting OpenSSL prompt on the terminal.
int noPassword(char*, int, int, void*) {
  return 0;
}

[[nodiscard]] Result<std::string> readFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return fail(ErrorCode::InvalidArgument,
                fmt::format("cannot read {} file {}: {}", what, path,
                            std::error_code(err, std::generic_category()).message()));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return fail(ErrorCode::InvalidArgument, fmt::format("cannot read {} file {}", what, path));
  }
  return content.str();
}

// The PEM text of a file-or-data pair: `source` names it in errors.
[[nodiscard]] Result<std::string> pemOf(const std::string& file, const std::string& pem,
                                        std::string_view what, std::string* source) {
  if (!file.empty() && !pem.empty()) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{}: set either the file or the PEM data, not both", what));
  }
  if (!file.empty()) {
    *source = fmt::format("{} file {}", what, file);
    return readFile(file, what);
  }
  *source = fmt::format("{} PEM data", what);
  return pem;
}

std::vector<X509Ptr> parseCertificates(const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (bio) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, noPassword, nullptr));
    if (!cert) {
      break;
    }
    certs.push_back(std::move(cert));
  }
  // Reaching the end of the text leaves a "no start line" error queued; it must not surface in
  // a later, unrelated TLS failure on this thread.
  ERR_clear_error();
  return certs;
}

PkeyPtr parsePrivateKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key;
  if (bio) {
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassword, nullptr));
  }
  ERR_clear_error();
  return key;
}

[[nodiscard]] Status validateTls(const TlsConfig& tls) {
  std::string source;
  OPSY_ASSIGN_OR_RETURN(std::string ca, pemOf(tls.ca_file, tls.ca_pem, "CA", &source));
  if ((!tls.ca_file.empty() || !tls.ca_pem.empty()) && parseCertificates(ca).empty()) {
    return fail(ErrorCode::InvalidArgument, source + " holds no PEM certificate");
  }

  bool has_cert = !tls.client_cert_file.empty() || !tls.client_cert_pem.empty();
  bool has_key = !tls.client_key_file.empty() || !tls.client_key_pem.empty();
  if (has_cert != has_key) {
    return fail(ErrorCode::InvalidArgument,
                "a client certificate and a client key must be given together");
  }
  if (!has_cert) {
    return ok();
  }
  std::string cert_source;
  OPSY_ASSIGN_OR_RETURN(std::string cert_pem, pemOf(tls.client_cert_file, tls.client_cert_pem,
                                                    "client certificate", &cert_source));
  std::string key_source;
  OPSY_ASSIGN_OR_RETURN(std::string key_pem,
                        pemOf(tls.client_key_file, tls.client_key_pem, "client key", &key_source));
  std::vector<X509Ptr> certs = parseCertificates(cert_pem);
  if (certs.empty()) {
    return fail(ErrorCode::InvalidArgument, cert_source + " holds no PEM certificate");
  }
  PkeyPtr key = parsePrivateKey(key_pem);
  if (!key) {
    return fail(ErrorCode::InvalidArgument, key_source + " holds no unencrypted PEM private key");
  }
  if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{} does not match {}", key_source, cert_source));
  }
  return ok();
}

[[nodiscard]] Status validateOptions(const CurlTransportOptions& o) {
  if (o.connect_timeout <= Duration::zero()) {
    return fail(ErrorCode::InvalidArgument, "connect timeout must be positive");
  }
  if (o.total_timeout < Duration::zero() || o.low_speed_time < Duration::zero() ||
      o.low_speed_limit_bytes < 0) {
    return fail(ErrorCode::InvalidArgument, "timeouts and speed limits must not be negative");
  }
  if (o.tcp_keepalive_idle < std::chrono::seconds(1) ||
      o.tcp_keepalive_interval < std::chrono::seconds(1)) {
    return fail(ErrorCode::InvalidArgument, "TCP keepalive times must be at least a second");
  }
  for (char c : o.user_agent) {
    if (c == '\r' || c == '\n') {
      return fail(ErrorCode::InvalidArgument, "user agent contains a line break");
    }
  }
  return validateTls(o.tls);
}

// ---- Per-request pieces ----

bool isTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!isTokenChar(c)) {
      return false;
    }
  }
  return true;
}

// POST, PUT and PATCH always carry a body (possibly empty, as Content-Length: 0); other methods
// only when the request has one. HEAD never does.
bool sendsBody(const Request& request) {
  const std::string& m = request.method;
  return m != "HEAD" && (!request.body.empty() || m == "POST" || m == "PUT" || m == "PATCH");
}

// The URL as it may appear in logs and error messages: no query string, which can carry
// presigned credentials.
std::string urlForMessages(const std::string& url) {
  return url.substr(0, url.find_first_of("?#"));
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::string takeCurlString(char* s) {
  std::string out = s != nullptr ? s : "";
  curl_free(s);
  return out;
}

// What a request needs beyond its URL when the certificate is checked against another name: the
// URL's host is replaced by that name (so curl sends it as SNI and verifies it), and CONNECT_TO
// sends the connection to the original host and port.
struct Target {
  std::string url;
  std::string connect_to;   // empty: connect to the URL's host
  std::string host_header;  // empty: curl derives Host from the URL
};

[[nodiscard]] Result<Target> resolveTarget(const std::string& url, const std::string& server_name) {
  Target target{.url = url, .connect_to = {}, .host_header = {}};
  if (server_name.empty()) {
    return target;
  }
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return fail(ErrorCode::InvalidArgument, "invalid URL " + urlForMessages(url));
  }
  char* part = nullptr;
  curl_url_get(u.get(), CURLUPART_SCHEME, &part, 0);
  if (takeCurlString(part) != "https") {
    return target;
  }
  part = nullptr;
  curl_url_get(u.get(), CURLUPART_HOST, &part, 0);
  std::string host = takeCurlString(part);
  part = nullptr;
  bool explicit_port = curl_url_get(u.get(), CURLUPART_PORT, &part, 0) == CURLUE_OK;
  std::string given_port = takeCurlString(part);
  part = nullptr;
  curl_url_get(u.get(), CURLUPART_PORT, &part, CURLU_DEFAULT_PORT);
  std::string port = takeCurlString(part);
  if (curl_url_set(u.get(), CURLUPART_HOST, server_name.c_str(), 0) != CURLUE_OK) {
    return fail(ErrorCode::InvalidArgument, "invalid TLS server name " + server_name);
  }
  part = nullptr;
  if (curl_url_get(u.get(), CURLUPART_URL, &part, 0) != CURLUE_OK) {
    return fail(ErrorCode::InvalidArgument, "invalid URL " + urlForMessages(url));
  }
  target.url = takeCurlString(part);
  target.connect_to = server_name + ":" + port + ":" + host + ":" + port;
  target.host_header = explicit_port ? host + ":" + given_port : host;
  return target;
}

// Sends the connection for `url` to `address` (an IP literal) with the URL's host and port kept
// for TLS and Host.
[[nodiscard]] Status pinTarget(Target& target, const std::string& url, const std::string& address) {
  if (!target.connect_to.empty()) {
    return fail(ErrorCode::InvalidArgument,
                "a connect address cannot be combined with a TLS server name");
  }
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return fail(ErrorCode::InvalidArgument, "invalid URL " + urlForMessages(url));
  }
  char* part = nullptr;
  curl_url_get(u.get(), CURLUPART_HOST, &part, 0);
  const std::string host = takeCurlString(part);
  part = nullptr;
  curl_url_get(u.get(), CURLUPART_PORT, &part, CURLU_DEFAULT_PORT);
  const std::string port = takeCurlString(part);
  in6_addr v6{};
  const bool ipv6 = inet_pton(AF_INET6, address.c_str(), &v6) == 1;
  in_addr v4{};
  if (!ipv6 && inet_pton(AF_INET, address.c_str(), &v4) != 1) {
    return fail(ErrorCode::InvalidArgument, "connect address " + address + " is not an IP address");
  }
  target.connect_to = host + ":" + port + ":" + (ipv6 ? "[" + address + "]" : address) + ":" + port;
  return ok();
}

// State shared with the curl callbacks of one call.
struct Transfer {
  Response response;
  const StreamHandler* handler = nullptr;
  const CancelToken* cancel = nullptr;
  bool head_delivered = false;
  bool stopped_by_handler = false;
  std::string callback_error;  // a handler threw; reported as Internal
  // send(): the body limit (0: none) and whether the response went over it.
  size_t max_body = 0;
  bool body_too_large = false;
  // Request::idle_timeout: when the last byte of the response arrived, and whether the wait for
  // the next one ran out.
  std::optional<std::chrono::steady_clock::duration> idle_timeout;
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  bool idle_expired = false;
};

// The Content-Length of the response so far, when it has a valid one.
std::optional<size_t> contentLength(const Response& response) {
  std::optional<std::string_view> value = response.header("Content-Length");
  size_t length = 0;
  if (!value ||
      std::from_chars(value->data(), value->data() + value->size(), length).ec != std::errc()) {
    return std::nullopt;
  }
  return length;
}

void deliverHead(Transfer& t) {
  t.head_delivered = true;
  if (t.handler->on_headers) {
    t.handler->on_headers(t.response);
  }
}

size_t onHeaderLine(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t length = size * count;
  t->last_activity = std::chrono::steady_clock::now();
  std::string_view line(data, length);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
    line.remove_suffix(1);
  }
  if (line.empty()) {
    return length;
  }
  // A status line starts a new response (after 1xx, or a proxy's CONNECT reply): only the final
  // response's headers are kept.
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();
    size_t space = line.find(' ');
    if (space != std::string_view::npos) {
      std::string_view code = line.substr(space + 1, 3);
      int status = 0;
      if (std::from_chars(code.data(), code.data() + code.size(), status).ec == std::errc()) {
        t->response.status = status;
      }
    }
    return length;
  }
  if ((line.front() == ' ' || line.front() == '\t') && !t->response.headers.empty()) {
    std::string& value = t->response.headers.back().second;
    value.push_back(' ');
    value.append(trimSpace(line));
    return length;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return length;
  }
  t->response.headers.emplace_back(std::string(line.substr(0, colon)),
                                   std::string(trimSpace(line.substr(colon + 1))));
  return length;
}

size_t onBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t length = size * count;
  t->last_activity = std::chrono::steady_clock::now();
  if (t->handler == nullptr) {
    std::string& body = t->response.body;
    if (t->max_body > 0 && length > t->max_body - body.size()) {
      // Stop before keeping more than the limit: curl ends the transfer and closes the
      // connection, whatever is still on its way.
      t->body_too_large = true;
      return 0;
    }
    if (body.empty()) {
      // A body of known length is read into one buffer, not grown by doubling.
      if (std::optional<size_t> expected = contentLength(t->response);
          expected && (t->max_body == 0 || *expected <= t->max_body)) {
        body.reserve(*expected);
      }
    }
    reserveToAppend(body, length, t->max_body);
    body.append(data, length);
    return length;
  }
  // Handler exceptions must not unwind through curl's C frames.
  try {
    if (!t->head_delivered) {
      deliverHead(*t);
    }
    if (t->handler->on_data && !t->handler->on_data(std::string_view(data, length))) {
      t->stopped_by_handler = true;
      return 0;  // curl stops with CURLE_WRITE_ERROR, which perform() turns into success
    }
  } catch (const std::exception& e) {
    t->callback_error = e.what();
    return 0;
  } catch (...) {
    t->callback_error = "unknown exception";
    return 0;
  }
  return length;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel != nullptr && t->cancel->cancelled()) {
    return 1;
  }
  if (t->idle_timeout && std::chrono::steady_clock::now() - t->last_activity > *t->idle_timeout) {
    t->idle_expired = true;
    return 1;
  }
  return 0;
}

Error mapCurlError(CURLcode code, const char* error_buffer, const Request& request) {
  // The error buffer holds curl's first complaint, which can be an earlier, non-fatal one, so
  // connection failures name the final result as well.
  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  std::string summary = curl_easy_strerror(code);
  if (detail != summary) {
    summary += " (" + detail + ")";
  }
  std::string where = request.method + " " + urlForMessages(request.url);
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    // The handshake was cut off (reset or closed): retryable. A server that rejects our client
    // certificate also lands here or in SEND/RECV_ERROR, since TLS 1.3 reports that only after
    // the handshake; the message then carries OpenSSL's alert text.
    case CURLE_SSL_CONNECT_ERROR: return Error{ErrorCode::Unavailable, where + ": " + summary};
    case CURLE_OPERATION_TIMEDOUT:
      return Error{ErrorCode::DeadlineExceeded, where + ": timed out: " + detail};
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return Error{ErrorCode::FailedPrecondition,
                   where + ": server certificate verification failed: " + detail};
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
      return Error{ErrorCode::FailedPrecondition,
                   where + ": cannot load trusted CA certificates: " + detail};
    case CURLE_SSL_CERTPROBLEM:
      return Error{ErrorCode::FailedPrecondition,
                   where + ": client certificate or key unusable: " + detail};
    case CURLE_ABORTED_BY_CALLBACK: return Error{ErrorCode::Cancelled, where + ": cancelled"};
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Error{ErrorCode::InvalidArgument, where + ": " + summary};
    default: return Error{ErrorCode::Internal, where + ": " + summary};
  }
}

// Collects the first failing curl_easy_setopt, keeping curl's compile-time type checks on each
// call site.
class SetoptCheck {
 public:
  void operator()(CURLcode code, const char* option) {
    if (code != CURLE_OK && first_error_ == CURLE_OK) {
      first_error_ = code;
      option_ = option;
    }
  }
  [[nodiscard]] Status status() const {
    if (first_error_ == CURLE_OK) {
      return ok();
    }
    return fail(ErrorCode::Internal, fmt::format("curl rejected option {}: {}", option_,
                                                 curl_easy_strerror(first_error_)));
  }

 private:
  CURLcode first_error_ = CURLE_OK;
  const char* option_ = "";
};

long toMillis(Duration d) {
  return static_cast<long>(duration_cast<milliseconds>(d).count());
}

long toSeconds(Duration d) {
  return std::max(1L, static_cast<long>(std::chrono::ceil<std::chrono::seconds>(d).count()));
}

class CurlTransportImpl final : public Transport {
 public:
  explicit CurlTransportImpl(CurlTransportOptions options) : options_(std::move(options)) {}

  ~CurlTransportImpl() override {
    for (CURL* handle : idle_) {
      curl_easy_cleanup(handle);
    }
  }

  CurlTransportImpl(const CurlTransportImpl&) = delete;
  CurlTransportImpl& operator=(const CurlTransportImpl&) = delete;

  // Applies the TLS options to a scratch handle, so a libcurl that cannot honour them (another
  // TLS backend without PEM blobs) fails at construction rather than at the first request.
  [[nodiscard]] Status probeTlsOptions() {
    CURL* handle = acquire();
    if (handle == nullptr) {
      return fail(ErrorCode::Internal, "curl_easy_init failed");
    }
    Lease lease(*this, handle);
    SetoptCheck check;
    configureTls(handle, check);
    Status status = check.status();
    if (!status) {
      return fail(ErrorCode::FailedPrecondition,
                  "this libcurl cannot apply the TLS options: " + status.error().message);
    }
    return ok();
  }

  Result<Response> send(const Request& request) override {
    return perform(request, nullptr, nullptr);
  }

  Result<Response> stream(const Request& request, const StreamHandler& handler,
                          const CancelToken& cancel) override {
    return perform(request, &handler, &cancel);
  }

 private:
  // A pooled handle for the length of one call; curl_easy_reset on return clears every option but
  // keeps the handle's open connections for the next call.
  class Lease {
   public:
    Lease(CurlTransportImpl& owner, CURL* handle) : owner_(owner), handle_(handle) {}
    ~Lease() { owner_.release(handle_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    CURL* get() const { return handle_; }

   private:
    CurlTransportImpl& owner_;
    CURL* handle_;
  };

  CURL* acquire() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        CURL* handle = idle_.back();
        idle_.pop_back();
        return handle;
      }
    }
    return curl_easy_init();
  }

  void release(CURL* handle) {
    curl_easy_reset(handle);
    {
      std::lock_guard lock(mu_);
      if (idle_.size() < options_.max_idle_handles) {
        idle_.push_back(handle);
        return;
      }
    }
    curl_easy_cleanup(handle);
  }

  [[nodiscard]] Result<SlistPtr> buildHeaders(const Request& request, const Target& target,
                                              bool has_body) const {
    SlistPtr list;
    auto append = [&list](const std::string& line) {
      curl_slist* next = curl_slist_append(list.get(), line.c_str());
      if (next == nullptr) {
        return false;
      }
      (void)list.release();
      list.reset(next);
      return true;
    };
    bool ok_so_far = true;
    for (const auto& [name, value] : request.headers) {
      if (!isToken(name) || value.find_first_of("\r\n") != std::string::npos) {
        return fail(ErrorCode::InvalidArgument,
                    "invalid request header " + (isToken(name) ? name : std::string("name")));
      }
      // "Name;" is curl's spelling of a header with an empty value.
      ok_so_far = ok_so_far && append(value.empty() ? name + ";" : name + ": " + value);
    }
    if (!target.host_header.empty() && !findHeader(request.headers, "Host")) {
      ok_so_far = ok_so_far && append("Host: " + target.host_header);
    }
    if (has_body) {
      // No 100-continue round trip, and no form Content-Type the caller did not ask for.
      if (!findHeader(request.headers, "Expect")) {
        ok_so_far = ok_so_far && append("Expect:");
      }
      if (!findHeader(request.headers, "Content-Type")) {
        ok_so_far = ok_so_far && append("Content-Type:");
      }
    }
    if (!ok_so_far) {
      return fail(ErrorCode::Internal, "out of memory building request headers");
    }
    return list;
  }

  [[nodiscard]] Status configure(CURL* h, const Request& request, const Target& target,
                                 curl_slist* headers, curl_slist* connect_to, Transfer& transfer,
                                 char* error_buffer, bool streaming) const {
    SetoptCheck check;
    check(curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer), "ERRORBUFFER");
    check(curl_easy_setopt(h, CURLOPT_URL, target.url.c_str()), "URL");
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85 replaced the bitmask option with a string
    check(curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https"), "PROTOCOLS_STR");
#else
    check(
        curl_easy_setopt(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS)),
        "PROTOCOLS");
#endif
    check(curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L), "NOSIGNAL");
    check(curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L), "FOLLOWLOCATION");
    check(curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L), "TCP_KEEPALIVE");
    check(curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, toSeconds(options_.tcp_keepalive_idle)),
          "TCP_KEEPIDLE");
    check(curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, toSeconds(options_.tcp_keepalive_interval)),
          "TCP_KEEPINTVL");
    check(curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L), "SUPPRESS_CONNECT_HEADERS");

    const std::string& method = request.method;
    bool send_body = sendsBody(request);
    if (method == "HEAD") {
      check(curl_easy_setopt(h, CURLOPT_NOBODY, 1L), "NOBODY");
    } else if (method == "POST") {
      check(curl_easy_setopt(h, CURLOPT_POST, 1L), "POST");
    } else if (method != "GET" || send_body) {
      check(curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str()), "CUSTOMREQUEST");
    }
    if (send_body) {
      check(curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(request.body.size())),
            "POSTFIELDSIZE_LARGE");
      check(curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data()), "POSTFIELDS");
    }
    if (headers != nullptr) {
      check(curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers), "HTTPHEADER");
    }
    if (!options_.user_agent.empty()) {
      check(curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str()), "USERAGENT");
    }
    if (connect_to != nullptr) {
      check(curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to), "CONNECT_TO");
    }

    check(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, toMillis(options_.connect_timeout)),
          "CONNECTTIMEOUT_MS");
    std::optional<Duration> total =
        request.timeout ? request.timeout
                        : (streaming ? std::nullopt : std::optional(options_.total_timeout));
    if (total && *total > Duration::zero()) {
      check(curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, toMillis(*total)), "TIMEOUT_MS");
    }
    if (!streaming && options_.low_speed_limit_bytes > 0 &&
        options_.low_speed_time > Duration::zero()) {
      long seconds = std::max(
          1L, static_cast<long>(
                  std::chrono::ceil<std::chrono::seconds>(options_.low_speed_time).count()));
      check(curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_limit_bytes),
            "LOW_SPEED_LIMIT");
      check(curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, seconds), "LOW_SPEED_TIME");
    }
    if (!streaming && transfer.max_body > 0) {
      // Refuses a longer body by its Content-Length before any of it is read.
      check(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                             static_cast<curl_off_t>(transfer.max_body)),
            "MAXFILESIZE_LARGE");
    }
    if (!options_.proxy.empty()) {
      check(curl_easy_setopt(h, CURLOPT_PROXY, options_.proxy.c_str()), "PROXY");
    }

    configureTls(h, check);
    if (request.client_certificate) {
      // Replaces the transport's identity for this request; curl keeps connections made with
      // another certificate apart.
      check(curl_easy_setopt(h, CURLOPT_SSLCERT, nullptr), "SSLCERT");
      check(curl_easy_setopt(h, CURLOPT_SSLKEY, nullptr), "SSLKEY");
      curl_blob cert = pemBlob(request.client_certificate->cert_pem);
      check(curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert), "SSLCERT_BLOB");
      curl_blob key = pemBlob(request.client_certificate->key_pem);
      check(curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key), "SSLKEY_BLOB");
      check(curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM"), "SSLCERTTYPE");
      check(curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM"), "SSLKEYTYPE");
    }

    check(curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeaderLine), "HEADERFUNCTION");
    check(curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer), "HEADERDATA");
    check(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody), "WRITEFUNCTION");
    check(curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer), "WRITEDATA");
    if (transfer.cancel != nullptr || transfer.idle_timeout) {
      // curl calls this at least once a second even while the server sends nothing.
      check(curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, onProgress), "XFERINFOFUNCTION");
      check(curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer), "XFERINFODATA");
      check(curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L), "NOPROGRESS");
    }
    return check.status();
  }

  void configureTls(CURL* h, SetoptCheck& check) const {
    const TlsConfig& tls = options_.tls;
    check(curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, tls.verify ? 1L : 0L), "SSL_VERIFYPEER");
    check(curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, tls.verify ? 2L : 0L), "SSL_VERIFYHOST");
    if (!tls.ca_file.empty() || !tls.ca_pem.empty()) {
      // The configured CA replaces the system store rather than adding to it.
      check(curl_easy_setopt(h, CURLOPT_CAPATH, nullptr), "CAPATH");
      if (!tls.ca_file.empty()) {
        check(curl_easy_setopt(h, CURLOPT_CAINFO, tls.ca_file.c_str()), "CAINFO");
      } else {
        check(curl_easy_setopt(h, CURLOPT_CAINFO, nullptr), "CAINFO");
        curl_blob blob = pemBlob(tls.ca_pem);
        check(curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob), "CAINFO_BLOB");
      }
    }
    if (!tls.client_cert_file.empty()) {
      check(curl_easy_setopt(h, CURLOPT_SSLCERT, tls.client_cert_file.c_str()), "SSLCERT");
    } else if (!tls.client_cert_pem.empty()) {
      curl_blob blob = pemBlob(tls.client_cert_pem);
      check(curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob), "SSLCERT_BLOB");
    }
    if (!tls.client_key_file.empty()) {
      check(curl_easy_setopt(h, CURLOPT_SSLKEY, tls.client_key_file.c_str()), "SSLKEY");
    } else if (!tls.client_key_pem.empty()) {
      curl_blob blob = pemBlob(tls.client_key_pem);
      check(curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob), "SSLKEY_BLOB");
    }
    if (!tls.client_cert_file.empty() || !tls.client_cert_pem.empty()) {
      check(curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM"), "SSLCERTTYPE");
      check(curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM"), "SSLKEYTYPE");
    }
  }

  static curl_blob pemBlob(const std::string& pem) {
    // CURL_BLOB_COPY: curl keeps its own copy for as long as the handle needs it.
    return curl_blob{
        .data = const_cast<char*>(pem.data()), .len = pem.size(), .flags = CURL_BLOB_COPY};
  }

  Result<Response> perform(const Request& request, const StreamHandler* handler,
                           const CancelToken* cancel) {
    if (!isToken(request.method)) {
      return fail(ErrorCode::InvalidArgument, "invalid HTTP method '" + request.method + "'");
    }
    if (request.timeout && *request.timeout < Duration::zero()) {
      return fail(ErrorCode::InvalidArgument, "request timeout must not be negative");
    }
    if (request.idle_timeout && *request.idle_timeout <= Duration::zero()) {
      return fail(ErrorCode::InvalidArgument, "request idle timeout must be positive");
    }
    if (cancel != nullptr && cancel->cancelled()) {
      return fail(ErrorCode::Cancelled,
                  request.method + " " + urlForMessages(request.url) + ": cancelled");
    }
    OPSY_ASSIGN_OR_RETURN(Target target, resolveTarget(request.url, options_.tls.server_name));
    if (request.connect_address) {
      OPSY_RETURN_IF_ERROR(pinTarget(target, request.url, *request.connect_address));
    }
    OPSY_ASSIGN_OR_RETURN(SlistPtr headers, buildHeaders(request, target, sendsBody(request)));
    SlistPtr connect_to;
    if (!target.connect_to.empty()) {
      connect_to.reset(curl_slist_append(nullptr, target.connect_to.c_str()));
    }

    Transfer transfer;
    transfer.handler = handler;
    transfer.cancel = cancel;
    transfer.max_body = handler == nullptr ? options_.max_response_body_bytes : 0;
    if (request.idle_timeout) {
      transfer.idle_timeout =
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(*request.idle_timeout);
    }
    char error_buffer[CURL_ERROR_SIZE] = {};

    CURL* raw = acquire();
    if (raw == nullptr) {
      return fail(ErrorCode::Internal, "curl_easy_init failed");
    }
    // Declared after everything the handle points at, so it is reset before they go away.
    Lease lease(*this, raw);
    OPSY_RETURN_IF_ERROR(configure(lease.get(), request, target, headers.get(), connect_to.get(),
                                   transfer, error_buffer, handler != nullptr));
    transfer.last_activity = std::chrono::steady_clock::now();
    CURLcode code = curl_easy_perform(lease.get());

    if (transfer.body_too_large || code == CURLE_FILESIZE_EXCEEDED) {
      return fail(Error(ErrorCode::ResourceExhausted,
                        fmt::format("{} {}: response body exceeds {} bytes (status {}); the "
                                    "transfer was aborted",
                                    request.method, urlForMessages(request.url), transfer.max_body,
                                    transfer.response.status))
                      .withHttpStatus(transfer.response.status));
    }
    if (transfer.idle_expired) {
      return fail(ErrorCode::DeadlineExceeded,
                  fmt::format("{} {}: nothing received for {} ms; the connection was dropped",
                              request.method, urlForMessages(request.url),
                              toMillis(*request.idle_timeout)));
    }
    if (!transfer.callback_error.empty()) {
      return fail(ErrorCode::Internal, request.method + " " + urlForMessages(request.url) +
                                           ": stream handler failed: " + transfer.callback_error);
    }
    bool stopped = code == CURLE_WRITE_ERROR && transfer.stopped_by_handler;
    if (code != CURLE_OK && !stopped) {
      Error error = mapCurlError(code, error_buffer, request);
      log::get("http").debug("request failed",
                             log::kv("method", request.method, "url", urlForMessages(request.url),
                                     "error", error.toString()));
      return fail(std::move(error));
    }
    long status = 0;
    if (curl_easy_getinfo(lease.get(), CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status != 0) {
      transfer.response.status = static_cast<int>(status);
    }
    if (handler != nullptr && !transfer.head_delivered) {
      try {
        deliverHead(transfer);
      } catch (const std::exception& e) {
        return fail(ErrorCode::Internal, request.method + " " + urlForMessages(request.url) +
                                             ": stream handler failed: " + e.what());
      }
    }
    return std::move(transfer.response);
  }

  CurlTransportOptions options_;
  std::mutex mu_;
  std::vector<CURL*> idle_;
};

}  // namespace

Result<TransportPtr> makeCurlTransport(CurlTransportOptions options) {
  OPSY_RETURN_IF_ERROR(globalInit());
  OPSY_RETURN_IF_ERROR(validateOptions(options));
  if (!options.tls.verify) {
    log::get("http").warn("tls verification disabled",
                          log::kv("server_name", options.tls.server_name));
  }
  auto transport = std::make_shared<CurlTransportImpl>(std::move(options));
  OPSY_RETURN_IF_ERROR(transport->probeTlsOptions());
  return TransportPtr(std::move(transport));
}

}  // namespace opsy::http

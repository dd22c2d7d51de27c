#include "opsy/aws/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "aws/url.h"
#include "opsy/core/time_format.h"

namespace opsy::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kHexDigits = "0123456789abcdef";

// Headers SigV4 must not sign: they are changed or added by proxies and HTTP stacks on the way.
constexpr std::array<std::string_view, 12> kUnsignedHeaders = {"authorization",
                                                               "user-agent",
                                                               "expect",
                                                               "x-amzn-trace-id",
                                                               "connection",
                                                               "keep-alive",
                                                               "te",
                                                               "proxy-authenticate",
                                                               "trailer",
                                                               "upgrade",
                                                               "transfer-encoding",
                                                               "proxy-authorization"};

std::string toHex(const unsigned char* data, size_t n) {
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHexDigits[data[i] >> 4]);
    out.push_back(kHexDigits[data[i] & 0xf]);
  }
  return out;
}

bool isUnreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
}

// Trims the value and collapses each run of whitespace (including folded lines) to one space.
std::string canonicalHeaderValue(std::string_view value) {
  // Most values (tokens, dates, hashes) have no whitespace to trim or collapse.
  if (std::none_of(value.begin(), value.end(),
                   [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; })) {
    return std::string(value);
  }
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    out.push_back(c);
  }
  return out;
}

bool isUnsigned(std::string_view lower_name) {
  return std::find(kUnsignedHeaders.begin(), kUnsignedHeaders.end(), lower_name) !=
         kUnsignedHeaders.end();
}

// One header as it is signed: lower-case name and canonical value. Both are views, into the
// request or into the owning HeaderSet's buffer.
struct SignedHeader {
  std::string_view name;
  std::string_view value;
};

bool hasUpper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// Whether `s` holds a space, tab, CR or LF. Header values are checked on every signature and the
// session token is ~1 KB, so eight bytes are tested at a time for any byte below 0x21 (the
// classic "has a byte less than n" word trick), and only such a word is looked at byte by byte.
bool hasWhitespace(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    if (((word - kOnes * 0x21) & ~word & kHighs) != 0 &&
        std::any_of(s.begin() + i, s.begin() + i + 8, isSpace)) {
      return true;
    }
  }
  return std::any_of(s.begin() + i, s.end(), isSpace);
}

// The headers to sign, sorted by name, repeated names joined with commas in the order sent; host
// comes from the URL when the request has none. Every request is signed, so this avoids a map and
// per-header strings: names already lower case and values without whitespace to collapse (almost
// all of them, the session token included) are not copied; the rest go into one buffer sized up
// front, so views into it stay valid.
class HeaderSet {
 public:
  HeaderSet(const http::Request& request, const UrlParts& url) {
    size_t need = url.host.size() + url.port.size() + 8;
    for (const auto& [name, value] : request.headers) {
      need += name.size() + 2 * value.size() + 2;
    }
    if (need > inline_.size()) {
      heap_ = std::make_unique<char[]>(need);
      data_ = heap_.get();
    }
    headers_.reserve(request.headers.size() + 1);
    bool has_host = false;
    for (const auto& [name, value] : request.headers) {
      std::string_view key = name;
      if (hasUpper(key)) {
        key = keepLower(key);
      }
      if (isUnsigned(key)) {
        continue;
      }
      has_host = has_host || key == "host";
      std::string_view v = value;
      if (hasWhitespace(v)) {
        v = keep(canonicalHeaderValue(v));
      }
      headers_.push_back({key, v});
    }
    if (!has_host) {
      headers_.push_back({"host", keep(url.hostHeader())});
    }
    // Insertion sort: a request has a handful of headers, and it is stable, which keeps repeated
    // names in the order they were sent.
    for (size_t i = 1; i < headers_.size(); ++i) {
      SignedHeader h = headers_[i];
      size_t j = i;
      for (; j > 0 && headers_[j - 1].name > h.name; --j) {
        headers_[j] = headers_[j - 1];
      }
      headers_[j] = h;
    }
    joinRepeated();
  }
  HeaderSet(const HeaderSet&) = delete;
  HeaderSet& operator=(const HeaderSet&) = delete;

  const std::vector<SignedHeader>& headers() const { return headers_; }

  // "content-type;host;x-amz-date".
  std::string signedList() const {
    size_t size = headers_.size();
    for (const SignedHeader& h : headers_) {
      size += h.name.size();
    }
    std::string out;
    out.reserve(size);
    for (const SignedHeader& h : headers_) {
      if (!out.empty()) {
        out.push_back(';');
      }
      out.append(h.name);
    }
    return out;
  }

 private:
  // Appends to the buffer, which was sized for the worst case up front and never moves.
  std::string_view keep(std::string_view text) {
    char* at = data_ + size_;
    std::memcpy(at, text.data(), text.size());
    size_ += text.size();
    return {at, text.size()};
  }

  std::string_view keepLower(std::string_view text) {
    char* at = data_ + size_;
    for (size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      at[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    size_ += text.size();
    return {at, text.size()};
  }

  void joinRepeated() {
    size_t out = 0;
    for (size_t i = 0; i < headers_.size();) {
      size_t j = i + 1;
      while (j < headers_.size() && headers_[j].name == headers_[i].name) {
        ++j;
      }
      SignedHeader h = headers_[i];
      if (j > i + 1) {
        char* at = data_ + size_;
        for (size_t k = i; k < j; ++k) {
          if (k > i) {
            keep(",");
          }
          keep(headers_[k].value);
        }
        h.value = std::string_view(at, static_cast<size_t>(data_ + size_ - at));
      }
      headers_[out++] = h;
      i = j;
    }
    headers_.resize(out);
  }

  std::array<char, 512> inline_;
  std::unique_ptr<char[]> heap_;
  char* data_ = inline_.data();
  size_t size_ = 0;
  std::vector<SignedHeader> headers_;
};

std::string normalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) {
      next = path.size();
    }
    std::string_view seg = path.substr(pos, next - pos);
    if (seg == "..") {
      if (!segments.empty()) {
        segments.pop_back();
      }
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    pos = next + 1;
  }
  std::string out;
  for (std::string_view seg : segments) {
    out.push_back('/');
    out.append(seg);
  }
  bool trailing = path.size() > 1 && path.back() == '/';
  if (out.empty() || trailing) {
    out.push_back('/');
  }
  return out;
}

void removeHeader(http::Headers& headers, std::string_view name) {
  std::erase_if(headers, [&](const auto& h) {
    return h.first.size() == name.size() &&
           strncasecmp(h.first.data(), name.data(), name.size()) == 0;
  });
}

Status checkCredentials(const Credentials& credentials) {
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return fail(ErrorCode::Unauthenticated, "cannot sign: credentials are empty");
  }
  return ok();
}

}  // namespace

namespace {

constexpr size_t kSha256Bytes = 32;
constexpr size_t kSha256Block = 64;
using Digest = std::array<unsigned char, kSha256Bytes>;

// OpenSSL 3 looks an algorithm up by name on every one-shot call (EVP_Digest, HMAC) and allocates
// a context for it; that was most of a signature's cost. The algorithm is fetched once and each
// thread keeps one context, re-initialised per digest.
const EVP_MD* sha256Algorithm() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}

EVP_MD_CTX* threadDigestContext() {
  static thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                                  EVP_MD_CTX_free);
  return ctx.get();
}

class Sha256 {
 public:
  Sha256() : ctx_(threadDigestContext()) { EVP_DigestInit_ex2(ctx_, sha256Algorithm(), nullptr); }
  // Continues from `state` (a digest that has already absorbed some blocks).
  explicit Sha256(const EVP_MD_CTX* state) : ctx_(threadDigestContext()) {
    EVP_MD_CTX_copy_ex(ctx_, state);
  }
  Sha256& add(std::string_view data) {
    EVP_DigestUpdate(ctx_, data.data(), data.size());
    return *this;
  }
  Sha256& add(const unsigned char* data, size_t n) {
    EVP_DigestUpdate(ctx_, data, n);
    return *this;
  }
  Digest finish() {
    Digest out{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, out.data(), &len);
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// HMAC-SHA256 (RFC 2104) over the reused digest context.
Digest hmac(std::string_view key, std::string_view data) {
  std::array<unsigned char, kSha256Block> block{};
  if (key.size() > kSha256Block) {
    Digest hashed = Sha256().add(key).finish();
    std::copy(hashed.begin(), hashed.end(), block.begin());
  } else {
    std::copy(key.begin(), key.end(), block.begin());
  }
  std::array<unsigned char, kSha256Block> pad{};
  for (size_t i = 0; i < kSha256Block; ++i) {
    pad[i] = block[i] ^ 0x36;
  }
  Digest inner = Sha256().add(pad.data(), pad.size()).add(data).finish();
  for (size_t i = 0; i < kSha256Block; ++i) {
    pad[i] = block[i] ^ 0x5c;
  }
  return Sha256().add(pad.data(), pad.size()).add(inner.data(), inner.size()).finish();
}

std::string_view view(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// The derived key changes once a day per region and service, so it is kept instead of four HMACs
// per request. Keyed by the secret too: rotated credentials derive their own.
using DigestState = std::shared_ptr<EVP_MD_CTX>;

// SHA-256 after absorbing one HMAC pad block of `key` (0x36: inner, 0x5c: outer). Kept with a
// derived key, a signature's HMAC continues from these instead of hashing both pads again.
DigestState padState(const Digest& key, unsigned char pad_byte) {
  DigestState state(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::array<unsigned char, kSha256Block> pad;
  pad.fill(pad_byte);
  for (size_t i = 0; i < key.size(); ++i) {
    pad[i] = key[i] ^ pad_byte;
  }
  EVP_DigestInit_ex2(state.get(), sha256Algorithm(), nullptr);
  EVP_DigestUpdate(state.get(), pad.data(), pad.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  return state;
}

// A derived key, and its HMAC pad states.
struct SigningKey {
  Digest key;
  DigestState inner, outer;
};

struct SigningKeyCache {
  struct Entry {
    std::string secret, date, region, service;
    SigningKey key;
  };
  std::mutex mu;
  std::vector<Entry> entries;  // newest last; a handful of regions and services
};

SigningKeyCache& signingKeyCache() {
  static SigningKeyCache cache;
  return cache;
}

void appendHex(std::string* out, const Digest& d) {
  size_t at = out->size();
  out->resize(at + 2 * d.size());
  char* p = out->data() + at;
  for (unsigned char c : d) {
    *p++ = kHexDigits[c >> 4];
    *p++ = kHexDigits[c & 0xf];
  }
}

// True when normalising and encoding would give `path` back unchanged, as for "/" and most API
// paths; saves splitting it into segments and building it again.
bool isCanonicalPath(std::string_view path, bool normalize) {
  if (path.empty() || path.front() != '/') {
    return false;
  }
  for (unsigned char c : path) {
    if (c != '/' && !isUnreserved(c)) {
      return false;
    }
  }
  if (!normalize) {
    return true;
  }
  if (path.find("//") != std::string_view::npos) {
    return false;
  }
  // No "." or ".." segment.
  for (size_t pos = 0; pos < path.size();) {
    size_t next = path.find('/', pos + 1);
    std::string_view seg = path.substr(
        pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1);
    if (seg == "." || seg == "..") {
      return false;
    }
    pos = next == std::string_view::npos ? path.size() : next;
  }
  return true;
}

std::string buildCanonicalRequest(const http::Request& request, const UrlParts& url,
                                  std::string_view payload_hash, bool normalize_path,
                                  std::string* signed_headers) {
  HeaderSet headers(request, url);
  std::string list = headers.signedList();
  std::string path = canonicalUri(url.path, normalize_path);
  std::string query = canonicalQuery(url.query);
  size_t size =
      request.method.size() + path.size() + query.size() + list.size() + payload_hash.size() + 8;
  for (const SignedHeader& h : headers.headers()) {
    size += h.name.size() + h.value.size() + 2;
  }
  std::string out;
  out.reserve(size);
  out.append(request.method).push_back('\n');
  out.append(path).push_back('\n');
  out.append(query).push_back('\n');
  for (const SignedHeader& h : headers.headers()) {
    out.append(h.name).append(":").append(h.value).push_back('\n');
  }
  out.push_back('\n');
  out.append(list).push_back('\n');
  out.append(payload_hash);
  if (signed_headers != nullptr) {
    *signed_headers = std::move(list);
  }
  return out;
}

std::string buildScope(std::string_view date_stamp, std::string_view region,
                       std::string_view service) {
  constexpr std::string_view kTerminator = "/aws4_request";
  std::string out;
  out.reserve(date_stamp.size() + region.size() + service.size() + kTerminator.size() + 2);
  out.append(date_stamp).append("/").append(region).append("/").append(service).append(kTerminator);
  return out;
}

std::string buildStringToSign(std::string_view amz_date, std::string_view scope,
                              std::string_view canonical_request) {
  std::string out;
  out.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + 2 * kSha256Bytes + 3);
  out.append(kAlgorithm).append("\n").append(amz_date).append("\n").append(scope).append("\n");
  appendHex(&out, Sha256().add(canonical_request).finish());
  return out;
}

// The derived key changes once a day per region and service: four HMACs only on a cache miss.
const SigningKeyCache::Entry* findKey(const SigningKeyCache& cache, std::string_view secret,
                                      std::string_view date_stamp, std::string_view region,
                                      std::string_view service) {
  for (const auto& e : cache.entries) {
    if (e.date == date_stamp && e.region == region && e.service == service && e.secret == secret) {
      return &e;
    }
  }
  return nullptr;
}

SigningKey derivedKey(std::string_view secret, std::string_view date_stamp, std::string_view region,
                      std::string_view service) {
  SigningKeyCache& cache = signingKeyCache();
  {
    std::lock_guard lock(cache.mu);
    if (const SigningKeyCache::Entry* e = findKey(cache, secret, date_stamp, region, service)) {
      return e->key;
    }
  }
  std::string k_secret = "AWS4" + std::string(secret);
  Digest k_date = hmac(k_secret, date_stamp);
  OPENSSL_cleanse(k_secret.data(), k_secret.size());
  Digest k_region = hmac(view(k_date), region);
  Digest k_service = hmac(view(k_region), service);
  Digest key = hmac(view(k_service), "aws4_request");
  SigningKey derived{key, padState(key, 0x36), padState(key, 0x5c)};
  constexpr size_t kMaxKeys = 16;
  std::lock_guard lock(cache.mu);
  if (cache.entries.size() >= kMaxKeys) {
    cache.entries.erase(cache.entries.begin());
  }
  cache.entries.push_back({std::string(secret), std::string(date_stamp), std::string(region),
                           std::string(service), derived});
  return derived;
}

// HMAC-SHA256 of `data` under a derived key, continuing from its kept pad states.
Digest keyedHmac(const SigningKey& key, std::string_view data) {
  Digest inner = Sha256(key.inner.get()).add(data).finish();
  return Sha256(key.outer.get()).add(inner.data(), inner.size()).finish();
}

// The string to sign and signature for a canonical request; the parts are moved in, not copied.
SignatureParts finish(std::string canonical, std::string signed_headers,
                      const Credentials& credentials, std::string_view amz_date,
                      std::string_view scope, std::string_view region, std::string_view service) {
  SignatureParts parts;
  parts.canonical_request = std::move(canonical);
  parts.signed_headers = std::move(signed_headers);
  parts.string_to_sign = buildStringToSign(amz_date, scope, parts.canonical_request);
  SigningKey key =
      derivedKey(credentials.secret_access_key, amz_date.substr(0, 8), region, service);
  parts.signature.reserve(2 * kSha256Bytes);
  appendHex(&parts.signature, keyedHmac(key, parts.string_to_sign));
  return parts;
}

}  // namespace

std::string sha256Hex(std::string_view data) {
  Digest d = Sha256().add(data).finish();
  return toHex(d.data(), d.size());
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  return std::string(view(hmac(key, data)));
}

std::string uriEncode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (isUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(static_cast<char>(std::toupper(kHexDigits[c >> 4])));
      out.push_back(static_cast<char>(std::toupper(kHexDigits[c & 0xf])));
    }
  }
  return out;
}

std::string uriDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = hex(text[i + 1]);
      int lo = hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string canonicalUri(std::string_view path, bool normalize) {
  if (path.empty()) {
    return "/";
  }
  if (isCanonicalPath(path, normalize)) {
    return std::string(path);
  }
  // Non-S3 services sign the path as sent, so an already-encoded path is encoded again.
  return uriEncode(normalize ? normalizePath(path) : std::string(path), true);
}

std::string canonicalQuery(std::string_view query) {
  if (query.empty()) {
    return {};
  }
  std::vector<std::pair<std::string, std::string>> params;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) {
      amp = query.size();
    }
    std::string_view param = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (param.empty()) {
      continue;
    }
    size_t eq = param.find('=');
    std::string_view name = param.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : param.substr(eq + 1);
    params.emplace_back(uriEncode(uriDecode(name), false), uriEncode(uriDecode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out += name + "=" + value;
  }
  return out;
}

std::string canonicalRequest(const http::Request& request, std::string_view payload_hash,
                             bool normalize_path, std::string* signed_headers) {
  UrlParts url;
  splitUrl(request.url, &url);
  return buildCanonicalRequest(request, url, payload_hash, normalize_path, signed_headers);
}

std::string credentialScope(TimePoint t, std::string_view region, std::string_view service) {
  return buildScope(formatDateStamp(t), region, service);
}

std::string stringToSign(TimePoint t, std::string_view scope, std::string_view canonical_request) {
  return buildStringToSign(formatAmzDate(t), scope, canonical_request);
}

std::string signingKey(std::string_view secret_access_key, TimePoint t, std::string_view region,
                       std::string_view service) {
  return std::string(view(derivedKey(secret_access_key, formatDateStamp(t), region, service).key));
}

std::string signature(std::string_view signing_key, std::string_view string_to_sign) {
  std::string out;
  out.reserve(2 * kSha256Bytes);
  appendHex(&out, hmac(signing_key, string_to_sign));
  return out;
}

Result<SignatureParts> signRequest(http::Request& request, const Credentials& credentials,
                                   std::string_view region, std::string_view service, TimePoint now,
                                   const SignOptions& options) {
  OPSY_RETURN_IF_ERROR(checkCredentials(credentials));
  UrlParts url;
  if (!splitUrl(request.url, &url)) {
    return fail(ErrorCode::InvalidArgument, "cannot sign: malformed url");
  }
  for (std::string_view name :
       {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}) {
    removeHeader(request.headers, name);
  }
  request.headers.reserve(request.headers.size() + 5);  // host, date, hash, token, authorization
  if (!http::findHeader(request.headers, "host")) {
    request.headers.emplace_back("host", url.hostHeader());
  }
  const std::string amz_date = formatAmzDate(now);
  const std::string scope = buildScope(std::string_view(amz_date).substr(0, 8), region, service);
  request.headers.emplace_back("x-amz-date", amz_date);
  std::string payload_hash;
  payload_hash.reserve(2 * kSha256Bytes);
  appendHex(&payload_hash, Sha256().add(request.body).finish());
  if (options.content_sha256_header) {
    request.headers.emplace_back("x-amz-content-sha256", payload_hash);
  }
  bool has_token = !credentials.session_token.empty();
  if (has_token && !options.omit_session_token) {
    request.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  std::string signed_headers;
  std::string canonical =
      buildCanonicalRequest(request, url, payload_hash, options.normalize_path, &signed_headers);
  SignatureParts parts = finish(std::move(canonical), std::move(signed_headers), credentials,
                                amz_date, scope, region, service);
  constexpr std::string_view kCredential = " Credential=";
  constexpr std::string_view kSignedHeaders = ", SignedHeaders=";
  constexpr std::string_view kSignature = ", Signature=";
  std::string authorization;
  authorization.reserve(kAlgorithm.size() + kCredential.size() + credentials.access_key_id.size() +
                        1 + scope.size() + kSignedHeaders.size() + parts.signed_headers.size() +
                        kSignature.size() + parts.signature.size());
  authorization.append(kAlgorithm)
      .append(kCredential)
      .append(credentials.access_key_id)
      .append("/")
      .append(scope)
      .append(kSignedHeaders)
      .append(parts.signed_headers)
      .append(kSignature)
      .append(parts.signature);
  request.headers.emplace_back("Authorization", std::move(authorization));
  if (has_token && options.omit_session_token) {
    request.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  return parts;
}

Result<PresignedUrl> presignUrl(const http::Request& request, const Credentials& credentials,
                                std::string_view region, std::string_view service, TimePoint now,
                                std::chrono::seconds expires, const SignOptions& options) {
  OPSY_RETURN_IF_ERROR(checkCredentials(credentials));
  UrlParts url;
  if (!splitUrl(request.url, &url)) {
    return fail(ErrorCode::InvalidArgument, "cannot presign: malformed url");
  }
  if (expires.count() < 1 || expires.count() > 7 * 24 * 3600) {
    return fail(ErrorCode::InvalidArgument, "cannot presign: expiry must be 1 s to 7 days");
  }
  const std::string amz_date = formatAmzDate(now);
  const std::string scope = buildScope(std::string_view(amz_date).substr(0, 8), region, service);
  std::string signed_list = HeaderSet(request, url).signedList();
  std::string query = url.query;
  auto add = [&query](std::string_view name, std::string_view value) {
    if (!query.empty()) {
      query.push_back('&');
    }
    query += std::string(name) + "=" + uriEncode(value, false);
  };
  add("X-Amz-Algorithm", kAlgorithm);
  add("X-Amz-Credential", credentials.access_key_id + "/" + scope);
  add("X-Amz-Date", amz_date);
  add("X-Amz-Expires", std::to_string(expires.count()));
  add("X-Amz-SignedHeaders", signed_list);
  if (!credentials.session_token.empty() && !options.omit_session_token) {
    add("X-Amz-Security-Token", credentials.session_token);
  }
  std::string base = request.url.substr(0, request.url.find_first_of("?#"));
  UrlParts signed_url = url;
  signed_url.query = query;
  std::string signed_headers;
  std::string canonical = buildCanonicalRequest(request, signed_url, sha256Hex(request.body),
                                                options.normalize_path, &signed_headers);
  PresignedUrl out;
  out.parts = finish(std::move(canonical), std::move(signed_headers), credentials, amz_date, scope,
                     region, service);
  std::string final_query = canonicalQuery(query);
  if (!credentials.session_token.empty() && options.omit_session_token) {
    final_query += "&X-Amz-Security-Token=" + uriEncode(credentials.session_token, false);
  }
  out.url = base + "?" + final_query + "&X-Amz-Signature=" + out.parts.signature;
  return out;
}

}  // namespace opsy::aws

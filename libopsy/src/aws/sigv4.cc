#include "opsy/aws/sigv4.h"

#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <map>
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

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
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

// name -> comma-joined values, sorted by name; host comes from the URL when not set explicitly.
std::map<std::string, std::string> headersToSign(const http::Request& request,
                                                 const UrlParts& url) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : request.headers) {
    std::string key = lower(name);
    if (isUnsigned(key)) {
      continue;
    }
    std::string v = canonicalHeaderValue(value);
    auto [it, inserted] = out.emplace(key, v);
    if (!inserted) {
      it->second += "," + v;
    }
  }
  out.emplace("host", url.hostHeader());
  return out;
}

std::string signedHeaderList(const std::map<std::string, std::string>& headers) {
  std::string out;
  for (const auto& [name, value] : headers) {
    if (!out.empty()) {
      out.push_back(';');
    }
    out += name;
  }
  return out;
}

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

SignatureParts finish(std::string canonical, std::string signed_headers,
                      const Credentials& credentials, TimePoint now, std::string_view region,
                      std::string_view service) {
  SignatureParts parts;
  parts.canonical_request = std::move(canonical);
  parts.signed_headers = std::move(signed_headers);
  parts.string_to_sign =
      stringToSign(now, credentialScope(now, region, service), parts.canonical_request);
  parts.signature = signature(signingKey(credentials.secret_access_key, now, region, service),
                              parts.string_to_sign);
  return parts;
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

class Sha256 {
 public:
  Sha256() {
    static thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(
        EVP_MD_CTX_new(), EVP_MD_CTX_free);
    ctx_ = ctx.get();
    EVP_DigestInit_ex2(ctx_, sha256Algorithm(), nullptr);
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
struct SigningKeyCache {
  struct Entry {
    std::string secret, date, region, service;
    Digest key;
  };
  std::mutex mu;
  std::vector<Entry> entries;  // newest last; a handful of regions and services
};

SigningKeyCache& signingKeyCache() {
  static SigningKeyCache cache;
  return cache;
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
  // Non-S3 services sign the path as sent, so an already-encoded path is encoded again.
  return uriEncode(normalize ? normalizePath(path) : std::string(path), true);
}

std::string canonicalQuery(std::string_view query) {
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
  auto headers = headersToSign(request, url);
  std::string list = signedHeaderList(headers);
  std::string out;
  out.reserve(256 + request.url.size() + list.size() + 2 * request.headers.size() * 16 + [&] {
    size_t n = 0;
    for (const auto& [name, value] : headers) {
      n += name.size() + value.size() + 2;
    }
    return n;
  }());
  out.append(request.method).push_back('\n');
  out.append(canonicalUri(url.path, normalize_path)).push_back('\n');
  out.append(canonicalQuery(url.query)).push_back('\n');
  for (const auto& [name, value] : headers) {
    out.append(name).append(":").append(value).push_back('\n');
  }
  out.push_back('\n');
  out.append(list).push_back('\n');
  out.append(payload_hash);
  if (signed_headers != nullptr) {
    *signed_headers = std::move(list);
  }
  return out;
}

std::string credentialScope(TimePoint t, std::string_view region, std::string_view service) {
  return formatDateStamp(t) + "/" + std::string(region) + "/" + std::string(service) +
         "/aws4_request";
}

std::string stringToSign(TimePoint t, std::string_view scope, std::string_view canonical_request) {
  return std::string(kAlgorithm) + "\n" + formatAmzDate(t) + "\n" + std::string(scope) + "\n" +
         sha256Hex(canonical_request);
}

std::string signingKey(std::string_view secret_access_key, TimePoint t, std::string_view region,
                       std::string_view service) {
  const std::string date = formatDateStamp(t);
  SigningKeyCache& cache = signingKeyCache();
  {
    std::lock_guard lock(cache.mu);
    for (const auto& e : cache.entries) {
      if (e.date == date && e.region == region && e.service == service &&
          e.secret == secret_access_key) {
        return std::string(view(e.key));
      }
    }
  }
  Digest k_date = hmac("AWS4" + std::string(secret_access_key), date);
  Digest k_region = hmac(view(k_date), region);
  Digest k_service = hmac(view(k_region), service);
  Digest key = hmac(view(k_service), "aws4_request");
  constexpr size_t kMaxKeys = 16;
  std::lock_guard lock(cache.mu);
  if (cache.entries.size() >= kMaxKeys) {
    cache.entries.erase(cache.entries.begin());
  }
  cache.entries.push_back(
      {std::string(secret_access_key), date, std::string(region), std::string(service), key});
  return std::string(view(key));
}

std::string signature(std::string_view signing_key, std::string_view string_to_sign) {
  std::string mac = hmacSha256(signing_key, string_to_sign);
  return toHex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
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
  if (!http::findHeader(request.headers, "host")) {
    request.headers.emplace_back("host", url.hostHeader());
  }
  request.headers.emplace_back("x-amz-date", formatAmzDate(now));
  std::string payload_hash = sha256Hex(request.body);
  if (options.content_sha256_header) {
    request.headers.emplace_back("x-amz-content-sha256", payload_hash);
  }
  bool has_token = !credentials.session_token.empty();
  if (has_token && !options.omit_session_token) {
    request.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  std::string signed_headers;
  std::string canonical =
      canonicalRequest(request, payload_hash, options.normalize_path, &signed_headers);
  SignatureParts parts =
      finish(std::move(canonical), std::move(signed_headers), credentials, now, region, service);
  request.headers.emplace_back(
      "Authorization", std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                           credentialScope(now, region, service) + ", SignedHeaders=" +
                           parts.signed_headers + ", Signature=" + parts.signature);
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
  std::string signed_list = signedHeaderList(headersToSign(request, url));
  std::string query = url.query;
  auto add = [&query](std::string_view name, std::string_view value) {
    if (!query.empty()) {
      query.push_back('&');
    }
    query += std::string(name) + "=" + uriEncode(value, false);
  };
  add("X-Amz-Algorithm", kAlgorithm);
  add("X-Amz-Credential", credentials.access_key_id + "/" + credentialScope(now, region, service));
  add("X-Amz-Date", formatAmzDate(now));
  add("X-Amz-Expires", std::to_string(expires.count()));
  add("X-Amz-SignedHeaders", signed_list);
  if (!credentials.session_token.empty() && !options.omit_session_token) {
    add("X-Amz-Security-Token", credentials.session_token);
  }
  http::Request to_sign = request;
  std::string base = request.url.substr(0, request.url.find_first_of("?#"));
  to_sign.url = base + "?" + query;
  std::string signed_headers;
  std::string canonical =
      canonicalRequest(to_sign, sha256Hex(request.body), options.normalize_path, &signed_headers);
  PresignedUrl out;
  out.parts =
      finish(std::move(canonical), std::move(signed_headers), credentials, now, region, service);
  std::string final_query = canonicalQuery(query);
  if (!credentials.session_token.empty() && options.omit_session_token) {
    final_query += "&X-Amz-Security-Token=" + uriEncode(credentials.session_token, false);
  }
  out.url = base + "?" + final_query + "&X-Amz-Signature=" + out.parts.signature;
  return out;
}

}  // namespace opsy::aws

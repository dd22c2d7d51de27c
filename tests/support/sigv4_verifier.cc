#include "support/sigv4_verifier.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "opsy/core/strings.h"
#include "opsy/core/time_format.h"

namespace opsy::testing {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Trims and turns every run of whitespace (including folded line breaks) into one space.
std::string collapseSpaces(std::string_view s) {
  s = trimSpace(s);
  std::string out;
  bool in_space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      in_space = true;
      continue;
    }
    if (in_space) {
      out.push_back(' ');
      in_space = false;
    }
    out.push_back(c);
  }
  return out;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) {
      break;
    }
    start = pos + 1;
  }
  return out;
}

std::optional<std::string> headerValue(const ReceivedRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (lower(k) == name) {
      return v;
    }
  }
  return std::nullopt;
}

// Decoded query parameters in order of appearance.
std::vector<std::pair<std::string, std::string>> queryParams(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> out;
  if (raw.empty()) {
    return out;
  }
  for (const auto& part : split(raw, '&')) {
    if (part.empty()) {
      continue;
    }
    size_t eq = part.find('=');
    std::string name = part.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : part.substr(eq + 1);
    out.emplace_back(percentDecode(name, false), percentDecode(value, false));
  }
  return out;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

SigV4Verdict reject(SigV4Verdict v, SigV4Outcome outcome, std::string message) {
  v.outcome = outcome;
  v.message = std::move(message);
  return v;
}

}  // namespace

std::string toHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return toHex(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string uriEncode(std::string_view raw, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : raw) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

std::string percentDecode(std::string_view encoded, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < encoded.size(); ++i) {
    char c = encoded[i];
    if (c == '%' && i + 2 < encoded.size() &&
        std::isxdigit(static_cast<unsigned char>(encoded[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(encoded[i + 2]))) {
      out.push_back(
          static_cast<char>(std::stoi(std::string(encoded.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string canonicalUri(std::string_view raw_path, bool normalize) {
  std::string path(raw_path.empty() ? "/" : raw_path);
  if (normalize) {
    std::vector<std::string> kept;
    auto segments = split(path, '/');
    for (const auto& seg : segments) {
      if (seg.empty() || seg == ".") {
        continue;
      }
      if (seg == "..") {
        if (!kept.empty()) {
          kept.pop_back();
        }
        continue;
      }
      kept.push_back(seg);
    }
    std::string joined;
    for (const auto& seg : kept) {
      joined += "/" + seg;
    }
    const std::string& last = segments.back();
    bool trailing = last.empty() || last == "." || last == "..";
    if (joined.empty()) {
      joined = "/";
    } else if (trailing) {
      joined += "/";
    }
    path = joined;
  }
  return uriEncode(path, true);
}

std::string canonicalQuery(std::string_view raw_query, const std::vector<std::string>& skip) {
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const auto& [name, value] : queryParams(raw_query)) {
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) {
      continue;
    }
    encoded.emplace_back(uriEncode(name, false), uriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out += name + "=" + value;
  }
  return out;
}

std::string canonicalHeaders(const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::vector<std::string>& signed_names) {
  std::string out;
  for (const auto& name : signed_names) {
    std::string joined;
    bool found = false;
    for (const auto& [k, v] : headers) {
      if (lower(k) != name) {
        continue;
      }
      if (found) {
        joined.push_back(',');
      }
      joined += collapseSpaces(v);
      found = true;
    }
    out += name + ":" + joined + "\n";
  }
  return out;
}

std::string canonicalRequest(std::string_view method, std::string_view canonical_uri,
                             std::string_view canonical_query, std::string_view canonical_headers,
                             std::string_view signed_headers, std::string_view payload_hash) {
  std::string out;
  out.append(method).append("\n");
  out.append(canonical_uri).append("\n");
  out.append(canonical_query).append("\n");
  out.append(canonical_headers).append("\n");
  out.append(signed_headers).append("\n");
  out.append(payload_hash);
  return out;
}

std::string stringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out = "AWS4-HMAC-SHA256\n";
  out.append(amz_date).append("\n").append(scope).append("\n");
  out += sha256Hex(canonical_request);
  return out;
}

std::string signingKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  std::string k_date = hmacSha256("AWS4" + std::string(secret), date);
  std::string k_region = hmacSha256(k_date, region);
  std::string k_service = hmacSha256(k_region, service);
  return hmacSha256(k_service, "aws4_request");
}

std::string sigV4Signature(std::string_view secret, std::string_view date, std::string_view region,
                           std::string_view service, std::string_view string_to_sign) {
  return toHex(hmacSha256(signingKey(secret, date, region, service), string_to_sign));
}

SigV4Verdict verifySigV4(const ReceivedRequest& request, const SigV4KeyLookup& lookup,
                         const SigV4VerifyOptions& options) {
  SigV4Verdict v;
  std::string_view target = request.target;
  size_t qpos = target.find('?');
  std::string_view raw_path = target.substr(0, qpos);
  std::string_view raw_query = qpos == std::string_view::npos ? "" : target.substr(qpos + 1);
  auto query = queryParams(raw_query);
  auto query_value = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [k, val] : query) {
      if (k == name) {
        return val;
      }
    }
    return std::nullopt;
  };

  std::string credential;
  std::string signed_headers_text;
  std::string signature;
  std::optional<std::string> token;
  int expires = 0;
  auto auth = headerValue(request, "authorization");
  if (auth) {
    std::string_view a = trimSpace(*auth);
    static constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
    if (a.substr(0, kAlgorithm.size()) != kAlgorithm) {
      return reject(v, SigV4Outcome::Malformed, "Unsupported authorization type");
    }
    for (const auto& part : split(a.substr(kAlgorithm.size()), ',')) {
      std::string_view p = trimSpace(part);
      size_t eq = p.find('=');
      if (eq == std::string_view::npos) {
        continue;
      }
      std::string_view key = trimSpace(p.substr(0, eq));
      std::string value(trimSpace(p.substr(eq + 1)));
      if (key == "Credential") {
        credential = value;
      } else if (key == "SignedHeaders") {
        signed_headers_text = value;
      } else if (key == "Signature") {
        signature = value;
      }
    }
    if (credential.empty() || signed_headers_text.empty() || signature.empty()) {
      return reject(v, SigV4Outcome::Malformed,
                    "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                    "parameters.");
    }
    v.amz_date = headerValue(request, "x-amz-date").value_or("");
    token = headerValue(request, "x-amz-security-token");
  } else if (query_value("X-Amz-Signature") || query_value("X-Amz-Algorithm")) {
    v.presigned = true;
    if (query_value("X-Amz-Algorithm").value_or("") != "AWS4-HMAC-SHA256") {
      return reject(v, SigV4Outcome::Malformed, "X-Amz-Algorithm only supports AWS4-HMAC-SHA256");
    }
    credential = query_value("X-Amz-Credential").value_or("");
    signed_headers_text = query_value("X-Amz-SignedHeaders").value_or("");
    signature = query_value("X-Amz-Signature").value_or("");
    v.amz_date = query_value("X-Amz-Date").value_or("");
    token = query_value("X-Amz-Security-Token");
    std::string exp = query_value("X-Amz-Expires").value_or("");
    if (credential.empty() || signed_headers_text.empty() || signature.empty() || exp.empty() ||
        !std::all_of(exp.begin(), exp.end(), [](unsigned char c) { return std::isdigit(c); }) ||
        exp.size() > 6) {
      return reject(v, SigV4Outcome::Malformed,
                    "Presigned requests need X-Amz-Credential, X-Amz-SignedHeaders, "
                    "X-Amz-Signature and a numeric X-Amz-Expires.");
    }
    expires = std::stoi(exp);
    if (expires > 604800) {
      return reject(v, SigV4Outcome::Malformed, "X-Amz-Expires must be at most 604800 seconds");
    }
  } else {
    return reject(v, SigV4Outcome::Missing, "Request is missing Authentication Token");
  }

  auto scope_parts = split(credential, '/');
  if (scope_parts.size() != 5 || scope_parts[4] != "aws4_request") {
    return reject(v, SigV4Outcome::Malformed,
                  "Credential should be of the form <key>/<date>/<region>/<service>/aws4_request");
  }
  v.access_key = scope_parts[0];
  v.region = scope_parts[2];
  v.service = scope_parts[3];
  v.signed_headers = split(signed_headers_text, ';');
  auto date = parseAmzDate(v.amz_date);
  if (!date) {
    return reject(v, SigV4Outcome::Malformed,
                  "Authorization requires a valid x-amz-date (YYYYMMDD'T'HHMMSS'Z')");
  }
  if (scope_parts[1] != v.amz_date.substr(0, 8)) {
    return reject(v, SigV4Outcome::WrongScope,
                  "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                  "from HTTP: '" +
                      scope_parts[1] + "' != '" + v.amz_date.substr(0, 8) + "'");
  }
  if (options.expected_region && v.region != *options.expected_region) {
    return reject(v, SigV4Outcome::WrongScope,
                  "Credential should be scoped to a valid region, not '" + v.region + "'.");
  }
  if (options.expected_service && v.service != *options.expected_service) {
    return reject(
        v, SigV4Outcome::WrongScope,
        "Credential should be scoped to correct service: '" + *options.expected_service + "'. ");
  }
  if (std::find(v.signed_headers.begin(), v.signed_headers.end(), "host") ==
      v.signed_headers.end()) {
    return reject(v, SigV4Outcome::Malformed, "'Host' must be a signed header");
  }
  if (options.check_time) {
    auto skew = options.now - *date;
    if (v.presigned) {
      if (options.now > *date + std::chrono::seconds(expires)) {
        return reject(v, SigV4Outcome::Expired,
                      "Signature expired: " + v.amz_date + " is now earlier than " +
                          formatAmzDate(options.now - std::chrono::seconds(expires)));
      }
      if (-skew > options.max_skew) {
        return reject(v, SigV4Outcome::Expired, "Signature not yet current: " + v.amz_date);
      }
    } else if (skew > options.max_skew || -skew > options.max_skew) {
      return reject(v, SigV4Outcome::Expired,
                    "Signature expired: " + v.amz_date + " is now earlier than " +
                        formatAmzDate(options.now - options.max_skew) + " (" +
                        formatAmzDate(options.now) + " - 5 min.)");
    }
  }

  auto secret = lookup(v.access_key);
  if (!secret) {
    return reject(v, SigV4Outcome::UnknownKey,
                  "The security token included in the request is invalid.");
  }
  if (secret->expired && token == secret->session_token) {
    return reject(v, SigV4Outcome::ExpiredToken,
                  "The security token included in the request is expired");
  }
  if (secret->session_token.empty() ? token.has_value() : token != secret->session_token) {
    return reject(v, SigV4Outcome::MissingToken,
                  "The security token included in the request is invalid.");
  }

  std::string cquery =
      v.presigned ? canonicalQuery(raw_query, {"X-Amz-Signature"}) : canonicalQuery(raw_query);
  // Outside S3 the payload is always hashed, presigned or not (UNSIGNED-PAYLOAD is S3-only).
  std::string payload_hash = sha256Hex(request.body);
  std::string creq = canonicalRequest(
      request.method, canonicalUri(raw_path, options.normalize_path), cquery,
      canonicalHeaders(request.headers, v.signed_headers), signed_headers_text, payload_hash);
  v.canonical_request = creq;
  std::string scope = scope_parts[1] + "/" + v.region + "/" + v.service + "/aws4_request";
  std::string expected = sigV4Signature(secret->secret_key, scope_parts[1], v.region, v.service,
                                        stringToSign(v.amz_date, scope, creq));
  if (!constantTimeEquals(expected, lower(signature))) {
    return reject(v, SigV4Outcome::BadSignature,
                  "The request signature we calculated does not match the signature you "
                  "provided. Check your AWS Secret Access Key and signing method. Consult the "
                  "service documentation for details.");
  }
  v.outcome = SigV4Outcome::Valid;
  return v;
}

}  // namespace opsy::testing

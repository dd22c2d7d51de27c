// File: sigv4_verifier.h
//
// The server side of AWS Signature Version 4, written independently of libopsy's signer so the
// two cross-check each other: the fake AWS rebuilds the canonical request from the bytes it
// received (raw request target, headers in arrival order, body) and compares signatures. Header
// auth and presigned query-string auth are both accepted. The canonicalisation steps are free
// functions so tests can sign requests with exactly the same rules.
//
//   SigV4Verdict v = verifySigV4(received, lookupSecret, {.now = clock.now()});
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opsy/core/clock.h"

namespace opsy::testing {

// A request as it arrived on the wire.
struct ReceivedRequest {
  std::string method;
  std::string target;  // raw request target: path plus optional "?query", still percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;  // arrival order, names as sent
  std::string body;
};

enum class SigV4Outcome {
  Valid,
  Missing,       // no Authorization header and no X-Amz-Signature query parameter
  Malformed,     // an Authorization / X-Amz-* value that does not parse
  UnknownKey,    // access key id not known to the server
  BadSignature,  // the signature does not match
  Expired,       // x-amz-date too far from server time, or presigned URL past its expiry
  WrongScope,    // credential scope date/region/service does not match
  MissingToken,  // temporary credentials used without (or with a wrong) x-amz-security-token
  ExpiredToken,  // temporary credentials past their expiration
};

struct SigV4Verdict {
  SigV4Outcome outcome = SigV4Outcome::Missing;
  std::string message;
  bool presigned = false;
  std::string access_key;
  std::string region;
  std::string service;
  std::string amz_date;
  std::vector<std::string> signed_headers;
  std::string canonical_request;  // as rebuilt by the server, for diagnostics
};

// What the server knows about an access key.
struct SigV4Secret {
  std::string secret_key;
  std::string session_token;  // non-empty for temporary credentials: requests must carry it
  bool expired = false;       // temporary credentials past their expiration
};
using SigV4KeyLookup = std::function<std::optional<SigV4Secret>(const std::string& access_key)>;

struct SigV4VerifyOptions {
  TimePoint now;
  bool check_time = true;
  std::chrono::seconds max_skew{300};
  // Every AWS service but S3 normalises the path (RFC 3986 dot segments, repeated slashes).
  bool normalize_path = true;
  // When set, the credential scope must name this region / service.
  std::optional<std::string> expected_region;
  std::optional<std::string> expected_service;
};

SigV4Verdict verifySigV4(const ReceivedRequest& request, const SigV4KeyLookup& lookup,
                         const SigV4VerifyOptions& options);

// Primitives (shared with tests that sign requests by hand).
std::string sha256Hex(std::string_view data);
std::string hmacSha256(std::string_view key, std::string_view data);
std::string toHex(std::string_view bytes);
// RFC 3986 percent-encoding; '/' kept when encoding a path.
std::string uriEncode(std::string_view raw, bool keep_slash);
std::string percentDecode(std::string_view encoded, bool plus_is_space);

// Canonical URI from the raw (still encoded) path: normalised if asked, then encoded once more.
std::string canonicalUri(std::string_view raw_path, bool normalize);
// Canonical query from the raw query string, leaving out the parameters named in `skip`.
std::string canonicalQuery(std::string_view raw_query, const std::vector<std::string>& skip = {});
// "name:value\n" lines for the given lower-case names; values of repeated headers joined by ','.
std::string canonicalHeaders(const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::vector<std::string>& signed_names);
std::string canonicalRequest(std::string_view method, std::string_view canonical_uri,
                             std::string_view canonical_query, std::string_view canonical_headers,
                             std::string_view signed_headers, std::string_view payload_hash);
std::string stringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
std::string signingKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);
// Hex signature of a string to sign.
std::string sigV4Signature(std::string_view secret, std::string_view date, std::string_view region,
                           std::string_view service, std::string_view string_to_sign);

}  // namespace opsy::testing

// File: sigv4.h
//
// AWS Signature Version 4: header signing for every AWS call and query-string presigning (the
// EKS bearer token is a presigned STS GetCallerIdentity URL). Each step is a free function so the
// public test suite can check the canonical request, string to sign and signature one by one.
// Signing never logs: the returned parts contain no secret, but callers should not log them.
//
//   OPSY_RETURN_IF_ERROR(aws::signRequest(req, creds, "eu-west-1", "ec2", clock.now()));
#pragma once

#include <string>
#include <string_view>

#include "opsy/aws/credentials.h"
#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/http/transport.h"

namespace opsy::aws {

struct SignOptions {
  // Adds and signs x-amz-content-sha256 (S3 style); query protocols do not need it.
  bool content_sha256_header = false;
  // Removes "." / ".." segments and repeated slashes from the path before encoding.
  bool normalize_path = true;
  // Adds the session token after signing instead of signing it (a few services want this).
  bool omit_session_token = false;
};

// What a signature was computed from; tests compare each part with reference vectors.
struct SignatureParts {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;
  std::string signature;
};

// Lower-case hex SHA-256 of `data`.
std::string sha256Hex(std::string_view data);
// Raw (binary) HMAC-SHA256.
std::string hmacSha256(std::string_view key, std::string_view data);
// RFC 3986 percent-encoding: unreserved characters kept, everything else %XX (upper case);
// '/' is kept when `keep_slash`.
std::string uriEncode(std::string_view text, bool keep_slash);
// Decodes %XX sequences; anything malformed is left as it is.
std::string uriDecode(std::string_view text);

// The canonical URI of a raw (as sent) path: normalised if asked, then each segment encoded.
std::string canonicalUri(std::string_view path, bool normalize);
// The canonical query of a raw query string (without '?'): decoded, re-encoded, sorted.
std::string canonicalQuery(std::string_view query);
// The canonical request for `request` as it stands, signing every header except those SigV4
// must not sign (user-agent, expect, authorization, hop-by-hop). Adds nothing to the request.
std::string canonicalRequest(const http::Request& request, std::string_view payload_hash,
                             bool normalize_path, std::string* signed_headers);
// "20150830/us-east-1/iam/aws4_request".
std::string credentialScope(TimePoint t, std::string_view region, std::string_view service);
std::string stringToSign(TimePoint t, std::string_view scope, std::string_view canonical_request);
// The derived signing key (binary).
std::string signingKey(std::string_view secret_access_key, TimePoint t, std::string_view region,
                       std::string_view service);
// Lower-case hex signature of `string_to_sign` under a derived key.
std::string signature(std::string_view signing_key, std::string_view string_to_sign);

// Signs `request` in place: adds host, x-amz-date, x-amz-content-sha256 (only if asked),
// x-amz-security-token (temporary credentials) and Authorization; replaces any old signature.
[[nodiscard]] Result<SignatureParts> signRequest(http::Request& request,
                                                 const Credentials& credentials,
                                                 std::string_view region, std::string_view service,
                                                 TimePoint now, const SignOptions& options = {});

struct PresignedUrl {
  std::string url;
  SignatureParts parts;
};

// Query-string presigning: returns request.url with X-Amz-* parameters and the signature added.
// `request.headers` (for example x-k8s-aws-id) are signed and must be sent with the URL.
[[nodiscard]] Result<PresignedUrl> presignUrl(const http::Request& request,
                                              const Credentials& credentials,
                                              std::string_view region, std::string_view service,
                                              TimePoint now, std::chrono::seconds expires,
                                              const SignOptions& options = {});

}  // namespace opsy::aws

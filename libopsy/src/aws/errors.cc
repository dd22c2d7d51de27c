#include "opsy/aws/errors.h"

#include <pugixml.hpp>

#include <algorithm>
#include <array>
#include <charconv>

#include "opsy/http/retry.h"
#include "opsy/json/json.h"

namespace opsy::aws {
namespace {

constexpr std::array<std::string_view, 13> kThrottlingCodes = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete"};

bool startsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
bool endsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}
bool oneOf(std::string_view s, std::initializer_list<std::string_view> options) {
  return std::find(options.begin(), options.end(), s) != options.end();
}

std::string text(const pugi::xml_node& node, const char* name) {
  return node.child(name).text().as_string();
}

// X-Amzn-ErrorType "Foo:http://internal..." or "aws.protocols#Foo" -> "Foo".
std::string sanitizeJsonCode(std::string_view code) {
  if (size_t colon = code.find(':'); colon != std::string_view::npos) {
    code = code.substr(0, colon);
  }
  if (size_t hash = code.rfind('#'); hash != std::string_view::npos) {
    code = code.substr(hash + 1);
  }
  return std::string(code);
}

std::optional<std::chrono::milliseconds> retryAfter(const http::Response& r) {
  if (auto ms = r.header("x-amz-retry-after")) {
    long v = 0;
    if (std::from_chars(ms->data(), ms->data() + ms->size(), v).ec == std::errc() && v >= 0) {
      return std::chrono::milliseconds(v);
    }
  }
  if (auto s = r.header("Retry-After")) {
    return http::parseRetryAfterSeconds(*s);
  }
  return std::nullopt;
}

}  // namespace

bool isThrottlingCode(std::string_view code) {
  return std::find(kThrottlingCodes.begin(), kThrottlingCodes.end(), code) !=
         kThrottlingCodes.end();
}

ErrorCode canonicalCode(std::string_view c, int status) {
  if (isThrottlingCode(c) || status == 429) {
    return ErrorCode::Throttled;
  }
  if (startsWith(c, "RequestTimeout") ||
      oneOf(c, {"IDPCommunicationError", "InternalError", "InternalFailure", "ServiceUnavailable",
                "ServiceUnavailableException", "ServerException", "ResourceContention",
                "Unavailable"})) {
    return ErrorCode::Unavailable;
  }
  if (oneOf(c, {"AuthFailure", "UnauthorizedOperation", "AuthorizationError", "IDPRejectedClaim",
                "Forbidden", "OptInRequired", "RegionDisabledException",
                "UnrecognizedClientException"}) ||
      startsWith(c, "AccessDenied")) {
    return ErrorCode::PermissionDenied;
  }
  if (oneOf(c, {"InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidIdentityToken",
                "MissingAuthenticationToken", "IncompleteSignature", "InvalidSignatureException",
                "ExpiredToken", "ExpiredTokenException", "RequestExpired"})) {
    return ErrorCode::Unauthenticated;
  }
  if (endsWith(c, ".NotFound") || endsWith(c, "NotFound") || endsWith(c, "NotFoundException") ||
      c == "InvalidLaunchTemplateId.VersionNotFound") {
    return ErrorCode::NotFound;
  }
  if (oneOf(c, {"ResourceInUseException", "InstanceRefreshInProgress", "IncorrectState",
                "IncorrectInstanceState", "DependencyViolation", "ConcurrentModification",
                "ConflictException", "ResourceInUse", "InvalidSnapshot.InUse"})) {
    return ErrorCode::Conflict;
  }
  if (endsWith(c, ".Duplicate") || startsWith(c, "AlreadyExists") ||
      c == "IdempotentParameterMismatch" || c == "ResourceAlreadyExistsException") {
    return ErrorCode::AlreadyExists;
  }
  if (c == "DryRunOperation" || endsWith(c, "LimitExceeded") || c == "InvalidNextToken") {
    // A quota (not a rate) is hit, or a stale page token: retrying the same call cannot help.
    return c == "InvalidNextToken" ? ErrorCode::InvalidArgument : ErrorCode::FailedPrecondition;
  }
  if (startsWith(c, "Invalid") || startsWith(c, "Malformed") ||
      oneOf(c, {"MissingParameter", "ValidationError", "ValidationException", "ClientException",
                "UnknownParameter", "UnsupportedOperation", "InvalidParameterException",
                "InvalidRequestException", "BadRequestException"})) {
    return ErrorCode::InvalidArgument;
  }
  if (status == 500 || status == 502 || status == 503 || status == 504) {
    return ErrorCode::Unavailable;
  }
  if (status == 403) {
    return ErrorCode::PermissionDenied;
  }
  if (status == 401) {
    return ErrorCode::Unauthenticated;
  }
  if (status == 404) {
    // Every AWS API names what it did not find (ResourceNotFoundException, InvalidAMIID.NotFound).
    // A 404 with no code comes from something else on the path, a wrong endpoint override or a
    // proxy: not an answer about the resource, so nothing may conclude it is gone.
    return c.empty() ? ErrorCode::Unavailable : ErrorCode::NotFound;
  }
  if (status == 409) {
    return ErrorCode::Conflict;
  }
  if (status == 400) {
    return ErrorCode::InvalidArgument;
  }
  return ErrorCode::Internal;
}

Error parseErrorResponse(Protocol protocol, const http::Response& response) {
  std::string code;
  std::string message;
  std::string request_id;
  if (protocol == Protocol::RestJson) {
    if (auto h = response.header("X-Amzn-ErrorType")) {
      code = sanitizeJsonCode(*h);
    }
    if (Result<json::Document> doc = json::parseObject(response.body, "error response")) {
      for (const char* key : {"message", "Message", "errorMessage"}) {
        if (auto m = json::optString(*doc, key)) {
          message = std::move(*m);
          break;
        }
      }
      if (code.empty()) {
        for (const char* key : {"code", "Code", "__type"}) {
          if (auto c = json::optString(*doc, key)) {
            code = sanitizeJsonCode(*c);
            break;
          }
        }
      }
    }
    for (const char* h : {"x-amzn-RequestId", "x-amz-request-id"}) {
      if (auto id = response.header(h)) {
        request_id = std::string(*id);
        break;
      }
    }
  } else {
    pugi::xml_document doc;
    if (doc.load_string(response.body.c_str())) {
      pugi::xml_node root = doc.document_element();
      pugi::xml_node err = protocol == Protocol::Ec2Query ? root.child("Errors").child("Error")
                                                          : root.child("Error");
      if (!err) {
        // Some fronting layers answer EC2 calls in the awsQuery shape and vice versa.
        err = root.child("Error") ? root.child("Error") : root.child("Errors").child("Error");
      }
      code = text(err, "Code");
      message = text(err, "Message");
      request_id = text(root, protocol == Protocol::Ec2Query ? "RequestID" : "RequestId");
      if (request_id.empty()) {
        request_id = text(root, protocol == Protocol::Ec2Query ? "RequestId" : "RequestID");
      }
    }
    if (request_id.empty()) {
      if (auto id = response.header("x-amzn-RequestId")) {
        request_id = std::string(*id);
      }
    }
  }
  if (message.empty()) {
    message = code.empty() ? "HTTP " + std::to_string(response.status) : code;
  }
  Error e{canonicalCode(code, response.status), message};
  // EKS throttles with a plain 400 InvalidRequestException whose only sign is the message.
  if (code == "InvalidRequestException" &&
      message.find("Request limit exceeded") != std::string::npos) {
    e.code = ErrorCode::Throttled;
  }
  // Auto Scaling has no not-found code: a group it does not have is a 400 ValidationError
  // ("AutoScalingGroup name not found - ..."), which is about the group, not the request.
  if (code == "ValidationError" && (startsWith(message, "AutoScalingGroup name not found") ||
                                    startsWith(message, "AutoScalingGroup not found"))) {
    e.code = ErrorCode::NotFound;
  }
  // Nor for a lifecycle action: completing or heartbeating an instance whose action already
  // ended (completed, timed out) or never began is a 400 ValidationError naming the instance
  // ("No active Lifecycle Action found with instance ID i-…") or the token ("… with token …").
  if (code == "ValidationError" && startsWith(message, "No active Lifecycle Action found")) {
    e.code = ErrorCode::NotFound;
  }
  e.http_status = response.status;
  e.provider_code = code;
  e.request_id = request_id;
  e.retry_after = retryAfter(response);
  return e;
}

http::RetryClass classifyAwsError(const Error& e) {
  switch (e.code) {
    case ErrorCode::Throttled: return http::RetryClass::Throttle;
    case ErrorCode::Unavailable: return http::RetryClass::Transient;
    case ErrorCode::DeadlineExceeded: return http::RetryClass::Timeout;
    default: return http::RetryClass::Permanent;
  }
}

http::RetryPolicy awsRetryPolicy() {
  http::RetryPolicy p;
  p.classify = classifyAwsError;
  return p;
}

}  // namespace opsy::aws

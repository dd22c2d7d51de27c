// File: error.h
//
// The one error type that crosses libopsy's API. An Error carries a canonical code (what kind of
// failure it is, which decides whether a retry can help), a human message, and the provider's own
// detail: HTTP status, the AWS or Kubernetes error code, the request id, and a server-suggested
// retry delay.
//
//   return tl::unexpected(Error{ErrorCode::Throttled, "rate exceeded"}.withHttpStatus(503));
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace opsy {

// Canonical failure kinds. The retry guidance follows Abseil's: Throttled, Unavailable and
// DeadlineExceeded can retry the same call; Conflict needs a re-read first; the rest need someone
// to change the input or the world. ResourceExhausted is an answer larger than the configured
// limit (a response body, a watch event): the same call gets the same answer.
enum class ErrorCode {
  InvalidArgument,
  NotFound,
  AlreadyExists,
  Conflict,
  Unauthenticated,
  PermissionDenied,
  Throttled,
  Unavailable,
  DeadlineExceeded,
  Cancelled,
  Gone,
  FailedPrecondition,
  ResourceExhausted,
  Internal,
};

std::string_view toString(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
  // The HTTP status of the response that produced this error, 0 when there was no response.
  int http_status = 0;
  // The service's own code: an AWS error code ("RequestLimitExceeded") or a Kubernetes Status
  // reason ("Conflict"). Empty when the failure did not come from a service.
  std::string provider_code;
  // x-amzn-RequestId / RequestID / Audit-Id, kept so a failure can be traced with the provider.
  std::string request_id;
  // The call that failed, spelled as the permission it needs: "ec2:DescribeImages". Empty when
  // the failure did not come from an AWS call.
  std::string action;
  // A delay the server asked for (Retry-After, x-amz-retry-after).
  std::optional<std::chrono::milliseconds> retry_after;

  Error() = default;
  Error(ErrorCode c, std::string msg) : code(c), message(std::move(msg)) {}

  Error& withHttpStatus(int status) & {
    http_status = status;
    return *this;
  }
  Error&& withHttpStatus(int status) && {
    http_status = status;
    return std::move(*this);
  }
  Error&& withProviderCode(std::string c) && {
    provider_code = std::move(c);
    return std::move(*this);
  }
  Error&& withRequestId(std::string id) && {
    request_id = std::move(id);
    return std::move(*this);
  }
  // Prefixes the message with what the caller was doing: "describe images: <message>".
  Error&& context(std::string_view what) &&;

  // "Throttled: rate exceeded (http=503 code=RequestLimitExceeded request_id=abc)".
  std::string toString() const;
};

// True when the same call may succeed if simply tried again later.
bool isRetryable(const Error& e);
// True when the failure is the provider asking us to slow down.
bool isThrottling(const Error& e);

}  // namespace opsy

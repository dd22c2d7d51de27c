#include "opsy/core/error.h"

#include <fmt/format.h>

namespace opsy {

std::string_view toString(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    case ErrorCode::NotFound: return "NotFound";
    case ErrorCode::AlreadyExists: return "AlreadyExists";
    case ErrorCode::Conflict: return "Conflict";
    case ErrorCode::Unauthenticated: return "Unauthenticated";
    case ErrorCode::PermissionDenied: return "PermissionDenied";
    case ErrorCode::Throttled: return "Throttled";
    case ErrorCode::Unavailable: return "Unavailable";
    case ErrorCode::DeadlineExceeded: return "DeadlineExceeded";
    case ErrorCode::Cancelled: return "Cancelled";
    case ErrorCode::Gone: return "Gone";
    case ErrorCode::FailedPrecondition: return "FailedPrecondition";
    case ErrorCode::ResourceExhausted: return "ResourceExhausted";
    case ErrorCode::Internal: return "Internal";
  }
  return "Unknown";
}

Error&& Error::context(std::string_view what) && {
  message = fmt::format("{}: {}", what, message);
  return std::move(*this);
}

std::string Error::toString() const {
  std::string out = fmt::format("{}: {}", opsy::toString(code), message);
  std::string detail;
  if (http_status != 0) {
    detail += fmt::format("http={}", http_status);
  }
  if (!provider_code.empty()) {
    detail += fmt::format("{}code={}", detail.empty() ? "" : " ", provider_code);
  }
  if (!request_id.empty()) {
    detail += fmt::format("{}request_id={}", detail.empty() ? "" : " ", request_id);
  }
  if (!detail.empty()) {
    out += " (" + detail + ")";
  }
  return out;
}

bool isThrottling(const Error& e) {
  return e.code == ErrorCode::Throttled;
}

bool isRetryable(const Error& e) {
  switch (e.code) {
    case ErrorCode::Throttled:
    case ErrorCode::Unavailable:
    case ErrorCode::DeadlineExceeded: return true;
    default: return false;
  }
}

}  // namespace opsy

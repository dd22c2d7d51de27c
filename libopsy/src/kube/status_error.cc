#include "kube/status_error.h"

#include <fmt/format.h>

#include "opsy/http/retry.h"
#include "opsy/json/json.h"
#include "opsy/kube/object.h"

namespace opsy::kube {
namespace {

ErrorCode codeFor(std::string_view reason, int http_status) {
  if (reason == "NotFound") {
    return ErrorCode::NotFound;
  }
  if (reason == "AlreadyExists") {
    return ErrorCode::AlreadyExists;
  }
  if (reason == "Conflict") {
    return ErrorCode::Conflict;
  }
  if (reason == "Invalid" || reason == "BadRequest") {
    return ErrorCode::InvalidArgument;
  }
  if (reason == "Forbidden") {
    return ErrorCode::PermissionDenied;
  }
  if (reason == "Unauthorized") {
    return ErrorCode::Unauthenticated;
  }
  if (reason == "Expired" || reason == "Gone") {
    return ErrorCode::Gone;
  }
  if (reason == "TooManyRequests") {
    return ErrorCode::Throttled;
  }
  if (reason == "ServerTimeout" || reason == "Timeout" || reason == "ServiceUnavailable" ||
      reason == "InternalError") {
    return ErrorCode::Unavailable;
  }
  switch (http_status) {
    case 400:
    case 422: return ErrorCode::InvalidArgument;
    case 401: return ErrorCode::Unauthenticated;
    case 403: return ErrorCode::PermissionDenied;
    case 404: return ErrorCode::NotFound;
    case 409: return ErrorCode::Conflict;
    case 410: return ErrorCode::Gone;
    case 429: return ErrorCode::Throttled;
    case 405:
    case 406:
    case 415: return ErrorCode::FailedPrecondition;
    default: break;
  }
  if (http_status >= 500) {
    return ErrorCode::Unavailable;
  }
  return ErrorCode::Internal;
}

struct ParsedStatus {
  std::string reason;
  std::string message;
  int code = 0;
  std::optional<std::int64_t> retry_after_seconds;
  // A cause of type DisruptionBudget: an eviction a PodDisruptionBudget refuses.
  bool disruption_budget = false;
};

ParsedStatus parseStatus(std::string_view body) {
  ParsedStatus out;
  auto doc = json::parseObject(body, "status");
  if (!doc || json::stringOr(*doc, "kind") != "Status") {
    return out;
  }
  out.reason = json::stringOr(*doc, "reason");
  out.message = json::stringOr(*doc, "message");
  out.code = static_cast<int>(json::optInt64(*doc, "code").value_or(0));
  const json::Value* details = json::member(*doc, "details");
  if (details == nullptr || !details->IsObject()) {
    return out;
  }
  out.retry_after_seconds = json::optInt64(*details, "retryAfterSeconds");
  const json::Value* causes = json::member(*details, "causes");
  if (causes == nullptr || !causes->IsArray() || causes->Empty()) {
    return out;
  }
  std::string listed;
  for (const auto& cause : causes->GetArray()) {
    std::string field = json::stringOr(cause, "field");
    std::string msg = json::stringOr(cause, "message");
    if (json::stringOr(cause, "reason") == "DisruptionBudget") {
      out.disruption_budget = true;
    }
    if (!listed.empty()) {
      listed += "; ";
    }
    if (!field.empty()) {
      listed.append(field).append(": ");
    }
    listed.append(msg);
  }
  if (!out.message.empty()) {
    out.message += " ";
  }
  out.message.append("[").append(listed).append("]");
  return out;
}

Error build(const ParsedStatus& st, int http_status, std::string_view body, std::string_view what) {
  std::string message = st.message;
  if (message.empty()) {
    std::string_view snippet = body.substr(0, 200);
    message = snippet.empty() ? fmt::format("HTTP {}", http_status)
                              : fmt::format("HTTP {}: {}", http_status, snippet);
  }
  Error e(codeFor(st.reason, http_status), fmt::format("{}: {}", what, message));
  // The API server refuses an eviction a PodDisruptionBudget forbids with 429 too, but that is
  // the cluster's answer, not throttling: repeating the request at once cannot succeed, so it is
  // not retried as a throttled request would be (the caller tries again later).
  if (st.reason == "TooManyRequests" && st.disruption_budget) {
    e.code = ErrorCode::FailedPrecondition;
  }
  e.http_status = http_status;
  e.provider_code = st.reason;
  if (st.retry_after_seconds.has_value()) {
    e.retry_after = std::chrono::seconds(*st.retry_after_seconds);
  }
  return e;
}

}  // namespace

Error errorFromResponse(const http::Response& response, std::string_view what) {
  ParsedStatus st = parseStatus(response.body);
  Error e = build(st, response.status, response.body, what);
  if (auto audit = response.header("Audit-Id"); audit.has_value()) {
    e.request_id = std::string(*audit);
  }
  if (auto retry = response.header("Retry-After"); retry.has_value()) {
    e.retry_after = http::parseRetryAfterSeconds(*retry);
  }
  return e;
}

std::string describe(std::string_view verb, const Resource& r, std::string_view ns,
                     std::string_view name) {
  std::string what = fmt::format("{} {}", verb, r.plural);
  if (!r.group.empty()) {
    what += "." + r.group;
  }
  std::string key =
      name.empty() ? std::string(r.namespaced ? ns : "") : objectKey(r.namespaced ? ns : "", name);
  if (!key.empty()) {
    what += " " + key;
  }
  return what;
}

Error notFoundError(const Resource& r, std::string_view ns, std::string_view name) {
  // The server's own wording: `jobs.batch "build-1" not found`.
  const std::string qualified = r.group.empty() ? r.plural : r.plural + "." + r.group;
  Error e(ErrorCode::NotFound,
          fmt::format("{}: {} \"{}\" not found", describe("get", r, ns, name), qualified, name));
  e.http_status = 404;
  e.provider_code = "NotFound";
  return e;
}

Error errorFromStatusJson(std::string_view status_json, std::string_view what) {
  ParsedStatus st = parseStatus(status_json);
  return build(st, st.code, status_json, what);
}

}  // namespace opsy::kube

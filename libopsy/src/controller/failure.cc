#include "opsy/controller/failure.h"

#include <fmt/format.h>

#include "opsy/core/log.h"

namespace opsy::controller {
namespace {

// "UnauthorizedOperation: You are not authorized ..." with the code only when the message does
// not already start with it.
std::string serviceWords(const Error& e) {
  std::string message = e.message;
  // EC2 appends an encoded authorization message that differs on every call; kept, it would
  // rewrite the status on each retry. The controller's log has the whole error.
  constexpr std::string_view kEncoded = " Encoded authorization failure message:";
  if (std::size_t at = message.find(kEncoded); at != std::string::npos) {
    message.resize(at);
  }
  if (e.provider_code.empty() || message.find(e.provider_code) != std::string::npos) {
    return message;
  }
  return fmt::format("{}: {}", e.provider_code, message);
}

Failure aws(const Error& e, const FailureContext& ctx) {
  const std::string& action = e.action;
  switch (e.code) {
    case ErrorCode::PermissionDenied:
      return {std::string(kReasonAwsAccessDenied),
              fmt::format("{} denied ({}); allow it in the controller's IAM policy, see {}", action,
                          serviceWords(e), ctx.iam_doc),
              false};
    case ErrorCode::Unauthenticated:
      return {std::string(kReasonAwsCredentials),
              fmt::format("{} failed: AWS did not accept the controller's credentials ({}); check "
                          "the service account's IRSA role or the credentials in its environment",
                          action, serviceWords(e)),
              false};
    case ErrorCode::Throttled:
    case ErrorCode::Unavailable:
    case ErrorCode::DeadlineExceeded:
      return {std::string(kReasonAwsUnavailable),
              fmt::format("{} failed, retrying: {}", action, serviceWords(e)), true};
    case ErrorCode::Conflict:
      return {std::string(kReasonConflict),
              fmt::format("{} conflicts with a change in progress, retrying: {}", action,
                          serviceWords(e)),
              true};
    default:
      return {std::string(kReasonAwsRequestRejected),
              fmt::format("{} refused: {}", action, serviceWords(e)), false};
  }
}

Failure describeUnbounded(const Error& error, const FailureContext& context) {
  if (!error.action.empty()) {
    return aws(error, context);
  }
  switch (error.code) {
    case ErrorCode::PermissionDenied:
    case ErrorCode::Unauthenticated:
      return {std::string(kReasonKubernetesAccessDenied),
              fmt::format("the Kubernetes API refused the controller: {}; check its RBAC",
                          error.message),
              false};
    case ErrorCode::Throttled:
    case ErrorCode::Unavailable:
    case ErrorCode::DeadlineExceeded:
      return {std::string(kReasonKubernetesUnavailable),
              fmt::format("the Kubernetes API did not answer, retrying: {}", error.message), true};
    case ErrorCode::Conflict:
      return {std::string(kReasonConflict), fmt::format("retrying: {}", error.message), true};
    case ErrorCode::InvalidArgument: return {std::string(kReasonInvalidSpec), error.message, false};
    default:
      // A malformed answer or a bug: retried with backoff, so it is seen but not hot-looped.
      return {std::string(kReasonInternal), error.message, error.code == ErrorCode::Internal};
  }
}

}  // namespace

std::string quoteServiceError(std::string_view text) {
  return log::scrubBounded(text, kMaxQuotedErrorBytes);
}

Failure describeFailure(const Error& error, const FailureContext& context) {
  // The service's words may be megabytes (a proxy's page, an echoed request): the status, Event
  // and notification that carry them need a few lines, masked like a log line. They are cut
  // before the advice is added around them, which must survive.
  Error bounded = error;
  bounded.message = quoteServiceError(error.message);
  return describeUnbounded(bounded, context);
}

bool showFailure(const Failure& f, const std::vector<kube::Condition>& before,
                 kube::ConditionWriter& conditions) {
  const kube::Condition* ready = kube::findCondition(before, kube::kConditionReady);
  const kube::Condition* progressing = kube::findCondition(before, kube::kConditionProgressing);
  const bool reported =
      ready != nullptr && ready->status == kube::kConditionFalse && ready->reason == f.reason;
  const bool seen_before = reported || (progressing != nullptr && progressing->reason == f.reason);
  if (f.transient) {
    conditions.set(kube::kConditionProgressing, kube::kConditionTrue, f.reason, f.message);
    conditions.set(kube::kConditionStalled, kube::kConditionFalse, f.reason, "");
    if (!seen_before) {
      return false;  // one blip: retried with backoff before anyone is told
    }
  } else {
    conditions.set(kube::kConditionStalled, kube::kConditionTrue, f.reason, f.message);
    conditions.set(kube::kConditionProgressing, kube::kConditionFalse, f.reason, f.message);
  }
  conditions.set(kube::kConditionReady, kube::kConditionFalse, f.reason, f.message);
  return !reported;
}

void recordShownFailure(FailureCounter* counter, std::string_view component,
                        const kube::ObjectKey& key, const Failure& f, const Error* error) {
  if (counter != nullptr) {
    counter->count(f.reason);
  }
  log::get(component).warn("reconcile failed",
                           log::kv("object", key.str(), "reason", f.reason, "error",
                                   error != nullptr ? error->toString() : f.message));
}

}  // namespace opsy::controller

// File: failure.h
//
// How a failed reconcile shows on its object. Every error a reconcile meets becomes a Failure: a
// condition reason from one closed set (docs/troubleshooting.md lists them with their fixes) and a
// message that names what failed and what to do. decide() puts it on Ready (and Stalled when only
// a person can fix it) and picks when to look again: a transient failure retries with backoff, a
// persistent one waits for the object's own period or a change, so nothing is hot-looped. The
// executor counts each in opsy_reconcile_errors_total{controller,reason}.
//
//   Failure f = describeFailure(error, {.iam_doc = "docs/iam.md#packer-builder-controller"});
//   conditions.set(kube::kConditionReady, kube::kConditionFalse, f.reason, f.message);
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/error.h"
#include "opsy/kube/conditions.h"
#include "opsy/kube/object.h"

namespace opsy::controller {

// The closed set of failure reasons both controllers write.
inline constexpr std::string_view kReasonAwsAccessDenied = "AWSAccessDenied";
inline constexpr std::string_view kReasonAwsCredentials = "AWSCredentialsRejected";
inline constexpr std::string_view kReasonAwsUnavailable = "AWSUnavailable";
inline constexpr std::string_view kReasonAwsRequestRejected = "AWSRequestRejected";
inline constexpr std::string_view kReasonClusterNotFound = "ClusterNotFound";
inline constexpr std::string_view kReasonSecretMissing = "SecretMissing";
inline constexpr std::string_view kReasonJobRejected = "JobRejected";
inline constexpr std::string_view kReasonInvalidSpec = "InvalidSpec";
inline constexpr std::string_view kReasonPolicyDenied = "PolicyDenied";
inline constexpr std::string_view kReasonKubernetesAccessDenied = "KubernetesAccessDenied";
inline constexpr std::string_view kReasonKubernetesUnavailable = "KubernetesUnavailable";
inline constexpr std::string_view kReasonConflict = "Conflict";
inline constexpr std::string_view kReasonInternal = "InternalError";

struct Failure {
  std::string reason;   // one of the kReason* above
  std::string message;  // what failed, with the service's words, and what to do
  // A retry of the same call may succeed (throttling, 5xx, timeouts, conflicts): retried with
  // backoff. Otherwise a person has to change something (a policy, a name, a Secret): looked at
  // again at the object's own period or when it changes.
  bool transient = false;

  bool operator==(const Failure&) const = default;
};

struct FailureContext {
  // Where the controller's IAM policy is documented, named in AWSAccessDenied messages.
  std::string_view iam_doc;
};

// The most of a service's error text a status, Event or notification quotes.
inline constexpr std::size_t kMaxQuotedErrorBytes = 2048;

// `text` (a service's error, possibly a proxy's page that echoes credentials) as a status quotes
// it: masked like a log line and at most kMaxQuotedErrorBytes, the cut marked.
[[nodiscard]] std::string quoteServiceError(std::string_view text);

// The reason and message for `error`. AWS errors name the call as IAM spells it
// ("ec2:DescribeImages"); Kubernetes errors keep the API server's own message.
[[nodiscard]] Failure describeFailure(const Error& error, const FailureContext& context);

// Puts `f` on the conditions: a persistent failure sets Ready=False, Stalled=True and
// Progressing=False; a transient one sets Progressing=True, and Ready=False only when `before`
// shows the same reason already (it persisted past one reconcile). True when the failure is news
// worth one Warning Event: Ready was not already False for this reason.
[[nodiscard]] bool showFailure(const Failure& f, const std::vector<kube::Condition>& before,
                               kube::ConditionWriter& conditions);

class FailureCounter;

// After a reconcile that showed `f` on its object and ended without an error (so the controller
// loop neither counts nor logs it): counts it by reason and logs the whole error once, with the
// detail the status message leaves out. `counter` and `error` may be null.
void recordShownFailure(FailureCounter* counter, std::string_view component,
                        const kube::ObjectKey& key, const Failure& f, const Error* error);

// Counts failed reconciles by reason (opsy_reconcile_errors_total{controller,reason}).
class FailureCounter {
 public:
  virtual ~FailureCounter() = default;
  virtual void count(std::string_view reason) = 0;
};

using FailureCounterPtr = std::shared_ptr<FailureCounter>;

}  // namespace opsy::controller

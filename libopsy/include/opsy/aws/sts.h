// File: sts.h
//
// AWS STS: AssumeRoleWithWebIdentity (unsigned; the IRSA credential exchange) and
// GetCallerIdentity (signed; "who am I", used by start-up checks and the demo).
//
//   OPSY_ASSIGN_OR_RETURN(aws::StsApiPtr sts, aws::makeStsClient(options));
//   OPSY_ASSIGN_OR_RETURN(aws::CallerIdentity me, sts->getCallerIdentity());
#pragma once

#include <memory>
#include <string>

#include "opsy/aws/client_options.h"
#include "opsy/aws/credentials.h"
#include "opsy/core/result.h"

namespace opsy::aws {

struct CallerIdentity {
  std::string account;
  std::string arn;
  std::string user_id;
};

struct AssumeRoleWithWebIdentityInput {
  std::string role_arn;
  std::string role_session_name;  // 2-64 chars of [\w+=,.@-]
  std::string web_identity_token;
  int duration_seconds = 3600;  // 900-43200
};

struct AssumedRole {
  Credentials credentials;
  std::string assumed_role_arn;
  std::string assumed_role_id;
  std::string subject_from_web_identity_token;
  std::string audience;
  std::string provider;
};

class StsApi {
 public:
  virtual ~StsApi() = default;

  /** AssumeRoleWithWebIdentity; sent unsigned, so no credentials provider is needed. */
  [[nodiscard]] virtual Result<AssumedRole> assumeRoleWithWebIdentity(
      const AssumeRoleWithWebIdentityInput& input) = 0;
  /** GetCallerIdentity for the client's credentials. */
  [[nodiscard]] virtual Result<CallerIdentity> getCallerIdentity() = 0;
};

using StsApiPtr = std::shared_ptr<StsApi>;

[[nodiscard]] Result<StsApiPtr> makeStsClient(const ClientOptions& options);

}  // namespace opsy::aws

#include "opsy/aws/sts.h"

#include "aws/caller.h"

namespace opsy::aws {
namespace {

constexpr std::string_view kVersion = "2011-06-15";

bool validSessionName(const std::string& name) {
  if (name.size() < 2 || name.size() > 64) {
    return false;
  }
  for (unsigned char c : name) {
    if (!(std::isalnum(c) != 0 || c == '_' || c == '+' || c == '=' || c == ',' || c == '.' ||
          c == '@' || c == '-')) {
      return false;
    }
  }
  return true;
}

class StsClientImpl : public StsApi {
 public:
  explicit StsClientImpl(std::unique_ptr<Caller> caller) : caller_(std::move(caller)) {}

  Result<AssumedRole> assumeRoleWithWebIdentity(const AssumeRoleWithWebIdentityInput& in) override {
    if (in.role_arn.empty() || in.web_identity_token.empty()) {
      return fail(ErrorCode::InvalidArgument,
                  "assume role with web identity needs a role and token");
    }
    if (!validSessionName(in.role_session_name)) {
      return fail(ErrorCode::InvalidArgument,
                  "role session name must be 2-64 characters of [A-Za-z0-9_+=,.@-]");
    }
    if (in.duration_seconds < 900 || in.duration_seconds > 43200) {
      return fail(ErrorCode::InvalidArgument, "duration must be 900-43200 seconds");
    }
    QueryParams p = {{"RoleArn", in.role_arn},
                     {"RoleSessionName", in.role_session_name},
                     {"WebIdentityToken", in.web_identity_token},
                     {"DurationSeconds", std::to_string(in.duration_seconds)}};
    OPSY_ASSIGN_OR_RETURN(std::string body, caller_->query("AssumeRoleWithWebIdentity", kVersion, p,
                                                           Protocol::AwsQuery, /*sign=*/false));
    pugi::xml_document doc;
    OPSY_RETURN_IF_ERROR(parseXml(doc, body, "AssumeRoleWithWebIdentity"));
    pugi::xml_node result = doc.document_element().child("AssumeRoleWithWebIdentityResult");
    pugi::xml_node creds = result.child("Credentials");
    AssumedRole out;
    out.credentials.access_key_id = xmlText(creds, "AccessKeyId");
    out.credentials.secret_access_key = xmlText(creds, "SecretAccessKey");
    out.credentials.session_token = xmlText(creds, "SessionToken");
    out.credentials.expiration = xmlTime(creds, "Expiration");
    if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty()) {
      return fail(ErrorCode::Internal, "AssumeRoleWithWebIdentity: no credentials in response");
    }
    out.assumed_role_arn = xmlText(result.child("AssumedRoleUser"), "Arn");
    out.assumed_role_id = xmlText(result.child("AssumedRoleUser"), "AssumedRoleId");
    out.subject_from_web_identity_token = xmlText(result, "SubjectFromWebIdentityToken");
    out.audience = xmlText(result, "Audience");
    out.provider = xmlText(result, "Provider");
    return out;
  }

  Result<CallerIdentity> getCallerIdentity() override {
    OPSY_ASSIGN_OR_RETURN(std::string body,
                          caller_->query("GetCallerIdentity", kVersion, {}, Protocol::AwsQuery));
    pugi::xml_document doc;
    OPSY_RETURN_IF_ERROR(parseXml(doc, body, "GetCallerIdentity"));
    pugi::xml_node r = doc.document_element().child("GetCallerIdentityResult");
    return CallerIdentity{xmlText(r, "Account"), xmlText(r, "Arn"), xmlText(r, "UserId")};
  }

 private:
  std::unique_ptr<Caller> caller_;
};

}  // namespace

Result<StsApiPtr> makeStsClient(const ClientOptions& options) {
  OPSY_ASSIGN_OR_RETURN(std::unique_ptr<Caller> caller, Caller::create(Service::Sts, options));
  return StsApiPtr(std::make_shared<StsClientImpl>(std::move(caller)));
}

}  // namespace opsy::aws

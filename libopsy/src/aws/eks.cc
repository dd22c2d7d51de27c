#include "opsy/aws/eks.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "aws/caller.h"
#include "aws/enum_text.h"
#include "opsy/aws/sigv4.h"
#include "opsy/core/time_format.h"

namespace opsy::aws {
namespace {

constexpr EnumText<NodegroupStatus> kNodegroupStatuses[] = {
    {NodegroupStatus::Creating, "CREATING"},
    {NodegroupStatus::Active, "ACTIVE"},
    {NodegroupStatus::Updating, "UPDATING"},
    {NodegroupStatus::Deleting, "DELETING"},
    {NodegroupStatus::CreateFailed, "CREATE_FAILED"},
    {NodegroupStatus::DeleteFailed, "DELETE_FAILED"},
    {NodegroupStatus::Degraded, "DEGRADED"},
};

constexpr EnumText<UpdateStatus> kUpdateStatuses[] = {
    {UpdateStatus::InProgress, "InProgress"},
    {UpdateStatus::Failed, "Failed"},
    {UpdateStatus::Cancelled, "Cancelled"},
    {UpdateStatus::Successful, "Successful"},
};

constexpr EnumText<UpdateType> kUpdateTypes[] = {
    {UpdateType::VersionUpdate, "VersionUpdate"},
    {UpdateType::EndpointAccessUpdate, "EndpointAccessUpdate"},
    {UpdateType::LoggingUpdate, "LoggingUpdate"},
    {UpdateType::ConfigUpdate, "ConfigUpdate"},
    {UpdateType::AssociateIdentityProviderConfig, "AssociateIdentityProviderConfig"},
    {UpdateType::DisassociateIdentityProviderConfig, "DisassociateIdentityProviderConfig"},
    {UpdateType::AssociateEncryptionConfig, "AssociateEncryptionConfig"},
    {UpdateType::AddonUpdate, "AddonUpdate"},
    {UpdateType::VpcConfigUpdate, "VpcConfigUpdate"},
    {UpdateType::AccessConfigUpdate, "AccessConfigUpdate"},
    {UpdateType::UpgradePolicyUpdate, "UpgradePolicyUpdate"},
    {UpdateType::ZonalShiftConfigUpdate, "ZonalShiftConfigUpdate"},
    {UpdateType::AutoModeUpdate, "AutoModeUpdate"},
    {UpdateType::RemoteNetworkConfigUpdate, "RemoteNetworkConfigUpdate"},
    {UpdateType::DeletionProtectionUpdate, "DeletionProtectionUpdate"},
    {UpdateType::ControlPlaneScalingConfigUpdate, "ControlPlaneScalingConfigUpdate"},
    {UpdateType::VendedLogsUpdate, "VendedLogsUpdate"},
};

}  // namespace

std::string_view toString(NodegroupStatus status) {
  return enumToText(status, kNodegroupStatuses);
}
std::string_view toString(UpdateStatus status) {
  return enumToText(status, kUpdateStatuses);
}
std::string_view toString(UpdateType type) {
  return enumToText(type, kUpdateTypes);
}
NodegroupStatus parseNodegroupStatus(std::string_view text) {
  return enumFromText(text, kNodegroupStatuses);
}
UpdateStatus parseUpdateStatus(std::string_view text) {
  return enumFromText(text, kUpdateStatuses);
}
UpdateType parseUpdateType(std::string_view text) {
  return enumFromText(text, kUpdateTypes);
}

namespace {

constexpr int kMaxPages = 1000;

std::string seg(const std::string& s) {
  return uriEncode(s, false);
}

// A random version-4 UUID, the form SDKs fill idempotency tokens with.
std::string randomUuid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof(b));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out.push_back('-');
    }
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

Nodegroup parseNodegroup(const json::Value& ng) {
  Nodegroup n;
  n.name = json::stringOr(ng, "nodegroupName");
  n.cluster_name = json::stringOr(ng, "clusterName");
  n.arn = json::stringOr(ng, "nodegroupArn");
  n.status = parsedAs(json::stringOr(ng, "status"), parseNodegroupStatus);
  n.version = json::stringOr(ng, "version");
  n.release_version = json::stringOr(ng, "releaseVersion");
  n.ami_type = json::stringOr(ng, "amiType");
  n.capacity_type = json::stringOr(ng, "capacityType");
  if (const json::Value* lt = json::member(ng, "launchTemplate"); lt != nullptr && lt->IsObject()) {
    n.launch_template = LaunchTemplateSpec{json::stringOr(*lt, "id"), json::stringOr(*lt, "name"),
                                           json::stringOr(*lt, "version")};
  }
  if (const json::Value* res = json::member(ng, "resources")) {
    if (const json::Value* asgs = json::member(*res, "autoScalingGroups");
        asgs && asgs->IsArray()) {
      for (const auto& a : asgs->GetArray()) {
        n.autoscaling_groups.push_back(json::stringOr(a, "name"));
      }
    }
  }
  if (const json::Value* health = json::member(ng, "health")) {
    if (const json::Value* issues = json::member(*health, "issues"); issues && issues->IsArray()) {
      for (const auto& i : issues->GetArray()) {
        n.health_issues.push_back({json::stringOr(i, "code"), json::stringOr(i, "message"),
                                   json::strings(i, "resourceIds")});
      }
    }
  }
  if (const json::Value* sc = json::member(ng, "scalingConfig")) {
    n.min_size = json::optInt(*sc, "minSize").value_or(0);
    n.max_size = json::optInt(*sc, "maxSize").value_or(0);
    n.desired_size = json::optInt(*sc, "desiredSize").value_or(0);
  }
  if (const json::Value* uc = json::member(ng, "updateConfig")) {
    n.max_unavailable = json::optInt(*uc, "maxUnavailable");
    n.max_unavailable_percentage = json::optInt(*uc, "maxUnavailablePercentage");
  }
  n.labels = json::stringMap(ng, "labels");
  n.tags = json::stringMap(ng, "tags");
  n.created_at = json::optEpochSeconds(ng, "createdAt");
  n.modified_at = json::optEpochSeconds(ng, "modifiedAt");
  return n;
}

Result<Update> parseUpdate(const std::string& body, std::string_view operation) {
  OPSY_ASSIGN_OR_RETURN(json::Document doc, parseJson(body, operation));
  const json::Value* u = json::member(doc, "update");
  if (u == nullptr || !u->IsObject()) {
    return fail(ErrorCode::Internal, std::string(operation) + ": no update in response");
  }
  Update out;
  out.id = json::stringOr(*u, "id");
  out.status = parsedAs(json::stringOr(*u, "status"), parseUpdateStatus);
  out.type = parsedAs(json::stringOr(*u, "type"), parseUpdateType);
  out.created_at = json::optEpochSeconds(*u, "createdAt");
  if (const json::Value* params = json::member(*u, "params"); params && params->IsArray()) {
    for (const auto& p : params->GetArray()) {
      out.params.emplace_back(json::stringOr(p, "type"), json::stringOr(p, "value"));
    }
  }
  if (const json::Value* errs = json::member(*u, "errors"); errs && errs->IsArray()) {
    for (const auto& e : errs->GetArray()) {
      out.errors.push_back({json::stringOr(e, "errorCode"), json::stringOr(e, "errorMessage"),
                            json::strings(e, "resourceIds")});
    }
  }
  return out;
}

class EksClientImpl : public EksApi {
 public:
  explicit EksClientImpl(std::unique_ptr<Caller> caller) : caller_(std::move(caller)) {}

  Result<std::vector<std::string>> listNodegroups(const std::string& cluster) override {
    std::vector<std::string> out;
    std::string token;
    for (int page = 0; page < kMaxPages; ++page) {
      std::string path = "/clusters/" + seg(cluster) + "/node-groups?maxResults=100";
      if (!token.empty()) {
        path += "&nextToken=" + uriEncode(token, false);
      }
      OPSY_ASSIGN_OR_RETURN(std::string body, caller_->restJson("ListNodegroups", "GET", path, ""));
      OPSY_ASSIGN_OR_RETURN(json::Document doc, parseJson(body, "ListNodegroups"));
      for (std::string& name : json::strings(doc, "nodegroups")) {
        out.push_back(std::move(name));
      }
      std::string next = json::stringOr(doc, "nextToken");
      if (next.empty()) {
        return out;
      }
      if (next == token) {
        return fail(ErrorCode::Internal, "ListNodegroups: service repeated its page token");
      }
      token = std::move(next);
    }
    return fail(ErrorCode::Internal, "ListNodegroups: more than 1000 pages");
  }

  Result<Nodegroup> describeNodegroup(const std::string& cluster,
                                      const std::string& nodegroup) override {
    OPSY_ASSIGN_OR_RETURN(
        std::string body,
        caller_->restJson("DescribeNodegroup", "GET",
                          "/clusters/" + seg(cluster) + "/node-groups/" + seg(nodegroup), ""));
    OPSY_ASSIGN_OR_RETURN(json::Document doc, parseJson(body, "DescribeNodegroup"));
    const json::Value* ng = json::member(doc, "nodegroup");
    if (ng == nullptr || !ng->IsObject()) {
      return fail(ErrorCode::Internal, "DescribeNodegroup: no nodegroup in response");
    }
    return parseNodegroup(*ng);
  }

  Result<Update> updateNodegroupVersion(const UpdateNodegroupVersionInput& in) override {
    if (in.cluster_name.empty() || in.nodegroup_name.empty()) {
      return fail(ErrorCode::InvalidArgument,
                  "update nodegroup version needs cluster and nodegroup");
    }
    rapidjson::StringBuffer buf;
    json::Writer w(buf);
    w.StartObject();
    if (in.launch_template) {
      w.Key("launchTemplate");
      w.StartObject();
      if (!in.launch_template->id.empty()) {
        json::writeString(w, "id", in.launch_template->id);
      } else {
        json::writeString(w, "name", in.launch_template->name);
      }
      if (!in.launch_template->version.empty()) {
        json::writeString(w, "version", in.launch_template->version);
      }
      w.EndObject();
    }
    if (!in.version.empty()) {
      json::writeString(w, "version", in.version);
    }
    if (!in.release_version.empty()) {
      json::writeString(w, "releaseVersion", in.release_version);
    }
    w.Key("force");
    w.Bool(in.force);
    std::string token = in.client_request_token.empty() ? randomUuid() : in.client_request_token;
    json::writeString(w, "clientRequestToken", token);
    w.EndObject();
    OPSY_ASSIGN_OR_RETURN(std::string body,
                          caller_->restJson("UpdateNodegroupVersion", "POST",
                                            "/clusters/" + seg(in.cluster_name) + "/node-groups/" +
                                                seg(in.nodegroup_name) + "/update-version",
                                            buf.GetString()));
    return parseUpdate(body, "UpdateNodegroupVersion");
  }

  Result<Update> updateNodegroupConfig(const UpdateNodegroupConfigInput& in) override {
    if (in.cluster_name.empty() || in.nodegroup_name.empty()) {
      return fail(ErrorCode::InvalidArgument,
                  "update nodegroup config needs cluster and nodegroup");
    }
    if (in.max_unavailable.has_value() == in.max_unavailable_percentage.has_value()) {
      return fail(ErrorCode::InvalidArgument,
                  "update nodegroup config needs exactly one of maxUnavailable and "
                  "maxUnavailablePercentage");
    }
    rapidjson::StringBuffer buf;
    json::Writer w(buf);
    w.StartObject();
    w.Key("updateConfig");
    w.StartObject();
    if (in.max_unavailable) {
      w.Key("maxUnavailable");
      w.Int(*in.max_unavailable);
    } else {
      w.Key("maxUnavailablePercentage");
      w.Int(*in.max_unavailable_percentage);
    }
    w.EndObject();
    std::string token = in.client_request_token.empty() ? randomUuid() : in.client_request_token;
    json::writeString(w, "clientRequestToken", token);
    w.EndObject();
    OPSY_ASSIGN_OR_RETURN(std::string body,
                          caller_->restJson("UpdateNodegroupConfig", "POST",
                                            "/clusters/" + seg(in.cluster_name) + "/node-groups/" +
                                                seg(in.nodegroup_name) + "/update-config",
                                            buf.GetString()));
    return parseUpdate(body, "UpdateNodegroupConfig");
  }

  Result<Update> describeUpdate(const std::string& cluster, const std::string& update_id,
                                const std::string& nodegroup) override {
    std::string path = "/clusters/" + seg(cluster) + "/updates/" + seg(update_id);
    if (!nodegroup.empty()) {
      path += "?nodegroupName=" + uriEncode(nodegroup, false);
    }
    OPSY_ASSIGN_OR_RETURN(std::string body, caller_->restJson("DescribeUpdate", "GET", path, ""));
    return parseUpdate(body, "DescribeUpdate");
  }

 private:
  std::unique_ptr<Caller> caller_;
};

std::string base64UrlNoPad(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') {
    out.pop_back();
  }
  for (char& c : out) {
    c = c == '+' ? '-' : (c == '/' ? '_' : c);
  }
  return out;
}

}  // namespace

Result<EksApiPtr> makeEksClient(const ClientOptions& options) {
  OPSY_ASSIGN_OR_RETURN(std::unique_ptr<Caller> caller, Caller::create(Service::Eks, options));
  return EksApiPtr(std::make_shared<EksClientImpl>(std::move(caller)));
}

Result<std::string> eksBearerToken(const Credentials& credentials, std::string_view region,
                                   std::string_view cluster_name, TimePoint now,
                                   std::string_view sts_endpoint) {
  if (cluster_name.empty()) {
    return fail(ErrorCode::InvalidArgument, "eks token needs a cluster name");
  }
  std::string base = sts_endpoint.empty() ? "https://sts." + std::string(region) + ".amazonaws.com"
                                          : std::string(sts_endpoint);
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  http::Request req;
  req.method = "GET";
  req.url = base + "/?Action=GetCallerIdentity&Version=2011-06-15";
  req.headers = {{"x-k8s-aws-id", std::string(cluster_name)}};
  OPSY_ASSIGN_OR_RETURN(PresignedUrl url,
                        presignUrl(req, credentials, region, "sts", now, std::chrono::seconds(60)));
  return "k8s-aws-v1." + base64UrlNoPad(url.url);
}

}  // namespace opsy::aws

// IAM denials for FakeAws: who is refused which action on which resource, worded and shaped as
// each service words an implicit deny (no identity-based policy allows the action).
#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

struct ServedActions {
  std::string_view service;  // also the IAM prefix
  std::vector<std::string_view> operations;
};

// Every operation the fake routes, by service: denying anything else would be a typo that never
// fires, so denyOperation refuses it.
const std::array<ServedActions, 6> kServed = {{
    {"ec2",
     {"DescribeImages", "CreateTags", "DeleteTags", "RegisterImage", "DeregisterImage",
      "EnableImageDeprecation", "DisableImageDeprecation", "DescribeSnapshots", "DeleteSnapshot",
      "DescribeLaunchTemplates", "DescribeLaunchTemplateVersions", "CreateLaunchTemplateVersion",
      "ModifyLaunchTemplate", "DescribeSecurityGroups", "DeleteSecurityGroup", "DescribeKeyPairs",
      "DeleteKeyPair", "DescribeInstances"}},
    {"eks",
     {"ListClusters", "DescribeCluster", "ListNodegroups", "DescribeNodegroup",
      "UpdateNodegroupVersion", "UpdateNodegroupConfig", "DescribeUpdate"}},
    {"autoscaling",
     {"DescribeAutoScalingGroups", "UpdateAutoScalingGroup", "StartInstanceRefresh",
      "DescribeInstanceRefreshes", "CancelInstanceRefresh", "PutLifecycleHook",
      "DescribeLifecycleHooks", "DeleteLifecycleHook", "CompleteLifecycleAction",
      "RecordLifecycleActionHeartbeat", "DescribeAutoScalingInstances"}},
    {"sts", {"AssumeRoleWithWebIdentity", "GetCallerIdentity"}},
    {"sns", {"Publish"}},
    {"ses", {"SendEmail"}},
}};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// SNS is the one service whose denials spell the prefix in capitals ("SNS:Publish").
std::string iamAction(const std::string& service, const std::string& operation) {
  return (service == "sns" ? "SNS" : service) + ":" + operation;
}

bool readOnly(const std::string& operation) {
  for (std::string_view verb : {"Describe", "List", "Get"}) {
    if (operation.rfind(verb, 0) == 0) {
      return true;
    }
  }
  return false;
}

// Opaque, URL-safe and long, like the blob STS DecodeAuthorizationMessage takes.
std::string encodedAuthorizationMessage(std::mt19937_64& rng) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  for (int i = 0; i < 640; ++i) {
    out.push_back(kAlphabet[rng() % kAlphabet.size()]);
  }
  return out;
}

std::vector<std::string> pathSegments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    out.push_back(
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) {
      break;
    }
    start = slash + 1;
  }
  return out;
}

}  // namespace

std::string FakeAws::Impl::callerArn(const std::string& access_key) const {
  if (auto it = issued.find(access_key); it != issued.end()) {
    return it->second.arn;
  }
  return "arn:aws:iam::" + options.account_id + ":user/fake-user";
}

std::string FakeAws::Impl::deniedResource(const Call& call) {
  const std::string& svc = call.service;
  const std::string& op = call.operation;
  const std::string region = regionOf(call);
  const std::string& account = options.account_id;
  if (svc == "ec2") {
    // EC2 names a resource only for actions that have a resource type: its Describe* calls
    // have none and their denials say nothing about a resource.
    const std::string ec2 = "arn:aws:ec2:" + region + ":";
    auto typed = [&](const std::string& id) -> std::string {
      // Images and snapshots have no account in their ARNs; key pairs are named by name.
      if (id.rfind("ami-", 0) == 0) {
        return ec2 + ":image/" + id;
      }
      if (id.rfind("snap-", 0) == 0) {
        return ec2 + ":snapshot/" + id;
      }
      if (id.rfind("lt-", 0) == 0) {
        return ec2 + account + ":launch-template/" + id;
      }
      if (id.rfind("sg-", 0) == 0) {
        return ec2 + account + ":security-group/" + id;
      }
      if (id.rfind("key-", 0) == 0) {
        for (const auto& [name, key] : key_pairs) {
          if (key.id == id) {
            return ec2 + account + ":key-pair/" + name;
          }
        }
      }
      return "*";
    };
    if (op == "CreateTags" || op == "DeleteTags") {
      return typed(call.get("ResourceId.1"));
    }
    if (op == "RegisterImage") {
      return ec2 + ":image/*";
    }
    if (op == "DeregisterImage" || op == "EnableImageDeprecation" ||
        op == "DisableImageDeprecation") {
      return typed(call.get("ImageId"));
    }
    if (op == "DeleteSnapshot") {
      return typed(call.get("SnapshotId"));
    }
    if (op == "CreateLaunchTemplateVersion" || op == "ModifyLaunchTemplate") {
      std::string id = call.get("LaunchTemplateId");
      for (const auto& [lid, lt] : launch_templates) {
        if (id.empty() && lt.name == call.get("LaunchTemplateName")) {
          id = lid;
        }
      }
      return id.empty() ? ec2 + account + ":launch-template/*" : typed(id);
    }
    if (op == "DeleteSecurityGroup") {
      std::string id = call.get("GroupId");
      for (const auto& [gid, g] : security_groups) {
        if (id.empty() && g.name == call.get("GroupName")) {
          id = gid;
        }
      }
      return id.empty() ? "*" : typed(id);
    }
    if (op == "DeleteKeyPair") {
      return call.has("KeyName") ? ec2 + account + ":key-pair/" + call.get("KeyName")
                                 : typed(call.get("KeyPairId"));
    }
    return "";
  }
  if (svc == "autoscaling") {
    // As EC2: the Describe* calls act on no resource type, the group calls on the group.
    if (readOnly(op)) {
      return "";
    }
    return "arn:aws:autoscaling:" + region + ":" + account +
           ":autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/" +
           call.get("AutoScalingGroupName");
  }
  if (svc == "eks") {
    std::vector<std::string> seg = pathSegments(call.req.path);
    if (seg.size() < 2) {
      return "*";  // ListClusters
    }
    const std::string cluster = "arn:aws:eks:" + region + ":" + account + ":cluster/" + seg[1];
    std::string nodegroup;
    if (seg.size() >= 4 && seg[2] == "node-groups") {
      nodegroup = seg[3];
    } else if (call.req.has_param("nodegroupName")) {
      nodegroup = call.req.get_param_value("nodegroupName");
    }
    if (nodegroup.empty()) {
      return cluster;
    }
    return "arn:aws:eks:" + region + ":" + account + ":nodegroup/" + seg[1] + "/" + nodegroup +
           "/00000000-0000-0000-0000-000000000000";
  }
  if (svc == "sns") {
    std::string arn = call.get("TopicArn", call.get("TargetArn"));
    return arn.empty() ? "*" : arn;
  }
  if (svc == "ses") {
    // SES checks the sending identity: the address, or its domain when that is what is verified.
    rapidjson::Document body;
    body.Parse(call.req.body.c_str());
    std::string from;
    if (body.IsObject() && body.HasMember("FromEmailAddress") &&
        body["FromEmailAddress"].IsString()) {
      from = lower(body["FromEmailAddress"].GetString());
    }
    if (size_t lt = from.find('<'); lt != std::string::npos) {
      from = from.substr(lt + 1, from.find('>', lt) - lt - 1);
    }
    std::string domain = from.substr(from.find('@') + 1);
    std::string identity =
        !ses_identities.count(from) && ses_identities.count(domain) ? domain : from;
    return identity.empty() ? "*"
                            : "arn:aws:ses:" + region + ":" + account + ":identity/" + identity;
  }
  return "*";
}

// A denial in each service's words and shape (see FaultKind::AccessDenied); `extra` is appended.
void FakeAws::Impl::sendAccessDenied(Call& call, const std::string& extra) {
  const std::string& svc = call.service;
  if (svc == "sts") {
    // The role's trust policy refuses the web identity; STS does not say why.
    queryError(call, 403, "AccessDenied", "Not authorized to perform sts:" + call.operation + extra,
               kStsXmlns);
    return;
  }
  std::string who;
  std::string resource;
  std::string encoded;
  {
    std::lock_guard<std::mutex> lock(mu);
    who = callerArn(call.access_key);
    resource = deniedResource(call);
    // EC2 encodes the details of denied changes; its read calls are denied in plain words.
    if (svc == "ec2" && !readOnly(call.operation)) {
      encoded = encodedAuthorizationMessage(rng);
    }
  }
  const std::string action = iamAction(svc, call.operation);
  std::string text = "User: " + who + " is not authorized to perform: " + action;
  if (!resource.empty()) {
    text += " on resource: " + resource;
  }
  text += " because no identity-based policy allows the " + action + " action";
  if (svc == "ec2") {
    text = "You are not authorized to perform this operation. " + text;
    if (!encoded.empty()) {
      text += ". Encoded authorization failure message: " + encoded;
    }
    ec2Error(call, 403, "UnauthorizedOperation", text + extra);
  } else if (svc == "eks" || svc == "ses") {
    jsonError(call, 403, "AccessDeniedException", text + extra);
  } else if (svc == "sns") {
    queryError(call, 403, "AuthorizationError", text + extra, kSnsXmlns);
  } else {
    queryError(call, 403, "AccessDenied", text + extra, kAsgXmlns);
  }
}

Status FakeAws::denyOperation(std::string_view iam_action, int count) {
  size_t colon = iam_action.find(':');
  std::string prefix = lower(iam_action.substr(0, colon));
  std::string wanted = colon == std::string_view::npos ? "" : lower(iam_action.substr(colon + 1));
  for (const ServedActions& served : kServed) {
    if (served.service != prefix) {
      continue;
    }
    // IAM matches action names case-insensitively; the fault needs the API's spelling.
    for (std::string_view op : served.operations) {
      if (lower(op) != wanted) {
        continue;
      }
      if (op == "GetCallerIdentity") {
        return fail(ErrorCode::InvalidArgument,
                    "fake aws: sts:GetCallerIdentity cannot be denied; AWS answers it whatever "
                    "the policy says");
      }
      addFault({.service = std::string(served.service),
                .operation = std::string(op),
                .kind = FaultKind::AccessDenied,
                .count = count});
      return ok();
    }
    return fail(ErrorCode::InvalidArgument,
                "fake aws: " + std::string(iam_action) + " is not an operation the fake serves");
  }
  return fail(
      ErrorCode::InvalidArgument,
      "fake aws: " + std::string(iam_action) +
          " does not name a service the fake serves (ec2, eks, autoscaling, sts, sns, ses)");
}

}  // namespace opsy::testing

// EKS (REST-JSON, 2017-11-01) for FakeAws: node groups and their version and config updates.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

double epochSeconds(TimePoint t) {
  return static_cast<double>(t.time_since_epoch().count()) / 1e6;
}

void str(JsonWriter& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str());
}

void sendJson(Call& call, int status, const rapidjson::StringBuffer& buf) {
  call.res.status = status;
  call.res.set_content(buf.GetString(), "application/json");
}

void writeUpdate(JsonWriter& w, const FakeEksUpdate& u) {
  w.StartObject();
  str(w, "id", u.id);
  str(w, "status", u.status);
  str(w, "type", u.type);
  w.Key("params");
  w.StartArray();
  for (const auto& [type, value] : u.params) {
    w.StartObject();
    str(w, "type", type);
    str(w, "value", value);
    w.EndObject();
  }
  w.EndArray();
  w.Key("createdAt");
  w.Double(epochSeconds(u.created_at));
  w.Key("errors");
  w.StartArray();
  for (const auto& e : u.errors) {
    w.StartObject();
    str(w, "errorCode", e.error_code);
    str(w, "errorMessage", e.error_message);
    w.Key("resourceIds");
    w.StartArray();
    for (const auto& r : e.resource_ids) {
      w.String(r.c_str());
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

void FakeAws::Impl::finishEksUpdate(FakeEksUpdate& u, bool success, const std::string& code,
                                    const std::string& message) {
  auto it = nodegroups.find({u.cluster, u.nodegroup});
  if (success && u.type == "ConfigUpdate") {
    u.status = "Successful";
    if (it != nodegroups.end()) {
      it->second.max_unavailable = u.target_max_unavailable;
      it->second.max_unavailable_percentage = u.target_max_unavailable_percentage;
    }
  } else if (success) {
    u.status = "Successful";
    if (it != nodegroups.end() && it->second.launch_template) {
      it->second.launch_template->version = u.target_template.version;
      for (const auto& asg_name : it->second.asg_names) {
        auto asg = asgs.find(asg_name);
        if (asg != asgs.end() && asg->second.launch_template) {
          asg->second.launch_template->version = u.target_template.version;
        }
      }
    }
    // The rolling update has drained and replaced every node: as many again, on the new image.
    if (it != nodegroups.end()) {
      replaceNodegroupInstances(it->second);
    }
  } else {
    u.status = "Failed";
    u.errors.push_back({code, message, {u.nodegroup}});
  }
  if (it != nodegroups.end()) {
    it->second.status = "ACTIVE";
  }
}

void FakeAws::Impl::handleEks(Call& call) {
  const std::string& op = call.operation;
  const std::string& path = call.req.path;
  std::vector<std::string> seg;
  for (size_t start = 1; start <= path.size();) {
    size_t slash = path.find('/', start);
    seg.push_back(
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos)
      break;
    start = slash + 1;
  }
  std::lock_guard<std::mutex> lock(mu);
  const std::string& account = options.account_id;
  std::string region = regionOf(call);
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);

  if (op == "ListClusters") {
    w.StartObject();
    w.Key("clusters");
    w.StartArray();
    for (const auto& [name, c] : clusters) {
      w.String(name.c_str());
    }
    w.EndArray();
    w.EndObject();
    sendJson(call, 200, buf);
    return;
  }
  if (seg.size() < 2 ||
      (op != "ListNodegroups" && op != "DescribeNodegroup" && op != "UpdateNodegroupVersion" &&
       op != "UpdateNodegroupConfig" && op != "DescribeUpdate" && op != "DescribeCluster")) {
    call.res.status = 404;
    call.error_code = "UnknownOperationException";
    call.res.set_header("X-Amzn-ErrorType", "UnknownOperationException");
    call.res.set_content("{\"message\":null}", "application/json");
    return;
  }
  const std::string& cluster_name = seg[1];
  auto cluster = clusters.find(cluster_name);
  if (cluster == clusters.end()) {
    jsonError(call, 404, "ResourceNotFoundException",
              "No cluster found for name: " + cluster_name + ".", {{"clusterName", cluster_name}});
    return;
  }

  if (op == "DescribeCluster") {
    const FakeCluster& c = cluster->second;
    w.StartObject();
    w.Key("cluster");
    w.StartObject();
    str(w, "name", c.name);
    str(w, "arn", "arn:aws:eks:" + region + ":" + account + ":cluster/" + c.name);
    w.Key("createdAt");
    w.Double(1.7e9);
    str(w, "version", c.version);
    str(w, "endpoint", "https://" + c.name + ".gr7." + region + ".eks.amazonaws.com");
    str(w, "status", c.status);
    str(w, "platformVersion", "eks.1");
    w.EndObject();
    w.EndObject();
    sendJson(call, 200, buf);
    return;
  }

  if (op == "ListNodegroups") {
    int max_results = 100;
    if (call.req.has_param("maxResults")) {
      std::string raw = call.req.get_param_value("maxResults");
      bool digits =
          !raw.empty() && raw.size() < 6 &&
          std::all_of(raw.begin(), raw.end(), [](unsigned char c) { return std::isdigit(c); });
      if (!digits || std::stoi(raw) < 1 || std::stoi(raw) > 100) {
        jsonError(call, 400, "InvalidParameterException", "maxResults must be between 1 and 100",
                  {{"clusterName", cluster_name}});
        return;
      }
      max_results = std::stoi(raw);
    }
    std::vector<std::string> names;
    for (const auto& [key, ng] : nodegroups) {
      if (key.first == cluster_name) {
        names.push_back(key.second);
      }
    }
    size_t begin = 0;
    if (call.req.has_param("nextToken")) {
      auto offset = parsePageToken(call.req.get_param_value("nextToken"), "ng", cluster_name);
      if (!offset || *offset > names.size()) {
        jsonError(call, 400, "InvalidParameterException", "The nextToken provided is invalid.",
                  {{"clusterName", cluster_name}});
        return;
      }
      begin = *offset;
    }
    size_t end = std::min(names.size(), begin + static_cast<size_t>(max_results));
    w.StartObject();
    w.Key("nodegroups");
    w.StartArray();
    for (size_t i = begin; i < end; ++i) {
      w.String(names[i].c_str());
    }
    w.EndArray();
    if (end < names.size()) {
      str(w, "nextToken", pageToken("ng", cluster_name, end));
    }
    w.EndObject();
    sendJson(call, 200, buf);
    return;
  }

  if (op == "DescribeUpdate") {
    const std::string& update_id = seg[3];
    std::string ng_name =
        call.req.has_param("nodegroupName") ? call.req.get_param_value("nodegroupName") : "";
    auto u = std::find_if(eks_updates.begin(), eks_updates.end(), [&](const FakeEksUpdate& x) {
      return x.id == update_id && x.cluster == cluster_name && x.nodegroup == ng_name;
    });
    if (u == eks_updates.end()) {
      jsonError(call, 404, "ResourceNotFoundException", "No update found for ID: " + update_id,
                {{"clusterName", cluster_name}});
      return;
    }
    ++u->describe_calls;
    if (eks_auto_complete > 0 && u->status == "InProgress" &&
        u->describe_calls >= eks_auto_complete) {
      finishEksUpdate(*u, true, "", "");
    }
    w.StartObject();
    w.Key("update");
    writeUpdate(w, *u);
    w.EndObject();
    sendJson(call, 200, buf);
    return;
  }

  const std::string& ng_name = seg[3];
  auto ng_it = nodegroups.find({cluster_name, ng_name});
  if (ng_it == nodegroups.end()) {
    jsonError(call, 404, "ResourceNotFoundException",
              "No node group found for name: " + ng_name + ".",
              {{"clusterName", cluster_name}, {"nodegroupName", ng_name}});
    return;
  }
  FakeNodegroup& ng = ng_it->second;

  if (op == "DescribeNodegroup") {
    w.StartObject();
    w.Key("nodegroup");
    w.StartObject();
    str(w, "nodegroupName", ng.name);
    str(w, "nodegroupArn",
        "arn:aws:eks:" + region + ":" + account + ":nodegroup/" + ng.cluster + "/" + ng.name +
            "/00000000-0000-0000-0000-000000000000");
    str(w, "clusterName", ng.cluster);
    str(w, "version", ng.version);
    if (!ng.release_version.empty()) {
      str(w, "releaseVersion", ng.release_version);
    }
    w.Key("createdAt");
    w.Double(1.7e9);
    w.Key("modifiedAt");
    w.Double(epochSeconds(now()));
    str(w, "status", ng.status);
    str(w, "capacityType", "ON_DEMAND");
    w.Key("scalingConfig");
    w.StartObject();
    w.Key("minSize");
    w.Int(ng.scaling.min_size);
    w.Key("maxSize");
    w.Int(ng.scaling.max_size);
    w.Key("desiredSize");
    w.Int(ng.scaling.desired_size);
    w.EndObject();
    w.Key("subnets");
    w.StartArray();
    w.String("subnet-0a1b2c3d4e5f60718");
    w.EndArray();
    str(w, "amiType", ng.ami_type);
    str(w, "nodeRole", "arn:aws:iam::" + account + ":role/" + ng.cluster + "-node");
    w.Key("labels");
    w.StartObject();
    for (const auto& [k, v] : ng.labels) {
      str(w, k.c_str(), v);
    }
    w.EndObject();
    w.Key("resources");
    w.StartObject();
    w.Key("autoScalingGroups");
    w.StartArray();
    for (const auto& a : ng.asg_names) {
      w.StartObject();
      str(w, "name", a);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.Key("health");
    w.StartObject();
    w.Key("issues");
    w.StartArray();
    for (const auto& issue : ng.health_issues) {
      w.StartObject();
      str(w, "code", issue.code);
      str(w, "message", issue.message);
      w.Key("resourceIds");
      w.StartArray();
      for (const auto& r : issue.resource_ids) {
        w.String(r.c_str());
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.Key("updateConfig");
    w.StartObject();
    if (ng.max_unavailable) {
      w.Key("maxUnavailable");
      w.Int(*ng.max_unavailable);
    }
    if (ng.max_unavailable_percentage) {
      w.Key("maxUnavailablePercentage");
      w.Int(*ng.max_unavailable_percentage);
    }
    w.EndObject();
    if (ng.launch_template) {
      w.Key("launchTemplate");
      w.StartObject();
      if (!ng.launch_template->name.empty())
        str(w, "name", ng.launch_template->name);
      if (!ng.launch_template->version.empty())
        str(w, "version", ng.launch_template->version);
      if (!ng.launch_template->id.empty())
        str(w, "id", ng.launch_template->id);
      w.EndObject();
    }
    w.Key("tags");
    w.StartObject();
    for (const auto& [k, v] : ng.tags) {
      str(w, k.c_str(), v);
    }
    w.EndObject();
    w.EndObject();
    w.EndObject();
    sendJson(call, 200, buf);
    return;
  }

  std::vector<std::pair<std::string, std::string>> ids = {{"clusterName", cluster_name},
                                                          {"nodegroupName", ng_name}};
  rapidjson::Document body;
  if (body.Parse(call.req.body.empty() ? "{}" : call.req.body.c_str()).HasParseError() ||
      !body.IsObject()) {
    jsonError(call, 400, "SerializationException", "Unable to parse the request body");
    return;
  }
  auto get_str = [](const rapidjson::Value& obj, const char* key) -> std::string {
    auto m = obj.FindMember(key);
    return m != obj.MemberEnd() && m->value.IsString() ? m->value.GetString() : "";
  };
  std::string token = get_str(body, "clientRequestToken");
  auto replay = [&](const std::string& fingerprint) {
    if (token.empty()) {
      return false;
    }
    auto prev = std::find_if(eks_updates.begin(), eks_updates.end(), [&](const FakeEksUpdate& u) {
      return u.client_request_token == token && u.cluster == cluster_name && u.nodegroup == ng_name;
    });
    if (prev == eks_updates.end()) {
      return false;
    }
    if (prev->request_fingerprint != fingerprint) {
      jsonError(call, 400, "InvalidRequestException",
                "The client request token has already been used with different parameters.", ids);
      return true;
    }
    w.StartObject();
    w.Key("update");
    writeUpdate(w, *prev);
    w.EndObject();
    sendJson(call, 200, buf);
    return true;
  };
  bool busy = std::any_of(eks_updates.begin(), eks_updates.end(), [&](const FakeEksUpdate& u) {
    return u.cluster == cluster_name && u.nodegroup == ng_name && u.status == "InProgress";
  });

  if (op == "UpdateNodegroupConfig") {
    // Only updateConfig is modelled; labels, taints and scalingConfig are refused, not ignored.
    for (const char* other : {"labels", "taints", "scalingConfig", "nodeRepairConfig"}) {
      if (body.HasMember(other)) {
        jsonError(call, 400, "InvalidParameterException",
                  std::string("FakeAws does not model ") + other + " in UpdateNodegroupConfig",
                  ids);
        return;
      }
    }
    std::optional<int> count;
    std::optional<int> percentage;
    if (auto m = body.FindMember("updateConfig"); m != body.MemberEnd() && m->value.IsObject()) {
      if (auto c = m->value.FindMember("maxUnavailable");
          c != m->value.MemberEnd() && c->value.IsInt()) {
        count = c->value.GetInt();
      }
      if (auto p = m->value.FindMember("maxUnavailablePercentage");
          p != m->value.MemberEnd() && p->value.IsInt()) {
        percentage = p->value.GetInt();
      }
    }
    if (count.has_value() == percentage.has_value() || (count && (*count < 1 || *count > 100)) ||
        (percentage && (*percentage < 1 || *percentage > 100))) {
      jsonError(call, 400, "InvalidParameterException",
                "updateConfig needs exactly one of maxUnavailable and maxUnavailablePercentage, "
                "between 1 and 100",
                ids);
      return;
    }
    std::string fingerprint = "config|" + (count ? "n" + std::to_string(*count) : "") +
                              (percentage ? "p" + std::to_string(*percentage) : "");
    if (replay(fingerprint)) {
      return;
    }
    if (busy || (ng.status != "ACTIVE" && ng.status != "DEGRADED")) {
      jsonError(call, 409, "ResourceInUseException",
                "Cannot ConfigUpdate because nodegroup " + ng_name +
                    (busy ? std::string(" currently has an update in progress")
                          : " is in " + ng.status + " status"),
                ids);
      return;
    }
    FakeEksUpdate u;
    u.id = newUuid();
    u.cluster = cluster_name;
    u.nodegroup = ng_name;
    u.type = "ConfigUpdate";
    u.created_at = now();
    u.client_request_token = token;
    u.request_fingerprint = fingerprint;
    u.target_max_unavailable = count;
    u.target_max_unavailable_percentage = percentage;
    if (count) {
      u.params.emplace_back("MaxUnavailable", std::to_string(*count));
    } else {
      u.params.emplace_back("MaxUnavailablePercentage", std::to_string(*percentage));
    }
    ng.status = "UPDATING";
    eks_updates.push_back(u);
    w.StartObject();
    w.Key("update");
    writeUpdate(w, u);
    w.EndObject();
    sendJson(call, 200, buf);
    return;
  }

  // UpdateNodegroupVersion
  std::string lt_id;
  std::string lt_name;
  std::string lt_version;
  bool has_lt = false;
  if (auto m = body.FindMember("launchTemplate"); m != body.MemberEnd() && m->value.IsObject()) {
    has_lt = true;
    lt_id = get_str(m->value, "id");
    lt_name = get_str(m->value, "name");
    lt_version = get_str(m->value, "version");
  }
  std::string k8s_version = get_str(body, "version");
  std::string release_version = get_str(body, "releaseVersion");
  bool force = false;
  if (auto m = body.FindMember("force"); m != body.MemberEnd() && m->value.IsBool()) {
    force = m->value.GetBool();
  }
  std::string fingerprint = lt_id + "|" + lt_name + "|" + lt_version + "|" + k8s_version + "|" +
                            release_version + "|" + (force ? "1" : "0");
  if (replay(fingerprint)) {
    return;
  }
  if (busy || (ng.status != "ACTIVE" && ng.status != "DEGRADED")) {
    jsonError(call, 409, "ResourceInUseException",
              "Cannot VersionUpdate because nodegroup " + ng_name +
                  (busy ? std::string(" currently has an update in progress")
                        : " is in " + ng.status + " status"),
              ids);
    return;
  }
  if (ng.ami_type == "CUSTOM" && (!k8s_version.empty() || !release_version.empty())) {
    jsonError(call, 400, "InvalidParameterException",
              "You cannot specify a Kubernetes version or AMI release version for a node group "
              "that uses a custom AMI.",
              ids);
    return;
  }
  FakeLaunchTemplateRef target;
  if (has_lt) {
    if (!ng.launch_template) {
      jsonError(call, 400, "InvalidParameterException",
                "A launch template can only be specified for a node group that was created with "
                "a launch template.",
                ids);
      return;
    }
    if (lt_id.empty() && lt_name.empty()) {
      jsonError(call, 400, "InvalidParameterException",
                "Either launch template ID or name must be specified.", ids);
      return;
    }
    const FakeLaunchTemplate* lt = nullptr;
    for (const auto& [id, t] : launch_templates) {
      if ((!ng.launch_template->id.empty() && id == ng.launch_template->id) ||
          (!ng.launch_template->name.empty() && t.name == ng.launch_template->name)) {
        lt = &t;
      }
    }
    bool id_ok = lt_id.empty() || (lt != nullptr && lt_id == lt->id);
    bool name_ok = lt_name.empty() || (lt != nullptr && lt_name == lt->name);
    if (lt == nullptr || !id_ok || !name_ok) {
      jsonError(call, 400, "InvalidParameterException",
                "The launch template specified does not match the launch template used by node "
                "group " +
                    ng_name + ". You must use the same launch template ID or name.",
                ids);
      return;
    }
    int64_t number = lt->default_version;
    if (!lt_version.empty()) {
      if (lt_version == "$Latest") {
        number = static_cast<int64_t>(lt->versions.size());
      } else if (lt_version == "$Default") {
        number = lt->default_version;
      } else {
        bool digits =
            lt_version.size() < 10 && std::all_of(lt_version.begin(), lt_version.end(),
                                                  [](unsigned char c) { return std::isdigit(c); });
        number = digits ? std::stoll(lt_version) : 0;
      }
    }
    if (number < 1 || number > static_cast<int64_t>(lt->versions.size())) {
      jsonError(call, 400, "InvalidParameterException",
                "Launch template version " + lt_version + " does not exist for launch template " +
                    lt->id + ".",
                ids);
      return;
    }
    target = {lt->id, lt->name, std::to_string(number)};
  } else if (ng.ami_type == "CUSTOM") {
    jsonError(call, 400, "InvalidParameterException",
              "A launch template version is required to update a node group with a custom AMI.",
              ids);
    return;
  } else if (ng.launch_template) {
    target = *ng.launch_template;
  }

  FakeEksUpdate u;
  u.id = newUuid();
  u.cluster = cluster_name;
  u.nodegroup = ng_name;
  u.created_at = now();
  u.client_request_token = token;
  u.request_fingerprint = fingerprint;
  u.target_template = target;
  if (has_lt) {
    u.params.emplace_back("LaunchTemplateName", target.name);
    u.params.emplace_back("LaunchTemplateVersion", target.version);
  }
  if (!k8s_version.empty())
    u.params.emplace_back("Version", k8s_version);
  if (!release_version.empty())
    u.params.emplace_back("ReleaseVersion", release_version);
  if (force)
    u.params.emplace_back("Force", "true");
  ng.status = "UPDATING";
  eks_updates.push_back(u);
  w.StartObject();
  w.Key("update");
  writeUpdate(w, u);
  w.EndObject();
  sendJson(call, 200, buf);
}

}  // namespace opsy::testing

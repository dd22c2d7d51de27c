// Seed documents for FakeAws (YAML, or JSON which YAML accepts). Schema, all keys optional:
//
//   credentials: [{accessKey, secretKey}]
//   webIdentityToken: "..."          snsTopics: [arn]        sesIdentities: [address|domain]
//   slackTokens: [token]             slackChannels: [{id, name}]
//   images: [{id, name, owner, ownerAlias, state, creationDate, architecture, description,
//             deprecationTime, public, tags: {k: v}, snapshotIds: [..], region}]
//   launchTemplates: [{id, name, defaultVersion, tags, versions: [{imageId, instanceType,
//                      keyName, userData, description, securityGroupIds: [..]}]}]
//   clusters: [{name, version}]
//   nodegroups: [{cluster, name, status, version, releaseVersion, amiType,
//                 launchTemplate: {id, name, version}, scaling: {min, max, desired},
//                 asgNames: [..], labels: {}, tags: {}, availabilityZones: [..]}]
//   autoScalingGroups: [{name, launchTemplate: {...}, min, max, desired, tags: {k: v},
//                        availabilityZones: [..]}]
//   instances: [{id, imageId, state, instanceType, availabilityZone, tags}]   (of no group;
//               node groups and Auto Scaling groups launch their own)
//   securityGroups: [{id, name, description, vpcId, inUse, tags}]
//   keyPairs: [{id, name, type, fingerprint, tags}]
//   eksAutoCompleteAfter: N          instanceRefreshAutoCompleteAfter: N
//   faults: [{service, operation, kind: throttle|server-error|unavailable|latency|drop|
//             access-denied|bare-not-found, rate, count, latencyMs, retryAfter}
//            | {deny: "ec2:DescribeImages", count}]   (deny: FakeAws::denyOperation)
#include <yaml-cpp/yaml.h>

#include <map>

#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

std::string s(const YAML::Node& n, const char* key, const std::string& def = "") {
  return n[key] ? n[key].as<std::string>() : def;
}

TagMap tags(const YAML::Node& n, const char* key = "tags") {
  TagMap out;
  if (n[key]) {
    for (const auto& kv : n[key]) {
      out[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  return out;
}

std::vector<std::string> strings(const YAML::Node& n, const char* key) {
  std::vector<std::string> out;
  if (n[key]) {
    for (const auto& v : n[key]) {
      out.push_back(v.as<std::string>());
    }
  }
  return out;
}

std::optional<FakeLaunchTemplateRef> ltRef(const YAML::Node& n) {
  if (!n["launchTemplate"]) {
    return std::nullopt;
  }
  const auto& lt = n["launchTemplate"];
  return FakeLaunchTemplateRef{s(lt, "id"), s(lt, "name"), s(lt, "version")};
}

const std::map<std::string, FaultKind> kKinds = {{"throttle", FaultKind::Throttle},
                                                 {"server-error", FaultKind::ServerError},
                                                 {"unavailable", FaultKind::Unavailable},
                                                 {"latency", FaultKind::Latency},
                                                 {"drop", FaultKind::Drop},
                                                 {"access-denied", FaultKind::AccessDenied},
                                                 {"bare-not-found", FaultKind::BareNotFound}};

}  // namespace

Status FakeAws::loadSeed(std::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    for (const auto& c : root["credentials"]) {
      addCredentials(s(c, "accessKey"), s(c, "secretKey"));
    }
    if (root["webIdentityToken"]) {
      setAcceptedWebIdentityToken(s(root, "webIdentityToken"));
    }
    for (const auto& t : strings(root, "snsTopics"))
      addSnsTopic(t);
    for (const auto& t : strings(root, "sesIdentities"))
      addSesIdentity(t);
    for (const auto& t : strings(root, "slackTokens"))
      addSlackToken(t);
    for (const auto& c : root["slackChannels"])
      addSlackChannel(s(c, "id"), s(c, "name"));
    for (const auto& n : root["images"]) {
      FakeImage img;
      img.id = s(n, "id");
      img.name = s(n, "name");
      img.owner_id = s(n, "owner", img.owner_id);
      img.owner_alias = s(n, "ownerAlias");
      img.state = s(n, "state", img.state);
      img.creation_date = s(n, "creationDate");
      img.architecture = s(n, "architecture", img.architecture);
      img.description = s(n, "description");
      img.deprecation_time = s(n, "deprecationTime");
      img.is_public = n["public"] && n["public"].as<bool>();
      img.tags = tags(n);
      img.snapshot_ids = strings(n, "snapshotIds");
      img.region = s(n, "region");
      addImage(std::move(img));
    }
    for (const auto& n : root["launchTemplates"]) {
      FakeLaunchTemplate lt;
      lt.id = s(n, "id");
      lt.name = s(n, "name");
      lt.default_version = n["defaultVersion"] ? n["defaultVersion"].as<int64_t>() : 1;
      lt.tags = tags(n);
      for (const auto& v : n["versions"]) {
        FakeLaunchTemplateVersion ver;
        ver.description = s(v, "description");
        ver.data.image_id = s(v, "imageId");
        ver.data.instance_type = s(v, "instanceType");
        ver.data.key_name = s(v, "keyName");
        ver.data.user_data = s(v, "userData");
        ver.data.security_group_ids = strings(v, "securityGroupIds");
        lt.versions.push_back(std::move(ver));
      }
      addLaunchTemplate(std::move(lt));
    }
    for (const auto& n : root["clusters"]) {
      addCluster(FakeCluster{s(n, "name"), s(n, "version", "1.30"), s(n, "status", "ACTIVE")});
    }
    for (const auto& n : root["nodegroups"]) {
      FakeNodegroup ng;
      ng.cluster = s(n, "cluster");
      ng.name = s(n, "name");
      ng.status = s(n, "status", ng.status);
      ng.version = s(n, "version", ng.version);
      ng.release_version = s(n, "releaseVersion");
      ng.ami_type = s(n, "amiType", ng.ami_type);
      ng.launch_template = ltRef(n);
      if (const auto& sc = n["scaling"]) {
        ng.scaling = {sc["min"].as<int>(1), sc["max"].as<int>(3), sc["desired"].as<int>(2)};
      }
      ng.asg_names = strings(n, "asgNames");
      ng.labels = tags(n, "labels");
      ng.tags = tags(n);
      ng.availability_zones = strings(n, "availabilityZones");
      addNodegroup(std::move(ng));
    }
    for (const auto& n : root["autoScalingGroups"]) {
      FakeAutoScalingGroup g;
      g.name = s(n, "name");
      g.launch_template = ltRef(n);
      g.min_size = n["min"].as<int>(1);
      g.max_size = n["max"].as<int>(3);
      g.desired_capacity = n["desired"].as<int>(2);
      for (const auto& [k, v] : tags(n)) {
        g.tags.push_back({k, v, true});
      }
      if (n["availabilityZones"]) {
        g.availability_zones = strings(n, "availabilityZones");
      }
      addAutoScalingGroup(std::move(g));
    }
    for (const auto& n : root["instances"]) {
      FakeInstance i;
      i.id = s(n, "id");
      i.image_id = s(n, "imageId");
      i.state = s(n, "state", i.state);
      i.instance_type = s(n, "instanceType");
      i.availability_zone = s(n, "availabilityZone");
      i.tags = tags(n);
      addInstance(std::move(i));
    }
    for (const auto& n : root["securityGroups"]) {
      FakeSecurityGroup g;
      g.id = s(n, "id");
      g.name = s(n, "name");
      g.description = s(n, "description", g.description);
      g.vpc_id = s(n, "vpcId", g.vpc_id);
      g.in_use = n["inUse"] && n["inUse"].as<bool>();
      g.tags = tags(n);
      addSecurityGroup(std::move(g));
    }
    if (root["eksAutoCompleteAfter"]) {
      setEksAutoCompleteAfter(root["eksAutoCompleteAfter"].as<int>());
    }
    if (root["instanceRefreshAutoCompleteAfter"]) {
      setInstanceRefreshAutoCompleteAfter(root["instanceRefreshAutoCompleteAfter"].as<int>());
    }
    for (const auto& n : root["faults"]) {
      if (n["deny"]) {
        OPSY_RETURN_IF_ERROR(denyOperation(s(n, "deny"), n["count"].as<int>(-1)));
        continue;
      }
      auto kind = kKinds.find(s(n, "kind"));
      if (kind == kKinds.end()) {
        return fail(ErrorCode::InvalidArgument,
                    "fake aws seed: fault kind must be throttle, server-error, unavailable, "
                    "latency, drop, access-denied or bare-not-found, not '" +
                        s(n, "kind") + "'");
      }
      FaultRule rule;
      rule.service = s(n, "service");
      rule.operation = s(n, "operation");
      rule.kind = kind->second;
      rule.rate = n["rate"].as<double>(1.0);
      rule.count = n["count"].as<int>(-1);
      rule.latency = Duration(n["latencyMs"].as<int64_t>(0));
      rule.retry_after_seconds = n["retryAfter"].as<int>(1);
      addFault(std::move(rule));
    }
    for (const auto& n : root["keyPairs"]) {
      FakeKeyPair k;
      k.id = s(n, "id");
      k.name = s(n, "name");
      k.type = s(n, "type", k.type);
      k.fingerprint = s(n, "fingerprint", k.fingerprint);
      k.tags = tags(n);
      addKeyPair(std::move(k));
    }
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::InvalidArgument, std::string("fake aws seed: ") + e.what());
  }
  return ok();
}

}  // namespace opsy::testing

// FakeAws::stateJson: the state of the fake as one JSON document, for the demo and debugging.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void str(JsonWriter& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str());
}

void tagObject(JsonWriter& w, const char* key, const TagMap& tags) {
  w.Key(key);
  w.StartObject();
  for (const auto& [k, v] : tags) {
    str(w, k.c_str(), v);
  }
  w.EndObject();
}

}  // namespace

std::string FakeAws::stateJson() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const Impl& s = *impl_;
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("images");
  w.StartArray();
  for (const auto& [id, img] : s.images) {
    w.StartObject();
    str(w, "id", img.id);
    str(w, "name", img.name);
    str(w, "owner", img.owner_id);
    str(w, "state", img.state);
    str(w, "creationDate", img.creation_date);
    str(w, "deprecationTime", img.deprecation_time);
    str(w, "region", img.region);
    tagObject(w, "tags", img.tags);
    w.EndObject();
  }
  w.EndArray();
  w.Key("launchTemplates");
  w.StartArray();
  for (const auto& [id, lt] : s.launch_templates) {
    w.StartObject();
    str(w, "id", lt.id);
    str(w, "name", lt.name);
    w.Key("defaultVersion");
    w.Int64(lt.default_version);
    w.Key("versions");
    w.StartArray();
    for (const auto& v : lt.versions) {
      w.StartObject();
      w.Key("number");
      w.Int64(v.version_number);
      str(w, "imageId", v.data.image_id);
      str(w, "description", v.description);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("nodegroups");
  w.StartArray();
  for (const auto& [key, ng] : s.nodegroups) {
    w.StartObject();
    str(w, "cluster", ng.cluster);
    str(w, "name", ng.name);
    str(w, "status", ng.status);
    if (ng.launch_template) {
      str(w, "launchTemplateVersion", ng.launch_template->version);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("instances");
  w.StartArray();
  for (const auto& i : s.instances) {
    w.StartObject();
    str(w, "id", i.id);
    str(w, "imageId", i.image_id);
    str(w, "state", i.state);
    str(w, "availabilityZone", i.availability_zone);
    str(w, "privateDnsName", i.private_dns_name);
    str(w, "nodegroup", i.nodegroup.empty() ? "" : i.nodegroup_cluster + "/" + i.nodegroup);
    str(w, "autoScalingGroup", i.asg);
    str(w, "lifecycleState",
        i.asg.empty() || i.state == "terminated" ? "" : s.asgLifecycleState(i));
    w.EndObject();
  }
  w.EndArray();
  w.Key("eksUpdates");
  w.StartArray();
  for (const auto& u : s.eks_updates) {
    w.StartObject();
    str(w, "id", u.id);
    str(w, "cluster", u.cluster);
    str(w, "nodegroup", u.nodegroup);
    str(w, "status", u.status);
    str(w, "targetVersion", u.target_template.version);
    w.EndObject();
  }
  w.EndArray();
  w.Key("instanceRefreshes");
  w.StartArray();
  for (const auto& r : s.refreshes) {
    w.StartObject();
    str(w, "id", r.id);
    str(w, "autoScalingGroup", r.asg_name);
    str(w, "status", r.status);
    w.EndObject();
  }
  w.EndArray();
  w.Key("lifecycleHooks");
  w.StartArray();
  for (const auto& [asg, hooks] : s.lifecycle_hooks) {
    for (const auto& h : hooks) {
      w.StartObject();
      str(w, "autoScalingGroup", h.asg);
      str(w, "name", h.name);
      str(w, "transition", h.transition);
      w.Key("heartbeatTimeout");
      w.Int(h.heartbeat_timeout_seconds);
      str(w, "defaultResult", h.default_result);
      w.EndObject();
    }
  }
  w.EndArray();
  // Instances in Terminating:Wait, one entry per hook they wait on.
  w.Key("lifecycleWaits");
  w.StartArray();
  for (const auto& lw : s.lifecycle_waits) {
    w.StartObject();
    str(w, "autoScalingGroup", lw.asg);
    str(w, "hook", lw.hook);
    str(w, "instanceId", lw.instance_id);
    str(w, "token", lw.token);
    str(w, "started", isoMillis(lw.started));
    str(w, "deadline", isoMillis(lw.deadline));
    w.EndObject();
  }
  w.EndArray();
  w.Key("snsMessages");
  w.StartArray();
  for (const auto& m : s.sns_messages) {
    w.StartObject();
    str(w, "topicArn", m.topic_arn);
    str(w, "subject", m.subject);
    str(w, "message", m.message);
    w.EndObject();
  }
  w.EndArray();
  w.Key("sesEmails");
  w.StartArray();
  for (const auto& e : s.ses_emails) {
    w.StartObject();
    str(w, "from", e.from);
    str(w, "subject", e.subject);
    w.EndObject();
  }
  w.EndArray();
  w.Key("slackPosts");
  w.StartArray();
  for (const auto& p : s.slack_posts) {
    w.StartObject();
    str(w, "channel", p.channel);
    str(w, "text", p.text);
    w.EndObject();
  }
  w.EndArray();
  w.Key("calls");
  w.StartArray();
  for (const auto& c : s.calls) {
    w.StartObject();
    str(w, "service", c.service);
    str(w, "operation", c.operation);
    w.Key("status");
    w.Int(c.status);
    str(w, "code", c.error_code);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

}  // namespace opsy::testing

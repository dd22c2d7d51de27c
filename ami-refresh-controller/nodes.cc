#include "ami-refresh-controller/nodes.h"

#include "opsy/json/json.h"

namespace opsy::ami_refresh {

std::string instanceIdFromProviderId(std::string_view provider_id) {
  constexpr std::string_view kScheme = "aws://";
  if (provider_id.substr(0, kScheme.size()) != kScheme) {
    return "";
  }
  size_t slash = provider_id.rfind('/');
  std::string_view id = provider_id.substr(slash + 1);
  if (id.substr(0, 2) != "i-" || id.size() < 3) {
    return "";
  }
  return std::string(id);
}

NodeObservation observedNode(const kube::Object& node) {
  NodeObservation n;
  n.name = node.metadata.name;
  n.instance_id = instanceIdFromProviderId(node.getString("/spec/providerID").value_or(""));
  std::optional<std::string> conditions = node.getJson("/status/conditions");
  n.not_ready_reason = "no Ready condition";
  if (!conditions) {
    return n;
  }
  Result<json::Document> doc = json::parse(*conditions, "node conditions");
  if (!doc || !doc->IsArray()) {
    return n;
  }
  auto text = [](const json::Value& c, const char* key) { return json::stringOr(c, key); };
  for (const json::Value& c : doc->GetArray()) {
    if (!c.IsObject() || text(c, "type") != "Ready") {
      continue;
    }
    const std::string status = text(c, "status");
    n.ready = status == "True";
    n.not_ready_reason.clear();
    if (!n.ready) {
      std::string reason = text(c, "reason");
      std::string message = text(c, "message");
      n.not_ready_reason = "Ready=" + (status.empty() ? std::string("Unknown") : status);
      if (!reason.empty()) {
        n.not_ready_reason += " " + reason;
      }
      if (!message.empty()) {
        n.not_ready_reason += ": " + message.substr(0, 256);
      }
    }
    break;
  }
  return n;
}

bool isCordoned(const kube::Object& node) {
  return node.getBool("/spec/unschedulable").value_or(false);
}

PodObservation observedPod(const kube::Object& pod) {
  PodObservation p;
  p.ns = pod.metadata.ns;
  p.name = pod.metadata.name;
  for (const kube::OwnerReference& owner : pod.metadata.owner_references) {
    if (owner.kind == "DaemonSet" && owner.controller) {
      p.daemon_set = true;
    }
  }
  p.mirror = pod.metadata.annotations.count("kubernetes.io/config.mirror") != 0;
  const std::string phase = pod.getString("/status/phase").value_or("");
  p.finished = phase == "Succeeded" || phase == "Failed";
  p.deleting = pod.metadata.deletion_timestamp.has_value();
  return p;
}

}  // namespace opsy::ami_refresh

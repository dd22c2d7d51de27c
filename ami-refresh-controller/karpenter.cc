#include "ami-refresh-controller/karpenter.h"

#include <fmt/format.h>

#include "ami-refresh-controller/nodes.h"
#include "opsy/json/json.h"

namespace opsy::ami_refresh {
namespace {

// The condition of `type` in obj's status.conditions: status, reason, message.
struct ConditionText {
  std::string status;
  std::string reason;
  std::string message;
};

std::optional<ConditionText> conditionOf(const kube::Object& obj, std::string_view type) {
  std::optional<std::string> conditions = obj.getJson("/status/conditions");
  if (!conditions) {
    return std::nullopt;
  }
  Result<json::Document> doc = json::parse(*conditions, "conditions");
  if (!doc || !doc->IsArray()) {
    return std::nullopt;
  }
  for (const json::Value& c : doc->GetArray()) {
    if (c.IsObject() && json::stringOr(c, "type") == type) {
      return ConditionText{.status = json::stringOr(c, "status"),
                           .reason = json::stringOr(c, "reason"),
                           .message = json::stringOr(c, "message").substr(0, 256)};
    }
  }
  return std::nullopt;
}

}  // namespace

NodeClassObservation observedNodeClass(const kube::Object& node_class) {
  NodeClassObservation nc;
  nc.found = true;
  nc.labels = node_class.metadata.labels;
  std::optional<std::string> terms = node_class.getJson("/spec/amiSelectorTerms");
  if (terms) {
    Result<json::Document> doc = json::parse(*terms, "amiSelectorTerms");
    if (doc) {
      nc.ami_selector_terms = json::writeJson(*doc);
      // A pin is exactly one term that has only an id.
      if (doc->IsArray() && doc->Size() == 1) {
        const json::Value& term = (*doc)[rapidjson::SizeType{0}];
        if (term.IsObject() && term.MemberCount() == 1) {
          nc.pinned_image = json::stringOr(term, "id");
        }
      }
    }
  }
  for (int i = 0;; ++i) {
    std::optional<std::string> id = node_class.getString(fmt::format("/status/amis/{}/id", i));
    if (!id) {
      if (!node_class.getJson(fmt::format("/status/amis/{}", i))) {
        break;
      }
      continue;
    }
    nc.resolved_images.push_back(std::move(*id));
  }
  if (std::optional<ConditionText> ready = conditionOf(node_class, "Ready")) {
    nc.ready = ready->status;
    nc.ready_reason = ready->reason;
    nc.ready_message = ready->message;
  }
  return nc;
}

std::string nodeClassOf(const kube::Object& node_claim) {
  std::string group = node_claim.getString("/spec/nodeClassRef/group").value_or("");
  if (!group.empty() && group != "karpenter.k8s.aws") {
    return "";
  }
  return node_claim.getString("/spec/nodeClassRef/name").value_or("");
}

NodeObservation observedNodeClaim(const kube::Object& node_claim) {
  NodeObservation n = observedNode(node_claim);
  n.instance_id.clear();
  n.image_id = node_claim.getString("/status/imageID").value_or("");
  std::optional<ConditionText> drifted = conditionOf(node_claim, "Drifted");
  n.drifted = drifted && drifted->status == "True";
  return n;
}

}  // namespace opsy::ami_refresh

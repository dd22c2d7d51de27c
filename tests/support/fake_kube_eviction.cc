// The Eviction subresource of Pods (policy/v1), with the arithmetic of PodDisruptionBudgets that
// the real API server and its disruption controller do between them: an eviction that would take
// the pods a budget selects below what it promises is refused with 429 and the budget named; one
// that fits deletes the pod and records the disruption in the budget's status.
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "support/fake_kube_impl.h"

namespace opsy::testing {
namespace {

bool labelMatches(const JsonValue& labels, const std::string& key, std::string* value) {
  const JsonValue* v = member(labels, key);
  if (v == nullptr || !v->IsString()) {
    return false;
  }
  *value = v->GetString();
  return true;
}

// A metav1.LabelSelector against an object's labels. An empty selector selects everything; a
// missing one (null) nothing, as policy/v1 budgets do.
bool selects(const JsonValue* selector, const JsonValue& object) {
  if (selector == nullptr || !selector->IsObject()) {
    return false;
  }
  static const JsonValue kNoLabels(rapidjson::kObjectType);
  const JsonValue* meta = member(object, "metadata");
  const JsonValue* found = meta != nullptr ? member(*meta, "labels") : nullptr;
  const JsonValue& labels = found != nullptr && found->IsObject() ? *found : kNoLabels;
  if (const JsonValue* match = member(*selector, "matchLabels"); match && match->IsObject()) {
    for (const auto& m : match->GetObject()) {
      std::string value;
      if (!labelMatches(labels, m.name.GetString(), &value) || !m.value.IsString() ||
          value != m.value.GetString()) {
        return false;
      }
    }
  }
  if (const JsonValue* exprs = member(*selector, "matchExpressions"); exprs && exprs->IsArray()) {
    for (const JsonValue& e : exprs->GetArray()) {
      const std::string key = stringAt(e, {"key"});
      const std::string op = stringAt(e, {"operator"});
      std::vector<std::string> values;
      if (const JsonValue* vs = member(e, "values"); vs && vs->IsArray()) {
        for (const JsonValue& v : vs->GetArray()) {
          if (v.IsString()) {
            values.emplace_back(v.GetString());
          }
        }
      }
      std::string value;
      const bool has = labelMatches(labels, key, &value);
      const bool in = has && std::find(values.begin(), values.end(), value) != values.end();
      if ((op == "In" && !in) || (op == "NotIn" && in) || (op == "Exists" && !has) ||
          (op == "DoesNotExist" && has)) {
        return false;
      }
    }
  }
  return true;
}

bool podReady(const JsonValue& pod) {
  const JsonValue* status = member(pod, "status");
  const JsonValue* conditions = status != nullptr ? member(*status, "conditions") : nullptr;
  if (conditions == nullptr || !conditions->IsArray()) {
    return false;
  }
  for (const JsonValue& c : conditions->GetArray()) {
    if (stringAt(c, {"type"}) == "Ready") {
      return stringAt(c, {"status"}) == "True";
    }
  }
  return false;
}

bool beingDeleted(const JsonValue& pod) {
  return !stringAt(pod, {"metadata", "deletionTimestamp"}).empty();
}

// An int-or-percent of `total` (percentages round up, as the disruption controller does).
int scaled(const JsonValue& v, int total) {
  if (v.IsInt()) {
    return v.GetInt();
  }
  if (v.IsString()) {
    std::string s = v.GetString();
    if (!s.empty() && s.back() == '%') {
      const int pct = std::atoi(s.substr(0, s.size() - 1).c_str());
      return static_cast<int>(std::ceil(pct * total / 100.0));
    }
  }
  return 0;
}

struct Budget {
  int expected = 0;  // pods the budget selects
  int healthy = 0;   // of them, Ready and not being deleted
  int desired = 0;   // how many must stay healthy
  int allowed() const { return healthy - desired; }
};

Budget budgetOf(const JsonValue& pdb, const std::vector<const JsonValue*>& pods) {
  Budget b;
  const JsonValue* spec = member(pdb, "spec");
  for (const JsonValue* pod : pods) {
    ++b.expected;
    if (podReady(*pod) && !beingDeleted(*pod)) {
      ++b.healthy;
    }
  }
  // The disruption controller counts what the pods' controllers want (their replicas), not the
  // pods left: an evicted pod is expected back. The fake has no ReplicaSets, so the most pods a
  // budget was seen to select stands in for that.
  if (const JsonValue* seen = member(pdb, "status"); seen != nullptr) {
    if (const JsonValue* n = member(*seen, "expectedPods"); n != nullptr && n->IsInt()) {
      b.expected = std::max(b.expected, n->GetInt());
    }
  }
  if (spec == nullptr) {
    return b;
  }
  if (const JsonValue* min = member(*spec, "minAvailable"); min != nullptr) {
    b.desired = scaled(*min, b.expected);
  } else if (const JsonValue* max = member(*spec, "maxUnavailable"); max != nullptr) {
    b.desired = std::max(0, b.expected - scaled(*max, b.expected));
  }
  return b;
}

ApiError tooManyRequests(const std::string& cause) {
  ApiError e = simpleError(429, "TooManyRequests",
                           "Cannot evict pod as it would violate the pod's disruption budget.");
  e.has_details = true;
  e.causes.push_back({.reason = "DisruptionBudget", .message = cause, .field = ""});
  return e;
}

}  // namespace

ApiResult<JsonPtr> FakeKube::Impl::evictLocked(const std::string& ns, const std::string& name,
                                               const std::string& body) {
  ResourceTypePtr pods = findTypeLocked("", "v1", "pods");
  ResourceTypePtr pdbs = findTypeLocked("policy", "v1", "poddisruptionbudgets");
  auto parsed = parseJson(body);
  if (!parsed || !parsed->IsObject() || stringAt(*parsed, {"kind"}) != "Eviction") {
    return apiFail(badRequestError("the body of an eviction must be an Eviction"));
  }
  const std::string named = stringAt(*parsed, {"metadata", "name"});
  if (!named.empty() && named != name) {
    return apiFail(badRequestError(
        fmt::format("name in URL does not match name in Eviction object: {} != {}", name, named)));
  }
  JsonPtr pod = getLocked(*pods, ns, name);
  if (pod == nullptr) {
    return apiFail(notFoundError(*pods, name));
  }
  DeleteOptions options;
  options.dry_run = stringAt(*parsed, {"deleteOptions", "dryRun"}) == "All";

  // Pods that run nothing (pending, finished) or already go are evicted whatever the budgets.
  const std::string phase = stringAt(*pod, {"status", "phase"});
  const bool ignores_budgets =
      phase == "Pending" || phase == "Succeeded" || phase == "Failed" || beingDeleted(*pod);
  if (!ignores_budgets && pdbs != nullptr) {
    std::vector<JsonPtr> matching;
    auto store = objects_.find(pdbs->storageKey());
    if (store != objects_.end()) {
      for (const auto& [key, pdb] : store->second) {
        if (stringAt(*pdb, {"metadata", "namespace"}) == ns &&
            selects(member(*member(*pdb, "spec"), "selector"), *pod)) {
          matching.push_back(pdb);
        }
      }
    }
    if (matching.size() > 1) {
      return apiFail(simpleError(500, "InternalError",
                                 "Internal error occurred: This pod has more than one "
                                 "PodDisruptionBudget, which the eviction subresource does not "
                                 "support."));
    }
    if (matching.size() == 1) {
      const JsonValue& pdb = *matching.front();
      std::vector<const JsonValue*> selected;
      for (const auto& [key, p] : objects_[pods->storageKey()]) {
        if (stringAt(*p, {"metadata", "namespace"}) == ns &&
            selects(member(*member(pdb, "spec"), "selector"), *p)) {
          selected.push_back(p.get());
        }
      }
      Budget b = budgetOf(pdb, selected);
      const std::string pdb_name = stringAt(pdb, {"metadata", "name"});
      const bool unhealthy = !podReady(*pod);
      const bool always = stringAt(pdb, {"spec", "unhealthyPodEvictionPolicy"}) == "AlwaysAllow";
      // An unready pod costs the budget nothing: it goes when the budget is met (the default
      // IfHealthyBudget) or always (AlwaysAllow).
      const bool free_eviction = unhealthy && (always || b.healthy >= b.desired);
      if (!free_eviction) {
        if (b.allowed() < 0) {
          ApiError e = simpleError(403, "Forbidden",
                                   fmt::format("poddisruptionbudgets.policy \"{}\" is forbidden: "
                                               "pdb disruptions allowed is negative",
                                               pdb_name));
          return apiFail(std::move(e));
        }
        if (b.allowed() == 0) {
          return apiFail(tooManyRequests(
              fmt::format("The disruption budget {} needs {} healthy pods and has {} currently",
                          pdb_name, b.desired, b.healthy)));
        }
      }
      if (!options.dry_run) {
        // What the disruption controller would publish after this eviction.
        Json status_doc;
        status_doc.CopyFrom(pdb, status_doc.GetAllocator());
        auto& a = status_doc.GetAllocator();
        JsonValue& status = objectMember(status_doc, "status", a);
        const int healthy_after = b.healthy - (free_eviction ? 0 : 1);
        setMember(status, "expectedPods", JsonValue(b.expected), a);
        setMember(status, "currentHealthy", JsonValue(healthy_after), a);
        setMember(status, "desiredHealthy", JsonValue(b.desired), a);
        setMember(status, "disruptionsAllowed", JsonValue(std::max(0, healthy_after - b.desired)),
                  a);
        const JsonValue* generation = member(*member(pdb, "metadata"), "generation");
        setMember(status, "observedGeneration",
                  JsonValue(generation != nullptr && generation->IsInt64() ? generation->GetInt64()
                                                                           : int64_t{1}),
                  a);
        WriteOptions write;
        (void)updateLocked(*pdbs, ns, pdb_name, "status", std::move(status_doc), write, false);
      }
    }
  }
  bool deleted = false;
  auto result = deleteLocked(*pods, ns, name, options, &deleted);
  if (!result) {
    return result;
  }
  auto out = std::make_shared<Json>();
  out->SetObject();
  auto& a = out->GetAllocator();
  out->AddMember("kind", "Status", a);
  out->AddMember("apiVersion", "v1", a);
  out->AddMember("metadata", JsonValue(rapidjson::kObjectType), a);
  out->AddMember("status", "Success", a);
  out->AddMember("code", 201, a);
  return JsonPtr(out);
}

}  // namespace opsy::testing

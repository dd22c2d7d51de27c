#include "opsy/kube/conditions.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "kube/json.h"
#include "opsy/core/time_format.h"

namespace opsy::kube {

bool setCondition(std::vector<Condition>& conditions, Condition c, std::int64_t generation,
                  TimePoint now) {
  c.observed_generation = generation;
  // Kubernetes serialises metav1.Time with second precision; keep what we compare equal to it.
  c.last_transition_time = std::chrono::floor<std::chrono::seconds>(now);
  for (Condition& existing : conditions) {
    if (existing.type != c.type) {
      continue;
    }
    if (existing.status == c.status) {
      c.last_transition_time = existing.last_transition_time;
    }
    if (existing == c) {
      return false;
    }
    existing = std::move(c);
    return true;
  }
  conditions.push_back(std::move(c));
  return true;
}

bool ConditionWriter::set(std::string_view type, std::string_view status, std::string reason,
                          std::string message) {
  return setCondition(conditions_,
                      {.type = std::string(type),
                       .status = std::string(status),
                       .reason = std::move(reason),
                       .message = std::move(message)},
                      generation_, now_);
}

bool removeCondition(std::vector<Condition>& conditions, std::string_view type) {
  auto it = std::remove_if(conditions.begin(), conditions.end(),
                           [&](const Condition& c) { return c.type == type; });
  bool removed = it != conditions.end();
  conditions.erase(it, conditions.end());
  return removed;
}

const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const Condition& c : conditions) {
    if (c.type == type) {
      return &c;
    }
  }
  return nullptr;
}

bool isConditionTrue(const std::vector<Condition>& conditions, std::string_view type) {
  const Condition* c = findCondition(conditions, type);
  return c != nullptr && c->status == kConditionTrue;
}

std::string conditionsToJson(const std::vector<Condition>& conditions) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartArray();
  for (const Condition& c : conditions) {
    w.StartObject();
    w.Key("type");
    w.String(c.type.c_str(), static_cast<rapidjson::SizeType>(c.type.size()));
    w.Key("status");
    w.String(c.status.c_str(), static_cast<rapidjson::SizeType>(c.status.size()));
    w.Key("observedGeneration");
    w.Int64(c.observed_generation);
    w.Key("lastTransitionTime");
    std::string t = formatRfc3339(c.last_transition_time);
    w.String(t.c_str(), static_cast<rapidjson::SizeType>(t.size()));
    w.Key("reason");
    w.String(c.reason.c_str(), static_cast<rapidjson::SizeType>(c.reason.size()));
    w.Key("message");
    w.String(c.message.c_str(), static_cast<rapidjson::SizeType>(c.message.size()));
    w.EndObject();
  }
  w.EndArray();
  return buf.GetString();
}

Result<std::vector<Condition>> conditionsFromJson(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    return fail(ErrorCode::InvalidArgument, "status.conditions: not a JSON array");
  }
  std::vector<Condition> out;
  for (const rapidjson::Value& v : doc.GetArray()) {
    if (!v.IsObject()) {
      continue;
    }
    Condition c;
    c.type = stringOr(v, "type");
    if (c.type.empty()) {
      continue;
    }
    c.status = stringOr(v, "status", std::string(kConditionUnknown));
    c.reason = stringOr(v, "reason");
    c.message = stringOr(v, "message");
    c.observed_generation = optInt(v, "observedGeneration").value_or(0);
    c.last_transition_time = optTime(v, "lastTransitionTime").value_or(TimePoint{});
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace opsy::kube

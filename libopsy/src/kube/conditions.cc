#include "opsy/kube/conditions.h"

#include <algorithm>

#include "opsy/core/log.h"
#include "opsy/core/time_format.h"
#include "opsy/json/json.h"

namespace opsy::kube {

bool setCondition(std::vector<Condition>& conditions, Condition c, std::int64_t generation,
                  TimePoint now) {
  c.observed_generation = generation;
  // Messages quote services' errors: masked like a log line, and within metav1.Condition's
  // maxLength so the status write is never refused for its size.
  if (!c.message.empty()) {
    c.message = log::scrubBounded(c.message, kMaxConditionMessageBytes);
  }
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

void ConditionWriter::annotate(std::string_view type, std::string_view note) {
  const Condition* c = findCondition(conditions_, type);
  if (c == nullptr || note.empty() || c->message.find(note) != std::string::npos) {
    return;
  }
  const Condition copy = *c;
  set(type, copy.status, copy.reason,
      copy.message.empty() ? std::string(note) : copy.message + "; " + std::string(note));
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
  json::Writer w(buf);
  w.StartArray();
  for (const Condition& c : conditions) {
    w.StartObject();
    json::writeString(w, "type", c.type);
    json::writeString(w, "status", c.status);
    w.Key("observedGeneration");
    w.Int64(c.observed_generation);
    json::writeString(w, "lastTransitionTime", formatRfc3339(c.last_transition_time));
    json::writeString(w, "reason", c.reason);
    json::writeString(w, "message", c.message);
    w.EndObject();
  }
  w.EndArray();
  return buf.GetString();
}

Result<std::vector<Condition>> conditionsFromJson(std::string_view json) {
  json::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    return fail(ErrorCode::InvalidArgument, "status.conditions: not a JSON array");
  }
  std::vector<Condition> out;
  for (const json::Value& v : doc.GetArray()) {
    if (!v.IsObject()) {
      continue;
    }
    Condition c;
    c.type = json::stringOr(v, "type");
    if (c.type.empty()) {
      continue;
    }
    c.status = json::stringOr(v, "status", std::string(kConditionUnknown));
    c.reason = json::stringOr(v, "reason");
    c.message = json::stringOr(v, "message");
    c.observed_generation = json::optInt64(v, "observedGeneration").value_or(0);
    c.last_transition_time = json::optTime(v, "lastTransitionTime").value_or(TimePoint{});
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace opsy::kube

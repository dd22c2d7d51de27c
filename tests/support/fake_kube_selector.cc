#include "support/fake_kube_selector.h"

#include <algorithm>

namespace opsy::testing {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> splitTopLevel(std::string_view text) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string current;
  for (char c : text) {
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    }
    if (c == ',' && depth == 0) {
      parts.push_back(trim(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  parts.push_back(trim(current));
  return parts;
}

}  // namespace

std::map<std::string, std::string> Selector::fieldLabels(const std::string& group,
                                                         const std::string& plural) {
  if (plural == "events" && group.empty()) {
    return {{"involvedObject.kind", "involvedObject.kind"},
            {"involvedObject.namespace", "involvedObject.namespace"},
            {"involvedObject.name", "involvedObject.name"},
            {"involvedObject.uid", "involvedObject.uid"},
            {"involvedObject.apiVersion", "involvedObject.apiVersion"},
            {"involvedObject.resourceVersion", "involvedObject.resourceVersion"},
            {"involvedObject.fieldPath", "involvedObject.fieldPath"},
            {"reason", "reason"},
            {"reportingComponent", "reportingComponent"},
            {"source", "source.component"},
            {"type", "type"}};
  }
  if (plural == "events" && group == "events.k8s.io") {
    // Read from the stored (core v1) form.
    return {{"regarding.kind", "involvedObject.kind"},
            {"regarding.namespace", "involvedObject.namespace"},
            {"regarding.name", "involvedObject.name"},
            {"regarding.uid", "involvedObject.uid"},
            {"regarding.apiVersion", "involvedObject.apiVersion"},
            {"regarding.resourceVersion", "involvedObject.resourceVersion"},
            {"regarding.fieldPath", "involvedObject.fieldPath"},
            {"reason", "reason"},
            {"reportingController", "reportingComponent"},
            {"deprecatedSource", "source.component"},
            {"type", "type"}};
  }
  if (plural == "pods" && group.empty()) {
    return {{"spec.nodeName", "spec.nodeName"},
            {"spec.restartPolicy", "spec.restartPolicy"},
            {"spec.schedulerName", "spec.schedulerName"},
            {"spec.serviceAccountName", "spec.serviceAccountName"},
            {"status.phase", "status.phase"},
            {"status.podIP", "status.podIP"},
            {"status.nominatedNodeName", "status.nominatedNodeName"}};
  }
  if (plural == "secrets" && group.empty()) {
    return {{"type", "type"}};
  }
  if (plural == "namespaces" && group.empty()) {
    return {{"status.phase", "status.phase"}};
  }
  if (plural == "jobs" && group == "batch") {
    return {{"status.successful", "status.succeeded"}};
  }
  return {};
}

Result<Selector> Selector::parse(std::string_view text, bool field_selector,
                                 const std::map<std::string, std::string>& field_labels) {
  Selector selector;
  selector.field_ = field_selector;
  if (trim(text).empty()) {
    return selector;
  }
  for (const auto& part : splitTopLevel(text)) {
    if (part.empty()) {
      return fail(ErrorCode::InvalidArgument, "found '', expected: identifier");
    }
    Requirement r;
    size_t pos;
    if ((pos = part.find("!=")) != std::string::npos) {
      r = {trim(part.substr(0, pos)), Op::NotEquals, {trim(part.substr(pos + 2))}};
    } else if ((pos = part.find("==")) != std::string::npos) {
      r = {trim(part.substr(0, pos)), Op::Equals, {trim(part.substr(pos + 2))}};
    } else if ((pos = part.find('=')) != std::string::npos) {
      r = {trim(part.substr(0, pos)), Op::Equals, {trim(part.substr(pos + 1))}};
    } else if (!field_selector && (pos = part.find(" notin ")) != std::string::npos) {
      r = {trim(part.substr(0, pos)), Op::NotIn, {}};
      pos += 7;
    } else if (!field_selector && (pos = part.find(" in ")) != std::string::npos) {
      r = {trim(part.substr(0, pos)), Op::In, {}};
      pos += 4;
    } else if (!field_selector && part[0] == '!') {
      r = {trim(part.substr(1)), Op::NotExists, {}};
    } else if (!field_selector) {
      r = {trim(part), Op::Exists, {}};
    } else {
      return fail(ErrorCode::InvalidArgument,
                  "invalid selector: '" + part + "'; can't understand '" + part + "'");
    }
    if (r.op == Op::In || r.op == Op::NotIn) {
      std::string rest = trim(part.substr(pos));
      if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') {
        return fail(ErrorCode::InvalidArgument, "found '" + rest + "', expected: '('");
      }
      std::string inner = rest.substr(1, rest.size() - 2);
      size_t start = 0;
      while (true) {
        size_t comma = inner.find(',', start);
        r.values.push_back(trim(inner.substr(start, comma - start)));
        if (comma == std::string::npos) {
          break;
        }
        start = comma + 1;
      }
    }
    if (field_selector) {
      if (r.key == "metadata.name" || r.key == "metadata.namespace") {
        r.path = r.key;
      } else if (auto label = field_labels.find(r.key); label != field_labels.end()) {
        r.path = label->second;
      } else {
        return fail(ErrorCode::InvalidArgument, "field label not supported: " + r.key);
      }
    }
    if (r.key.empty()) {
      return fail(ErrorCode::InvalidArgument, "invalid selector: '" + part + "'");
    }
    selector.requirements_.push_back(std::move(r));
  }
  return selector;
}

bool Selector::matches(const JsonValue& object) const {
  for (const auto& r : requirements_) {
    std::string value;
    bool present;
    if (field_) {
      // Missing fields compare as "" (and numbers by their decimal text), like the real server.
      const JsonValue* v = &object;
      size_t start = 0;
      while (v != nullptr) {
        const size_t dot = r.path.find('.', start);
        v = member(*v, r.path.substr(start, dot == std::string::npos ? dot : dot - start));
        if (dot == std::string::npos) {
          break;
        }
        start = dot + 1;
      }
      value = v == nullptr ? "" : v->IsString() ? std::string(v->GetString()) : toJson(*v);
      present = true;
    } else {
      const JsonValue* labels = member(object, "metadata");
      labels = labels != nullptr ? member(*labels, "labels") : nullptr;
      const JsonValue* v = labels != nullptr ? member(*labels, r.key) : nullptr;
      present = v != nullptr && v->IsString();
      value = present ? v->GetString() : "";
    }
    const bool in_values = std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    switch (r.op) {
      case Op::Equals:
        if (!present || value != r.values[0])
          return false;
        break;
      case Op::NotEquals:
        if (present && value == r.values[0])
          return false;
        break;
      case Op::In:
        if (!present || !in_values)
          return false;
        break;
      case Op::NotIn:
        if (present && in_values)
          return false;
        break;
      case Op::Exists:
        if (!present)
          return false;
        break;
      case Op::NotExists:
        if (present)
          return false;
        break;
    }
  }
  return true;
}

}  // namespace opsy::testing

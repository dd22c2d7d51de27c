// Table responses (meta.k8s.io/v1) for custom resources: what kubectl prints for `get`.
#include <fmt/format.h>

#include <functional>

#include "opsy/core/time_format.h"
#include "support/fake_kube_api.h"

namespace opsy::testing {

namespace {

// Evaluates the JSONPath subset printer columns use: .a.b, .a[0].b, .a[?(@.k=="v")].b.
const JsonValue* evalPath(const JsonValue& root, std::string path) {
  if (!path.empty() && path.front() == '{' && path.back() == '}') {
    path = path.substr(1, path.size() - 2);
  }
  const JsonValue* current = &root;
  size_t i = 0;
  while (current != nullptr && i < path.size()) {
    if (path[i] == '.') {
      ++i;
      size_t end = path.find_first_of(".[", i);
      std::string key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
      if (!key.empty()) {
        current = member(*current, key);
      }
      i = end == std::string::npos ? path.size() : end;
    } else if (path[i] == '[') {
      size_t end = path.find(']', i);
      if (end == std::string::npos || !current->IsArray()) {
        return nullptr;
      }
      std::string inside = path.substr(i + 1, end - i - 1);
      i = end + 1;
      if (inside.rfind("?(@.", 0) == 0) {
        // Filter: ?(@.key=="value")
        size_t eq = inside.find("==");
        if (eq == std::string::npos) {
          return nullptr;
        }
        std::string key = inside.substr(4, eq - 4);
        std::string value = inside.substr(eq + 2);
        if (!value.empty() && value.back() == ')') {
          value.pop_back();
        }
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'')) {
          value = value.substr(1, value.size() - 2);
        }
        const JsonValue* found = nullptr;
        for (const auto& element : current->GetArray()) {
          if (stringAt(element, {key}) == value) {
            found = &element;
            break;
          }
        }
        current = found;
      } else {
        const auto index = static_cast<rapidjson::SizeType>(std::atoi(inside.c_str()));
        current = index < current->Size() ? &(*current)[index] : nullptr;
      }
    } else {
      return nullptr;
    }
  }
  return current;
}

JsonValue column(const char* name, const char* type, const char* format, const char* description,
                 int priority, JsonAlloc& a) {
  JsonValue c(rapidjson::kObjectType);
  c.AddMember("name", str(name, a), a);
  c.AddMember("type", str(type, a), a);
  c.AddMember("format", str(format, a), a);
  c.AddMember("description", str(description, a), a);
  c.AddMember("priority", priority, a);
  return c;
}

struct Column {
  std::string name;
  std::string type;
  std::string format;
  std::string description;
  int priority = 0;
  std::function<JsonValue(const JsonValue& object, JsonAlloc& a, TimePoint now)> cell;
};

const char* const kAgeDescription =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

std::string ageSince(const std::string& timestamp, TimePoint now) {
  if (timestamp.empty()) {
    return "<unknown>";
  }
  auto when = parseRfc3339(timestamp);
  return when ? humanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *when))
              : "<invalid>";
}

Column ageColumn() {
  return {
      "Age", "string", "", kAgeDescription, 0, [](const JsonValue& o, JsonAlloc& a, TimePoint now) {
        return str(ageSince(stringAt(o, {"metadata", "creationTimestamp"}), now), a);
      }};
}

// A column whose cell is the value at a printer-column JSONPath.
Column pathColumn(std::string name, std::string type, std::string format, std::string description,
                  int priority, std::string path) {
  Column c{std::move(name), type, std::move(format), std::move(description), priority, nullptr};
  c.cell = [type, path](const JsonValue& o, JsonAlloc& a, TimePoint now) -> JsonValue {
    const JsonValue* value = evalPath(o, path);
    if (value == nullptr || value->IsNull()) {
      return JsonValue();
    }
    if (type == "date" && value->IsString()) {
      return str(ageSince(value->GetString(), now), a);
    }
    if (type == "string") {
      return str(value->IsString() ? std::string(value->GetString()) : toJson(*value), a);
    }
    JsonValue copy;
    copy.CopyFrom(*value, a);
    return copy;
  };
  return c;
}

Column stringColumn(std::string name, std::function<std::string(const JsonValue&)> fn) {
  return {std::move(name), "string", "", "", 0, [fn](const JsonValue& o, JsonAlloc& a, TimePoint) {
            return str(fn(o), a);
          }};
}

Column integerColumn(std::string name, std::function<int64_t(const JsonValue&)> fn) {
  return {std::move(name), "integer", "", "", 0, [fn](const JsonValue& o, JsonAlloc&, TimePoint) {
            return JsonValue(fn(o));
          }};
}

size_t sizeAt(const JsonValue& o, const char* key) {
  const JsonValue* v = member(o, key);
  return v == nullptr ? 0 : v->IsObject() ? v->MemberCount() : v->IsArray() ? v->Size() : 0;
}

int64_t intAt(const JsonValue& o, std::initializer_list<std::string_view> path) {
  const JsonValue* v = &o;
  for (auto key : path) {
    v = v != nullptr ? member(*v, key) : nullptr;
  }
  return v != nullptr && v->IsInt64() ? v->GetInt64() : 0;
}

bool hasTrueCondition(const JsonValue& o, const char* type) {
  const JsonValue* status = member(o, "status");
  const JsonValue* conditions = status != nullptr ? member(*status, "conditions") : nullptr;
  if (conditions == nullptr || !conditions->IsArray()) {
    return false;
  }
  for (const auto& c : conditions->GetArray()) {
    if (stringAt(c, {"type"}) == type && stringAt(c, {"status"}) == "True") {
      return true;
    }
  }
  return false;
}

std::string podStatus(const JsonValue& pod) {
  std::string reason = stringAt(pod, {"status", "phase"});
  const JsonValue* status = member(pod, "status");
  const JsonValue* containers = status != nullptr ? member(*status, "containerStatuses") : nullptr;
  if (containers != nullptr && containers->IsArray()) {
    for (const auto& c : containers->GetArray()) {
      const std::string waiting = stringAt(c, {"state", "waiting", "reason"});
      const std::string terminated = stringAt(c, {"state", "terminated", "reason"});
      if (!waiting.empty()) {
        reason = waiting;
      } else if (!terminated.empty()) {
        reason = terminated;
      }
    }
  }
  if (!stringAt(pod, {"metadata", "deletionTimestamp"}).empty()) {
    reason = "Terminating";
  }
  return reason;
}

// The server-side columns of the built-in types kubectl shows most (after Name).
std::vector<Column> builtinColumns(const ResourceType& type) {
  const std::string& r = type.plural;
  if (type.group.empty() && r == "namespaces") {
    return {stringColumn("Status",
                         [](const JsonValue& o) {
                           return stringAt(o, {"status", "phase"});
                         }),
            ageColumn()};
  }
  if (type.group.empty() && r == "pods") {
    return {stringColumn("Ready",
                         [](const JsonValue& o) {
                           size_t ready = 0;
                           const JsonValue* status = member(o, "status");
                           const JsonValue* cs =
                               status != nullptr ? member(*status, "containerStatuses") : nullptr;
                           if (cs != nullptr && cs->IsArray()) {
                             for (const auto& c : cs->GetArray()) {
                               const JsonValue* v = member(c, "ready");
                               ready += v != nullptr && v->IsBool() && v->GetBool() ? 1 : 0;
                             }
                           }
                           const JsonValue* spec = member(o, "spec");
                           return std::to_string(ready) + "/" +
                                  std::to_string(spec != nullptr ? sizeAt(*spec, "containers") : 0);
                         }),
            stringColumn("Status", podStatus),
            integerColumn("Restarts",
                          [](const JsonValue& o) {
                            int64_t restarts = 0;
                            const JsonValue* status = member(o, "status");
                            const JsonValue* cs =
                                status != nullptr ? member(*status, "containerStatuses") : nullptr;
                            if (cs != nullptr && cs->IsArray()) {
                              for (const auto& c : cs->GetArray()) {
                                restarts += intAt(c, {"restartCount"});
                              }
                            }
                            return restarts;
                          }),
            ageColumn()};
  }
  if (type.group == "batch" && r == "jobs") {
    Column duration{
        "Duration",
        "string",
        "",
        "",
        0,
        [](const JsonValue& o, JsonAlloc& a, TimePoint now) -> JsonValue {
          auto start = parseRfc3339(stringAt(o, {"status", "startTime"}));
          if (!start) {
            return str("", a);
          }
          auto end = parseRfc3339(stringAt(o, {"status", "completionTime"}));
          const TimePoint until = end ? *end : now;
          return str(
              humanDuration(std::chrono::duration_cast<std::chrono::seconds>(until - *start)), a);
        }};
    return {stringColumn("Status",
                         [](const JsonValue& o) -> std::string {
                           if (hasTrueCondition(o, "Complete"))
                             return "Complete";
                           if (hasTrueCondition(o, "Failed"))
                             return "Failed";
                           if (hasTrueCondition(o, "FailureTarget"))
                             return "FailureTarget";
                           if (hasTrueCondition(o, "Suspended"))
                             return "Suspended";
                           return "Running";
                         }),
            stringColumn("Completions",
                         [](const JsonValue& o) {
                           return std::to_string(intAt(o, {"status", "succeeded"})) + "/" +
                                  std::to_string(intAt(o, {"spec", "completions"}));
                         }),
            duration, ageColumn()};
  }
  if (type.group.empty() && r == "events") {
    Column last_seen{
        "Last Seen", "string", "", "", 0, [](const JsonValue& o, JsonAlloc& a, TimePoint now) {
          std::string when = stringAt(o, {"lastTimestamp"});
          if (when.empty())
            when = stringAt(o, {"eventTime"});
          if (when.empty())
            when = stringAt(o, {"metadata", "creationTimestamp"});
          return str(ageSince(when, now), a);
        }};
    return {last_seen,
            stringColumn("Type", [](const JsonValue& o) { return stringAt(o, {"type"}); }),
            stringColumn("Reason", [](const JsonValue& o) { return stringAt(o, {"reason"}); }),
            stringColumn("Object",
                         [](const JsonValue& o) {
                           std::string kind = stringAt(o, {"involvedObject", "kind"});
                           for (auto& ch : kind) {
                             ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                           }
                           return kind + "/" + stringAt(o, {"involvedObject", "name"});
                         }),
            stringColumn("Message", [](const JsonValue& o) { return stringAt(o, {"message"}); })};
  }
  if (type.group.empty() && r == "configmaps") {
    return {
        integerColumn("Data",
                      [](const JsonValue& o) {
                        return static_cast<int64_t>(sizeAt(o, "data") + sizeAt(o, "binaryData"));
                      }),
        ageColumn()};
  }
  if (type.group.empty() && r == "secrets") {
    return {
        stringColumn("Type", [](const JsonValue& o) { return stringAt(o, {"type"}); }),
        integerColumn("Data",
                      [](const JsonValue& o) {
                        return static_cast<int64_t>(sizeAt(o, "data") + sizeAt(o, "stringData"));
                      }),
        ageColumn()};
  }
  if (type.group.empty() && r == "serviceaccounts") {
    return {integerColumn(
                "Secrets",
                [](const JsonValue& o) { return static_cast<int64_t>(sizeAt(o, "secrets")); }),
            ageColumn()};
  }
  if (r == "leases") {
    return {stringColumn("Holder",
                         [](const JsonValue& o) {
                           return stringAt(o, {"spec", "holderIdentity"});
                         }),
            ageColumn()};
  }
  if (r == "customresourcedefinitions") {
    return {stringColumn("Created At", [](const JsonValue& o) {
      return stringAt(o, {"metadata", "creationTimestamp"});
    })};
  }
  return {ageColumn()};
}

std::vector<Column> columnsFor(const ResourceType& type) {
  if (!type.custom) {
    return builtinColumns(type);
  }
  std::vector<Column> columns;
  if (type.printer_columns != nullptr && !type.printer_columns->Empty()) {
    for (const auto& c : type.printer_columns->GetArray()) {
      const JsonValue* priority = member(c, "priority");
      columns.push_back(
          pathColumn(stringAt(c, {"name"}), stringAt(c, {"type"}), stringAt(c, {"format"}),
                     stringAt(c, {"description"}),
                     priority != nullptr && priority->IsInt() ? priority->GetInt() : 0,
                     stringAt(c, {"jsonPath"})));
    }
  } else {
    columns.push_back(
        pathColumn("Age", "date", "", kAgeDescription, 0, ".metadata.creationTimestamp"));
  }
  return columns;
}

}  // namespace

bool wantsTable(const std::string& accept_header) {
  return accept_header.find("as=Table") != std::string::npos &&
         accept_header.find("g=meta.k8s.io") != std::string::npos;
}

std::string humanDuration(std::chrono::seconds d) {
  const int64_t seconds = d.count();
  if (seconds < -1) {
    return "<invalid>";
  }
  if (seconds < 0) {
    return "0s";
  }
  if (seconds < 120) {
    return fmt::format("{}s", seconds);
  }
  const int64_t minutes = seconds / 60;
  if (minutes < 10) {
    return seconds % 60 == 0 ? fmt::format("{}m", minutes)
                             : fmt::format("{}m{}s", minutes, seconds % 60);
  }
  if (minutes < 180) {
    return fmt::format("{}m", minutes);
  }
  const int64_t hours = minutes / 60;
  if (hours < 8) {
    return minutes % 60 == 0 ? fmt::format("{}h", hours)
                             : fmt::format("{}h{}m", hours, minutes % 60);
  }
  if (hours < 48) {
    return fmt::format("{}h", hours);
  }
  if (hours < 24 * 8) {
    return hours % 24 == 0 ? fmt::format("{}d", hours / 24)
                           : fmt::format("{}d{}h", hours / 24, hours % 24);
  }
  if (hours < 24 * 365 * 2) {
    return fmt::format("{}d", hours / 24);
  }
  if (hours < 24 * 365 * 8) {
    const int64_t days = (hours / 24) % 365;
    return days == 0 ? fmt::format("{}y", hours / 24 / 365)
                     : fmt::format("{}y{}d", hours / 24 / 365, days);
  }
  return fmt::format("{}y", hours / 24 / 365);
}

std::shared_ptr<Json> tableFor(const ResourceType& type, const std::vector<JsonPtr>& objects,
                               bool with_columns, const std::string& resource_version,
                               TimePoint now, std::string_view include_object) {
  auto table = std::make_shared<Json>();
  table->SetObject();
  auto& a = table->GetAllocator();
  table->AddMember("kind", "Table", a);
  table->AddMember("apiVersion", "meta.k8s.io/v1", a);
  JsonValue meta(rapidjson::kObjectType);
  meta.AddMember("resourceVersion", str(resource_version, a), a);
  table->AddMember("metadata", meta, a);

  const std::vector<Column> columns = columnsFor(type);
  if (with_columns) {
    JsonValue definitions(rapidjson::kArrayType);
    definitions.PushBack(column("Name", "string", "name",
                                "Name must be unique within a namespace. Is required when "
                                "creating resources, although some resources may allow a client "
                                "to request the generation of an appropriate name automatically.",
                                0, a),
                         a);
    for (const auto& c : columns) {
      definitions.PushBack(column(c.name.c_str(), c.type.c_str(), c.format.c_str(),
                                  c.description.c_str(), c.priority, a),
                           a);
    }
    table->AddMember("columnDefinitions", definitions, a);
  }

  JsonValue rows(rapidjson::kArrayType);
  for (const auto& object : objects) {
    JsonValue cells(rapidjson::kArrayType);
    cells.PushBack(str(stringAt(*object, {"metadata", "name"}), a), a);
    for (const auto& c : columns) {
      cells.PushBack(c.cell(*object, a, now), a);
    }
    JsonValue row(rapidjson::kObjectType);
    row.AddMember("cells", cells, a);
    // includeObject: Metadata (the default) embeds PartialObjectMetadata, Object the whole object
    // (what kubectl asks for to --sort-by a field), None nothing.
    if (include_object == "Object") {
      JsonValue whole;
      whole.CopyFrom(*object, a);
      setString(whole, "kind", type.kind, a);
      setString(whole, "apiVersion", type.apiVersion(), a);
      row.AddMember("object", whole, a);
    } else if (include_object != "None") {
      JsonValue partial(rapidjson::kObjectType);
      partial.AddMember("kind", "PartialObjectMetadata", a);
      partial.AddMember("apiVersion", "meta.k8s.io/v1", a);
      JsonValue object_meta;
      object_meta.CopyFrom(*member(*object, "metadata"), a);
      partial.AddMember("metadata", object_meta, a);
      row.AddMember("object", partial, a);
    }
    rows.PushBack(row, a);
  }
  table->AddMember("rows", rows, a);
  return table;
}

}  // namespace opsy::testing

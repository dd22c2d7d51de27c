// Table responses (meta.k8s.io/v1) for custom resources: what kubectl prints for `get`.
#include <fmt/format.h>

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
                               TimePoint now) {
  auto table = std::make_shared<Json>();
  table->SetObject();
  auto& a = table->GetAllocator();
  table->AddMember("kind", "Table", a);
  table->AddMember("apiVersion", "meta.k8s.io/v1", a);
  JsonValue meta(rapidjson::kObjectType);
  meta.AddMember("resourceVersion", str(resource_version, a), a);
  table->AddMember("metadata", meta, a);

  // (type, jsonPath) per column after Name.
  std::vector<std::pair<std::string, std::string>> paths;
  JsonValue columns(rapidjson::kArrayType);
  columns.PushBack(column("Name", "string", "name",
                          "Name must be unique within a namespace. Is required when creating "
                          "resources, although some resources may allow a client to request the "
                          "generation of an appropriate name automatically.",
                          0, a),
                   a);
  if (type.printer_columns != nullptr && !type.printer_columns->Empty()) {
    for (const auto& c : type.printer_columns->GetArray()) {
      const JsonValue* priority = member(c, "priority");
      columns.PushBack(column(stringAt(c, {"name"}).c_str(), stringAt(c, {"type"}).c_str(),
                              stringAt(c, {"format"}).c_str(), stringAt(c, {"description"}).c_str(),
                              priority != nullptr && priority->IsInt() ? priority->GetInt() : 0, a),
                       a);
      paths.emplace_back(stringAt(c, {"type"}), stringAt(c, {"jsonPath"}));
    }
  } else {
    columns.PushBack(column("Age", "date", "",
                            "CreationTimestamp is a timestamp representing the server time when "
                            "this object was created.",
                            0, a),
                     a);
    paths.emplace_back("date", ".metadata.creationTimestamp");
  }
  if (with_columns) {
    table->AddMember("columnDefinitions", columns, a);
  }

  JsonValue rows(rapidjson::kArrayType);
  for (const auto& object : objects) {
    JsonValue cells(rapidjson::kArrayType);
    cells.PushBack(str(stringAt(*object, {"metadata", "name"}), a), a);
    for (const auto& [column_type, path] : paths) {
      const JsonValue* value = evalPath(*object, path);
      if (value == nullptr || value->IsNull()) {
        cells.PushBack(JsonValue(), a);
      } else if (column_type == "date" && value->IsString()) {
        auto when = parseRfc3339(value->GetString());
        cells.PushBack(
            str(when ? humanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *when))
                     : "<invalid>",
                a),
            a);
      } else if (column_type == "string") {
        cells.PushBack(str(value->IsString() ? std::string(value->GetString()) : toJson(*value), a),
                       a);
      } else {
        JsonValue copy;
        copy.CopyFrom(*value, a);
        cells.PushBack(copy, a);
      }
    }
    JsonValue row(rapidjson::kObjectType);
    row.AddMember("cells", cells, a);
    JsonValue partial(rapidjson::kObjectType);
    partial.AddMember("kind", "PartialObjectMetadata", a);
    partial.AddMember("apiVersion", "meta.k8s.io/v1", a);
    JsonValue object_meta;
    object_meta.CopyFrom(*member(*object, "metadata"), a);
    partial.AddMember("metadata", object_meta, a);
    row.AddMember("object", partial, a);
    rows.PushBack(row, a);
  }
  table->AddMember("rows", rows, a);
  return table;
}

}  // namespace opsy::testing

#include "support/fake_kube_json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <map>

namespace opsy::testing {

namespace {

// Merge keys of the lists the built-in types merge by key under strategic merge patch.
const std::map<std::string, std::string, std::less<>>& strategicMergeKeys() {
  static const std::map<std::string, std::string, std::less<>> keys = {
      {"containers", "name"},
      {"initContainers", "name"},
      {"ephemeralContainers", "name"},
      {"env", "name"},
      {"volumes", "name"},
      {"volumeMounts", "mountPath"},
      {"ports", "containerPort"},
      {"conditions", "type"},
      {"imagePullSecrets", "name"},
      {"ownerReferences", "uid"},
      {"tolerations", "key"},
      {"hostAliases", "ip"},
      {"topologySpreadConstraints", "topologyKey"},
      {"secrets", "name"},
  };
  return keys;
}
// Primitive lists that strategic merge patch merges as sets.
bool isMergedPrimitiveList(std::string_view key) {
  return key == "finalizers";
}

void yamlToJson(const YAML::Node& node, JsonValue& out, JsonAlloc& alloc) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out.SetObject();
      for (const auto& it : node) {
        JsonValue child;
        yamlToJson(it.second, child, alloc);
        out.AddMember(str(it.first.as<std::string>(), alloc), child, alloc);
      }
      return;
    case YAML::NodeType::Sequence:
      out.SetArray();
      for (const auto& it : node) {
        JsonValue child;
        yamlToJson(it, child, alloc);
        out.PushBack(child, alloc);
      }
      return;
    case YAML::NodeType::Scalar: {
      const std::string text = node.Scalar();
      if (node.Tag() == "!") {  // quoted
        out.SetString(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), alloc);
        return;
      }
      if (text == "true" || text == "false") {
        out.SetBool(text == "true");
        return;
      }
      if (text == "null" || text == "~") {
        out.SetNull();
        return;
      }
      char* end = nullptr;
      const long long as_int = std::strtoll(text.c_str(), &end, 10);
      if (!text.empty() && end != nullptr && *end == '\0') {
        out.SetInt64(as_int);
        return;
      }
      const double as_double = std::strtod(text.c_str(), &end);
      if (!text.empty() && end != nullptr && *end == '\0') {
        out.SetDouble(as_double);
        return;
      }
      out.SetString(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), alloc);
      return;
    }
    default: out.SetNull(); return;
  }
}

}  // namespace

Result<Json> parseJson(std::string_view text) {
  Json doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return fail(ErrorCode::InvalidArgument,
                std::string("invalid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  return doc;
}

Result<Json> parseJsonOrYaml(std::string_view text) {
  auto json = parseJson(text);
  if (json) {
    return json;
  }
  try {
    YAML::Node node = YAML::Load(std::string(text));
    Json doc;
    yamlToJson(node, doc, doc.GetAllocator());
    return doc;
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::InvalidArgument, std::string("invalid YAML: ") + e.what());
  }
}

std::string toJson(const JsonValue& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::shared_ptr<Json> cloneJson(const JsonValue& value) {
  auto doc = std::make_shared<Json>();
  doc->CopyFrom(value, doc->GetAllocator());
  return doc;
}

JsonValue str(std::string_view text, JsonAlloc& alloc) {
  JsonValue v;
  v.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), alloc);
  return v;
}

const JsonValue* member(const JsonValue& object, std::string_view key) {
  if (!object.IsObject()) {
    return nullptr;
  }
  auto it = object.FindMember(
      JsonValue(rapidjson::StringRef(key.data(), static_cast<rapidjson::SizeType>(key.size()))));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

JsonValue* member(JsonValue& object, std::string_view key) {
  return const_cast<JsonValue*>(member(static_cast<const JsonValue&>(object), key));
}

std::string stringAt(const JsonValue& value, std::initializer_list<std::string_view> path) {
  const JsonValue* current = &value;
  for (auto key : path) {
    current = member(*current, key);
    if (current == nullptr) {
      return "";
    }
  }
  return current->IsString() ? std::string(current->GetString(), current->GetStringLength())
                             : std::string();
}

JsonValue& objectMember(JsonValue& object, std::string_view key, JsonAlloc& alloc) {
  JsonValue* existing = member(object, key);
  if (existing != nullptr) {
    if (!existing->IsObject()) {
      existing->SetObject();
    }
    return *existing;
  }
  object.AddMember(str(key, alloc), JsonValue(rapidjson::kObjectType), alloc);
  return *member(object, key);
}

void setMember(JsonValue& object, std::string_view key, JsonValue value, JsonAlloc& alloc) {
  JsonValue* existing = member(object, key);
  if (existing != nullptr) {
    *existing = value;
    return;
  }
  object.AddMember(str(key, alloc), value, alloc);
}

void setString(JsonValue& object, std::string_view key, std::string_view value, JsonAlloc& alloc) {
  setMember(object, key, str(value, alloc), alloc);
}

void removeMember(JsonValue& object, std::string_view key) {
  if (object.IsObject()) {
    object.RemoveMember(
        JsonValue(rapidjson::StringRef(key.data(), static_cast<rapidjson::SizeType>(key.size()))));
  }
}

void mergePatch(JsonValue& target, const JsonValue& patch, JsonAlloc& alloc) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, alloc);
    return;
  }
  if (!target.IsObject()) {
    target.SetObject();
  }
  for (auto it = patch.MemberBegin(); it != patch.MemberEnd(); ++it) {
    std::string_view key(it->name.GetString(), it->name.GetStringLength());
    if (it->value.IsNull()) {
      removeMember(target, key);
      continue;
    }
    JsonValue* existing = member(target, key);
    if (existing == nullptr) {
      JsonValue fresh(rapidjson::kObjectType);
      if (!it->value.IsObject()) {
        fresh.CopyFrom(it->value, alloc);
      } else {
        mergePatch(fresh, it->value, alloc);
      }
      target.AddMember(str(key, alloc), fresh, alloc);
    } else {
      mergePatch(*existing, it->value, alloc);
    }
  }
}

Status jsonPatch(Json& doc, const JsonValue& operations) {
  if (!operations.IsArray()) {
    return fail(ErrorCode::InvalidArgument, "json patch must be an array of operations");
  }
  auto& alloc = doc.GetAllocator();
  for (const auto& op : operations.GetArray()) {
    const std::string kind = stringAt(op, {"op"});
    const std::string path = stringAt(op, {"path"});
    rapidjson::Pointer pointer(path.c_str());
    if (!pointer.IsValid()) {
      return fail(ErrorCode::InvalidArgument, "invalid json pointer " + path);
    }
    const JsonValue* value = member(op, "value");
    auto add = [&](const rapidjson::Pointer& at, const JsonValue& v) -> Status {
      // The parent must exist; "-" or an index inserts into arrays.
      const auto& tokens = at;
      if (tokens.GetTokenCount() == 0) {
        doc.CopyFrom(v, alloc);
        return ok();
      }
      rapidjson::Pointer parent_ptr(at.GetTokens(), at.GetTokenCount() - 1);
      JsonValue* parent = parent_ptr.Get(doc);
      if (parent == nullptr) {
        return fail(ErrorCode::InvalidArgument,
                    "add operation does not apply: doc is missing path");
      }
      const auto& last = at.GetTokens()[at.GetTokenCount() - 1];
      JsonValue copy;
      copy.CopyFrom(v, alloc);
      if (parent->IsArray()) {
        std::string_view token(last.name, last.length);
        if (token == "-") {
          parent->PushBack(copy, alloc);
          return ok();
        }
        const auto index = static_cast<rapidjson::SizeType>(std::atoi(last.name));
        if (index > parent->Size()) {
          return fail(ErrorCode::InvalidArgument, "add operation index out of range");
        }
        parent->PushBack(JsonValue(), alloc);
        for (rapidjson::SizeType i = parent->Size() - 1; i > index; --i) {
          (*parent)[i] = (*parent)[i - 1];
        }
        (*parent)[index] = copy;
        return ok();
      }
      if (!parent->IsObject()) {
        return fail(ErrorCode::InvalidArgument, "add operation parent is not a container");
      }
      setMember(*parent, std::string_view(last.name, last.length), std::move(copy), alloc);
      return ok();
    };
    if (kind == "add" || kind == "replace") {
      if (value == nullptr) {
        return fail(ErrorCode::InvalidArgument, kind + " operation has no value");
      }
      if (kind == "replace") {
        JsonValue* target = pointer.Get(doc);
        if (target == nullptr) {
          return fail(ErrorCode::InvalidArgument,
                      "replace operation does not apply: doc is missing key: " + path);
        }
        target->CopyFrom(*value, alloc);
        continue;
      }
      OPSY_RETURN_IF_ERROR(add(pointer, *value));
    } else if (kind == "remove") {
      if (!pointer.Erase(doc)) {
        return fail(ErrorCode::InvalidArgument,
                    "remove operation does not apply: doc is missing path: " + path);
      }
    } else if (kind == "test") {
      const JsonValue* target = pointer.Get(doc);
      if (target == nullptr || value == nullptr || *target != *value) {
        return fail(ErrorCode::InvalidArgument, "testing value " + path + " failed");
      }
    } else if (kind == "move" || kind == "copy") {
      rapidjson::Pointer from(stringAt(op, {"from"}).c_str());
      const JsonValue* source = from.IsValid() ? from.Get(doc) : nullptr;
      if (source == nullptr) {
        return fail(ErrorCode::InvalidArgument,
                    kind + " operation does not apply: from is missing");
      }
      Json saved;
      saved.CopyFrom(*source, saved.GetAllocator());
      if (kind == "move") {
        from.Erase(doc);
      }
      OPSY_RETURN_IF_ERROR(add(pointer, saved));
    } else {
      return fail(ErrorCode::InvalidArgument, "unexpected json patch operation " + kind);
    }
  }
  return ok();
}

void strategicMergePatch(JsonValue& target, const JsonValue& patch, JsonAlloc& alloc) {
  if (!patch.IsObject()) {
    target.CopyFrom(patch, alloc);
    return;
  }
  if (stringAt(patch, {"$patch"}) == "replace") {
    target.CopyFrom(patch, alloc);
    removeMember(target, "$patch");
    return;
  }
  if (!target.IsObject()) {
    target.SetObject();
  }
  for (auto it = patch.MemberBegin(); it != patch.MemberEnd(); ++it) {
    std::string_view key(it->name.GetString(), it->name.GetStringLength());
    if (!key.empty() && key[0] == '$') {
      continue;  // $setElementOrder/..., $retainKeys, $deleteFromPrimitiveList/..., $patch
    }
    if (it->value.IsNull()) {
      removeMember(target, key);
      continue;
    }
    JsonValue* existing = member(target, key);
    const auto& keys = strategicMergeKeys();
    auto merge_key = keys.find(key);
    if (it->value.IsArray() && existing != nullptr && existing->IsArray() &&
        merge_key != keys.end()) {
      for (const auto& element : it->value.GetArray()) {
        const JsonValue* id_value =
            element.IsObject() ? member(element, merge_key->second) : nullptr;
        const std::string id = id_value != nullptr ? toJson(*id_value) : std::string();
        bool deleted = stringAt(element, {"$patch"}) == "delete";
        bool found = false;
        for (rapidjson::SizeType i = 0; i < existing->Size(); ++i) {
          const JsonValue* existing_id = member((*existing)[i], merge_key->second);
          if (existing_id != nullptr && toJson(*existing_id) == id) {
            found = true;
            if (deleted) {
              existing->Erase(existing->Begin() + i);
            } else {
              strategicMergePatch((*existing)[i], element, alloc);
            }
            break;
          }
        }
        if (!found && !deleted) {
          JsonValue fresh(rapidjson::kObjectType);
          strategicMergePatch(fresh, element, alloc);
          existing->PushBack(fresh, alloc);
        }
      }
      continue;
    }
    if (it->value.IsArray() && existing != nullptr && existing->IsArray() &&
        isMergedPrimitiveList(key)) {
      for (const auto& element : it->value.GetArray()) {
        bool present = false;
        for (const auto& e : existing->GetArray()) {
          present = present || e == element;
        }
        if (!present) {
          JsonValue copy;
          copy.CopyFrom(element, alloc);
          existing->PushBack(copy, alloc);
        }
      }
      continue;
    }
    if (existing == nullptr) {
      JsonValue fresh(rapidjson::kObjectType);
      strategicMergePatch(fresh, it->value, alloc);
      target.AddMember(str(key, alloc), fresh, alloc);
    } else {
      strategicMergePatch(*existing, it->value, alloc);
    }
  }
}

void applyMerge(JsonValue& target, const JsonValue& applied, JsonAlloc& alloc) {
  if (!applied.IsObject() || !target.IsObject()) {
    target.CopyFrom(applied, alloc);
    return;
  }
  for (auto it = applied.MemberBegin(); it != applied.MemberEnd(); ++it) {
    std::string_view key(it->name.GetString(), it->name.GetStringLength());
    JsonValue* existing = member(target, key);
    if (existing == nullptr) {
      JsonValue copy;
      copy.CopyFrom(it->value, alloc);
      target.AddMember(str(key, alloc), copy, alloc);
    } else {
      applyMerge(*existing, it->value, alloc);
    }
  }
}

}  // namespace opsy::testing

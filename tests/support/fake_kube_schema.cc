#include "support/fake_kube_schema.h"

#include <cmath>
#include <regex>

#include <fmt/format.h>

#include "support/fake_kube_rules.h"

namespace opsy::testing {

namespace {

bool boolAt(const JsonValue& schema, std::string_view key) {
  const JsonValue* v = member(schema, key);
  return v != nullptr && v->IsBool() && v->GetBool();
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// How the real server prints a value inside a field error (Go's %v / %q, roughly).
std::string show(const JsonValue& value) {
  if (value.IsString()) {
    return toJson(value);  // quoted, like %q
  }
  if (value.IsNull()) {
    return "null";
  }
  return toJson(value);
}

std::string typeName(const JsonValue& value) {
  if (value.IsString())
    return "string";
  if (value.IsBool())
    return "boolean";
  if (value.IsObject())
    return "object";
  if (value.IsArray())
    return "array";
  if (value.IsNull())
    return "null";
  if (value.IsInt64() || value.IsUint64())
    return "integer";
  return "number";
}

bool typeMatches(const JsonValue& value, const std::string& type) {
  if (type == "object")
    return value.IsObject();
  if (type == "array")
    return value.IsArray();
  if (type == "string")
    return value.IsString();
  if (type == "boolean")
    return value.IsBool();
  if (type == "number")
    return value.IsNumber();
  if (type == "integer") {
    return value.IsInt64() || value.IsUint64() ||
           (value.IsDouble() && std::floor(value.GetDouble()) == value.GetDouble());
  }
  return true;
}

class Admitter {
 public:
  Admitter(JsonAlloc& alloc, std::vector<std::string>* pruned) : alloc_(alloc), pruned_(pruned) {}

  // Pruning, null dropping and defaulting: one pass, top-down.
  void normalize(JsonValue& value, const JsonValue& schema, const std::string& path) {
    if (value.IsObject()) {
      const JsonValue* properties = member(schema, "properties");
      const JsonValue* additional = member(schema, "additionalProperties");
      const bool preserve = boolAt(schema, "x-kubernetes-preserve-unknown-fields");
      std::vector<std::string> drop;
      for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
        std::string key(it->name.GetString(), it->name.GetStringLength());
        const JsonValue* sub = properties != nullptr ? member(*properties, key) : nullptr;
        if (sub == nullptr && additional != nullptr && additional->IsObject()) {
          sub = additional;
        }
        if (path.empty() && (key == "apiVersion" || key == "kind" || key == "metadata")) {
          continue;
        }
        if (sub == nullptr) {
          if (!preserve &&
              !(additional != nullptr && additional->IsBool() && additional->GetBool())) {
            drop.push_back(key);
          }
          continue;
        }
        if (it->value.IsNull() && !boolAt(*sub, "nullable")) {
          drop.push_back(key);
          continue;
        }
        normalize(it->value, *sub, sub == additional ? path + "[" + key + "]" : child(path, key));
      }
      for (const auto& key : drop) {
        const JsonValue* v = member(value, key);
        if (pruned_ != nullptr && v != nullptr && !v->IsNull()) {
          pruned_->push_back(child(path, key));
        }
        removeMember(value, key);
      }
      if (properties != nullptr && properties->IsObject()) {
        for (auto it = properties->MemberBegin(); it != properties->MemberEnd(); ++it) {
          std::string_view key(it->name.GetString(), it->name.GetStringLength());
          const JsonValue* def = member(it->value, "default");
          if (def != nullptr && member(value, key) == nullptr) {
            JsonValue copy;
            copy.CopyFrom(*def, alloc_);
            value.AddMember(str(key, alloc_), copy, alloc_);
            normalize(*member(value, key), it->value, child(path, key));
          }
        }
      }
    } else if (value.IsArray()) {
      const JsonValue* items = member(schema, "items");
      if (items != nullptr) {
        for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
          normalize(value[i], *items, path + "[" + std::to_string(i) + "]");
        }
      }
    }
  }

  void validate(const JsonValue& value, const JsonValue& schema, const std::string& path) {
    const std::string type = stringAt(schema, {"type"});
    if (value.IsNull()) {
      if (!boolAt(schema, "nullable") && !type.empty()) {
        add("FieldValueTypeInvalid", path,
            fmt::format("Invalid value: \"null\": {} in body must be of type {}: \"null\"", path,
                        type));
      }
      return;
    }
    if (boolAt(schema, "x-kubernetes-int-or-string")) {
      if (!value.IsString() && !typeMatches(value, "integer")) {
        add("FieldValueTypeInvalid", path,
            fmt::format("Invalid value: \"{}\": {} in body must be of type integer-or-string: "
                        "\"{}\"",
                        typeName(value), path, typeName(value)));
      }
    } else if (!type.empty() && !typeMatches(value, type)) {
      add("FieldValueTypeInvalid", path,
          fmt::format("Invalid value: \"{}\": {} in body must be of type {}: \"{}\"",
                      typeName(value), path, type, typeName(value)));
      return;
    }
    if (const JsonValue* values = member(schema, "enum"); values != nullptr && values->IsArray()) {
      bool found = false;
      std::string supported;
      for (const auto& v : values->GetArray()) {
        found = found || v == value;
        supported += (supported.empty() ? "" : ", ") + show(v);
      }
      if (!found) {
        add("FieldValueNotSupported", path,
            fmt::format("Unsupported value: {}: supported values: {}", show(value), supported));
      }
    }
    if (value.IsString()) {
      validateString(value, schema, path);
    } else if (value.IsNumber()) {
      validateNumber(value, schema, path);
    } else if (value.IsArray()) {
      validateArray(value, schema, path);
    } else if (value.IsObject()) {
      validateObject(value, schema, path);
    }
  }

  std::vector<StatusCause> causes;

 private:
  void add(const char* reason, const std::string& path, std::string message) {
    causes.push_back(StatusCause{reason, std::move(message), path});
  }

  void validateString(const JsonValue& value, const JsonValue& schema, const std::string& path) {
    // Lengths count characters (runes); this counts UTF-8 code points.
    size_t length = 0;
    for (rapidjson::SizeType i = 0; i < value.GetStringLength(); ++i) {
      length += (static_cast<unsigned char>(value.GetString()[i]) & 0xC0) != 0x80 ? 1 : 0;
    }
    if (const JsonValue* max = member(schema, "maxLength"); max != nullptr && max->IsNumber()) {
      if (static_cast<double>(length) > max->GetDouble()) {
        const auto n = static_cast<int64_t>(max->GetDouble());
        add("FieldValueTooLong", path,
            fmt::format("Too long: may not be more than {} {}", n, n == 1 ? "byte" : "bytes"));
      }
    }
    if (const JsonValue* min = member(schema, "minLength"); min != nullptr && min->IsNumber()) {
      if (static_cast<double>(length) < min->GetDouble()) {
        add("FieldValueInvalid", path,
            fmt::format("Invalid value: {}: {} in body should be at least {} chars long",
                        show(value), path, static_cast<int64_t>(min->GetDouble())));
      }
    }
    if (const JsonValue* pattern = member(schema, "pattern");
        pattern != nullptr && pattern->IsString()) {
      try {
        std::regex re(pattern->GetString(), std::regex::ECMAScript);
        if (!std::regex_search(value.GetString(), re)) {
          add("FieldValueInvalid", path,
              fmt::format("Invalid value: {}: {} in body should match '{}'", show(value), path,
                          pattern->GetString()));
        }
      } catch (const std::regex_error&) {
        // A pattern std::regex cannot compile is not enforced.
      }
    }
  }

  void validateNumber(const JsonValue& value, const JsonValue& schema, const std::string& path) {
    const double v = value.GetDouble();
    if (const JsonValue* min = member(schema, "minimum"); min != nullptr && min->IsNumber()) {
      const bool exclusive = boolAt(schema, "exclusiveMinimum");
      if (exclusive ? v <= min->GetDouble() : v < min->GetDouble()) {
        add("FieldValueInvalid", path,
            fmt::format("Invalid value: {}: {} in body should be greater than {}{}", show(value),
                        path, exclusive ? "" : "or equal to ", show(*min)));
      }
    }
    if (const JsonValue* max = member(schema, "maximum"); max != nullptr && max->IsNumber()) {
      const bool exclusive = boolAt(schema, "exclusiveMaximum");
      if (exclusive ? v >= max->GetDouble() : v > max->GetDouble()) {
        add("FieldValueInvalid", path,
            fmt::format("Invalid value: {}: {} in body should be less than {}{}", show(value), path,
                        exclusive ? "" : "or equal to ", show(*max)));
      }
    }
  }

  void validateArray(const JsonValue& value, const JsonValue& schema, const std::string& path) {
    const auto size = static_cast<int64_t>(value.Size());
    if (const JsonValue* max = member(schema, "maxItems"); max != nullptr && max->IsNumber()) {
      if (size > static_cast<int64_t>(max->GetDouble())) {
        add("FieldValueTooMany", path,
            fmt::format("Too many: {}: must have at most {} items", size,
                        static_cast<int64_t>(max->GetDouble())));
      }
    }
    if (const JsonValue* min = member(schema, "minItems"); min != nullptr && min->IsNumber()) {
      if (size < static_cast<int64_t>(min->GetDouble())) {
        add("FieldValueInvalid", path,
            fmt::format("Invalid value: {}: {} in body should have at least {} items", size, path,
                        static_cast<int64_t>(min->GetDouble())));
      }
    }
    if (const JsonValue* items = member(schema, "items"); items != nullptr) {
      for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
        validate(value[i], *items, path + "[" + std::to_string(i) + "]");
      }
    }
  }

  void validateObject(const JsonValue& value, const JsonValue& schema, const std::string& path) {
    if (const JsonValue* required = member(schema, "required");
        required != nullptr && required->IsArray()) {
      for (const auto& name : required->GetArray()) {
        if (name.IsString() && member(value, name.GetString()) == nullptr) {
          add("FieldValueRequired", child(path, name.GetString()), "Required value");
        }
      }
    }
    const JsonValue* properties = member(schema, "properties");
    const JsonValue* additional = member(schema, "additionalProperties");
    for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      if (path.empty() && (key == "apiVersion" || key == "kind" || key == "metadata")) {
        continue;
      }
      const JsonValue* sub = properties != nullptr ? member(*properties, key) : nullptr;
      if (sub != nullptr) {
        validate(it->value, *sub, child(path, key));
      } else if (additional != nullptr && additional->IsObject()) {
        validate(it->value, *additional, path + "[" + key + "]");
      }
    }
  }

  JsonAlloc& alloc_;
  std::vector<std::string>* pruned_;
};

}  // namespace

std::vector<StatusCause> admitCustomResource(JsonValue& object, const JsonValue& schema,
                                             JsonAlloc& alloc, std::vector<std::string>* pruned,
                                             const ValidationRules* rules, const JsonValue* old,
                                             std::vector<std::string>* warnings) {
  Admitter admitter(alloc, pruned);
  admitter.normalize(object, schema, "");
  admitter.validate(object, schema, "");
  if (rules != nullptr) {
    // Wrong types, missing required fields, enum and size violations would make rules fail for
    // the wrong reason, so the real server reports that it skipped them instead.
    bool blocked = false;
    for (const auto& c : admitter.causes) {
      blocked = blocked || c.reason == "FieldValueNotSupported" ||
                c.reason == "FieldValueRequired" || c.reason == "FieldValueTooLong" ||
                c.reason == "FieldValueTooMany" || c.reason == "FieldValueTypeInvalid";
    }
    if (blocked) {
      admitter.causes.push_back(
          {"FieldValueInvalid",
           "Invalid value: \"null\": some validation rules were not checked because the object "
           "was invalid; correct the existing errors to complete validation",
           "<nil>"});
    } else {
      evaluateValidationRules(*rules, object, old, admitter.causes, warnings);
    }
  }
  return std::move(admitter.causes);
}

}  // namespace opsy::testing

#include "opsy/json/json.h"

#include <fmt/format.h>
#include <rapidjson/error/en.h>

#include "opsy/core/duration.h"
#include "opsy/core/time_format.h"

namespace opsy::json {
namespace {

// A key for lookups and removal; it does not copy, so it must not be stored in a document.
Value keyRef(std::string_view key) {
  return Value(rapidjson::StringRef(key.data(), key.size()));
}

std::string copyString(const Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

rapidjson::SizeType sizeOf(std::string_view s) {
  return static_cast<rapidjson::SizeType>(s.size());
}

}  // namespace

// ---- Parsing -------------------------------------------------------------------------------

Result<Document> parse(std::string_view text, std::string_view what) {
  Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{}: invalid JSON at offset {}: {}", what, doc.GetErrorOffset(),
                            rapidjson::GetParseError_En(doc.GetParseError())));
  }
  return doc;
}

Result<Document> parseObject(std::string_view text, std::string_view what) {
  OPSY_ASSIGN_OR_RETURN(Document doc, parse(text, what));
  if (!doc.IsObject()) {
    return fail(ErrorCode::InvalidArgument, fmt::format("{}: expected a JSON object", what));
  }
  return doc;
}

// ---- Lenient readers -----------------------------------------------------------------------

const Value* member(const Value& obj, std::string_view key) {
  if (!obj.IsObject()) {
    return nullptr;
  }
  auto it = obj.FindMember(keyRef(key));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

Value* member(Value& obj, std::string_view key) {
  return const_cast<Value*>(member(static_cast<const Value&>(obj), key));
}

std::string stringOr(const Value& obj, std::string_view key, std::string_view fallback) {
  const Value* v = member(obj, key);
  return v != nullptr && v->IsString() ? copyString(*v) : std::string(fallback);
}

std::optional<std::string> optString(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsString()) {
    return std::nullopt;
  }
  return copyString(*v);
}

std::optional<int> optInt(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsInt()) {
    return std::nullopt;
  }
  return v->GetInt();
}

std::optional<std::int64_t> optInt64(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsInt64()) {
    return std::nullopt;
  }
  return v->GetInt64();
}

std::optional<double> optNumber(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsNumber()) {
    return std::nullopt;
  }
  return v->GetDouble();
}

std::optional<bool> optBool(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsBool()) {
    return std::nullopt;
  }
  return v->GetBool();
}

std::optional<TimePoint> optTime(const Value& obj, std::string_view key) {
  std::optional<std::string> text = optString(obj, key);
  if (!text.has_value() || text->empty()) {
    return std::nullopt;
  }
  Result<TimePoint> t = parseRfc3339(*text);
  if (!t) {
    return std::nullopt;
  }
  return *t;
}

std::optional<TimePoint> optEpochSeconds(const Value& obj, std::string_view key) {
  std::optional<double> seconds = optNumber(obj, key);
  if (!seconds.has_value()) {
    return std::nullopt;
  }
  return fromEpochSeconds(*seconds);
}

std::vector<std::string> strings(const Value& obj, std::string_view key) {
  std::vector<std::string> out;
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsArray()) {
    return out;
  }
  for (const Value& e : v->GetArray()) {
    if (e.IsString()) {
      out.push_back(copyString(e));
    }
  }
  return out;
}

std::map<std::string, std::string> stringMap(const Value& obj, std::string_view key) {
  std::map<std::string, std::string> out;
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsObject()) {
    return out;
  }
  for (const auto& m : v->GetObject()) {
    if (m.value.IsString()) {
      out.emplace(copyString(m.name), copyString(m.value));
    }
  }
  return out;
}

// ---- Strict reader -------------------------------------------------------------------------

tl::unexpected<Error> fieldError(std::string_view path, std::string_view message) {
  return fail(ErrorCode::InvalidArgument, fmt::format("{}: {}", path, message));
}

std::string_view typeName(const Value& value) {
  if (value.IsString()) {
    return "a string";
  }
  if (value.IsBool()) {
    return "a boolean";
  }
  if (value.IsInt64()) {
    return "an integer";
  }
  if (value.IsNumber()) {
    return "a number";
  }
  if (value.IsArray()) {
    return "a list";
  }
  if (value.IsObject()) {
    return "an object";
  }
  return "null";
}

std::string Fields::path(std::string_view key) const {
  return fmt::format("{}.{}", path_, key);
}

const Value* Fields::get(std::string_view key) const {
  const Value* v = member(*obj_, key);
  return v == nullptr || v->IsNull() ? nullptr : v;
}

tl::unexpected<Error> Fields::wrongType(std::string_view key, std::string_view expected,
                                        const Value& found) const {
  return fieldError(path(key), fmt::format("must be {}, not {}", expected, typeName(found)));
}

Result<std::optional<std::string>> Fields::optString(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr) {
    return std::optional<std::string>();
  }
  if (!v->IsString()) {
    return wrongType(key, "a string", *v);
  }
  return std::optional<std::string>(copyString(*v));
}

Result<std::string> Fields::string(std::string_view key) const {
  OPSY_ASSIGN_OR_RETURN(std::optional<std::string> s, optString(key));
  return s.value_or(std::string());
}

Result<std::string> Fields::requiredString(std::string_view key) const {
  OPSY_ASSIGN_OR_RETURN(std::string s, string(key));
  if (s.empty()) {
    return fieldError(path(key), "is required");
  }
  return s;
}

Result<std::optional<bool>> Fields::optBool(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr) {
    return std::optional<bool>();
  }
  if (!v->IsBool()) {
    return wrongType(key, "a boolean", *v);
  }
  return std::optional<bool>(v->GetBool());
}

Result<bool> Fields::boolOr(std::string_view key, bool fallback) const {
  OPSY_ASSIGN_OR_RETURN(std::optional<bool> b, optBool(key));
  return b.value_or(fallback);
}

Result<std::optional<int>> Fields::optInt(std::string_view key, int min, int max) const {
  const Value* v = get(key);
  if (v == nullptr) {
    return std::optional<int>();
  }
  if (!v->IsInt64()) {
    return wrongType(key, "an integer", *v);
  }
  std::int64_t n = v->GetInt64();
  if (n < min || n > max) {
    return fieldError(path(key), fmt::format("{} is outside {}..{}", n, min, max));
  }
  return std::optional<int>(static_cast<int>(n));
}

Result<std::optional<Duration>> Fields::optDuration(std::string_view key) const {
  OPSY_ASSIGN_OR_RETURN(std::optional<std::string> text, optString(key));
  if (!text.has_value()) {
    return std::optional<Duration>();
  }
  Result<Duration> d = parseDuration(*text);
  if (!d) {
    return fieldError(path(key), d.error().message);
  }
  return std::optional<Duration>(*d);
}

Result<Duration> Fields::durationOr(std::string_view key, Duration fallback) const {
  OPSY_ASSIGN_OR_RETURN(std::string text, string(key));
  if (text.empty()) {
    return fallback;
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<Duration> d, optDuration(key));
  return d.value_or(fallback);
}

Result<std::vector<std::string>> Fields::strings(std::string_view key) const {
  std::vector<std::string> out;
  const Value* v = get(key);
  if (v == nullptr) {
    return out;
  }
  if (!v->IsArray()) {
    return wrongType(key, "a list of strings", *v);
  }
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const Value& item = (*v)[i];
    if (!item.IsString()) {
      return fieldError(fmt::format("{}[{}]", path(key), i),
                        fmt::format("must be a string, not {}", typeName(item)));
    }
    out.push_back(copyString(item));
  }
  return out;
}

Result<std::map<std::string, std::string>> Fields::stringMap(std::string_view key) const {
  std::map<std::string, std::string> out;
  const Value* v = get(key);
  if (v == nullptr) {
    return out;
  }
  if (!v->IsObject()) {
    return wrongType(key, "an object of strings", *v);
  }
  for (const auto& m : v->GetObject()) {
    std::string name = copyString(m.name);
    if (!m.value.IsString()) {
      return fieldError(fmt::format("{}[{}]", path(key), name),
                        fmt::format("must be a string, not {}", typeName(m.value)));
    }
    out.emplace(std::move(name), copyString(m.value));
  }
  return out;
}

Result<std::optional<Fields>> Fields::object(std::string_view key) const {
  const Value* v = get(key);
  if (v == nullptr) {
    return std::optional<Fields>();
  }
  if (!v->IsObject()) {
    return wrongType(key, "an object", *v);
  }
  return std::optional<Fields>(Fields(*v, path(key)));
}

Result<std::vector<Fields>> Fields::objects(std::string_view key) const {
  std::vector<Fields> out;
  const Value* v = get(key);
  if (v == nullptr) {
    return out;
  }
  if (!v->IsArray()) {
    return wrongType(key, "a list of objects", *v);
  }
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const Value& item = (*v)[i];
    std::string item_path = fmt::format("{}[{}]", path(key), i);
    if (!item.IsObject()) {
      return fieldError(item_path, fmt::format("must be an object, not {}", typeName(item)));
    }
    out.emplace_back(item, std::move(item_path));
  }
  return out;
}

// ---- DOM writers ---------------------------------------------------------------------------

Value jsonString(std::string_view s, Alloc& alloc) {
  return Value(s.data(), sizeOf(s), alloc);
}

Value jsonStrings(const std::vector<std::string>& values, Alloc& alloc) {
  Value out(rapidjson::kArrayType);
  for (const std::string& v : values) {
    out.PushBack(jsonString(v, alloc), alloc);
  }
  return out;
}

Value jsonStringMap(const std::map<std::string, std::string>& values, Alloc& alloc) {
  Value out(rapidjson::kObjectType);
  for (const auto& [k, v] : values) {
    out.AddMember(jsonString(k, alloc), jsonString(v, alloc), alloc);
  }
  return out;
}

std::string writeJson(const Value& value) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

Value& objectMember(Value& obj, std::string_view key, Alloc& alloc) {
  Value* found = member(obj, key);
  if (found != nullptr) {
    if (!found->IsObject()) {
      found->SetObject();
    }
    return *found;
  }
  obj.AddMember(jsonString(key, alloc), Value(rapidjson::kObjectType), alloc);
  return *member(obj, key);
}

void setMember(Value& obj, std::string_view key, Value value, Alloc& alloc) {
  Value* found = member(obj, key);
  if (found != nullptr) {
    *found = std::move(value);
    return;
  }
  obj.AddMember(jsonString(key, alloc), std::move(value), alloc);
}

void setString(Value& obj, std::string_view key, std::string_view value, Alloc& alloc) {
  setMember(obj, key, jsonString(value, alloc), alloc);
}

void setInt(Value& obj, std::string_view key, std::int64_t value, Alloc& alloc) {
  setMember(obj, key, Value(static_cast<int64_t>(value)), alloc);
}

void setOptString(Value& obj, std::string_view key, std::string_view value, Alloc& alloc) {
  if (value.empty()) {
    removeMember(obj, key);
  } else {
    setString(obj, key, value, alloc);
  }
}

void setOptInt(Value& obj, std::string_view key, std::optional<std::int64_t> value, Alloc& alloc) {
  if (value.has_value()) {
    setInt(obj, key, *value, alloc);
  } else {
    removeMember(obj, key);
  }
}

void setOptBool(Value& obj, std::string_view key, std::optional<bool> value, Alloc& alloc) {
  if (value.has_value()) {
    setMember(obj, key, Value(*value), alloc);
  } else {
    removeMember(obj, key);
  }
}

void setOptTime(Value& obj, std::string_view key, std::optional<TimePoint> value, Alloc& alloc) {
  if (value.has_value()) {
    setString(obj, key, formatRfc3339(*value), alloc);
  } else {
    removeMember(obj, key);
  }
}

void setOptMicroTime(Value& obj, std::string_view key, std::optional<TimePoint> value,
                     Alloc& alloc) {
  if (value.has_value()) {
    setString(obj, key, formatMicroTime(*value), alloc);
  } else {
    removeMember(obj, key);
  }
}

void setStringMap(Value& obj, std::string_view key, const std::map<std::string, std::string>& value,
                  Alloc& alloc) {
  if (value.empty()) {
    removeMember(obj, key);
  } else {
    setMember(obj, key, jsonStringMap(value, alloc), alloc);
  }
}

void removeMember(Value& obj, std::string_view key) {
  if (!obj.IsObject()) {
    return;
  }
  // EraseMember keeps the order of the rest; RemoveMember would move the last member here.
  auto it = obj.FindMember(keyRef(key));
  if (it != obj.MemberEnd()) {
    obj.EraseMember(it);
  }
}

// ---- SAX writers ---------------------------------------------------------------------------

void writeKey(Writer& w, std::string_view key) {
  w.Key(key.data(), sizeOf(key));
}

void writeString(Writer& w, std::string_view value) {
  w.String(value.data(), sizeOf(value));
}

void writeString(Writer& w, std::string_view key, std::string_view value) {
  writeKey(w, key);
  writeString(w, value);
}

void writeStringOrNull(Writer& w, std::string_view key, std::string_view value) {
  writeKey(w, key);
  if (value.empty()) {
    w.Null();
  } else {
    writeString(w, value);
  }
}

void writeTimeOrNull(Writer& w, std::string_view key, std::optional<TimePoint> value) {
  writeStringOrNull(w, key, value.has_value() ? formatRfc3339(*value) : std::string());
}

}  // namespace opsy::json

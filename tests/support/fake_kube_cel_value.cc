// CEL subset: runtime values over the request's JSON, their equality and ordering, and the static
// types the checker derives from a CRD's structural schema.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "support/fake_kube_cel_internal.h"

namespace opsy::testing::cel {

namespace {

bool flag(const JsonValue* schema, std::string_view key) {
  const JsonValue* v = schema != nullptr ? member(*schema, key) : nullptr;
  return v != nullptr && v->IsBool() && v->GetBool();
}

const JsonValue& stringSchema() {
  static const Json doc = [] {
    Json d;
    d.Parse(R"({"type":"string"})");
    return d;
  }();
  return doc;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default: out.push_back(c);
    }
  }
  return out + "\"";
}

int sign(long double a, long double b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

// Numbers of any kind ordered by value; nullopt when a NaN is involved.
std::optional<int> compareNumbers(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.kind() == K::Double || b.kind() == K::Double) {
    auto wide = [](const Value& v) -> long double {
      switch (v.kind()) {
        case K::Int: return static_cast<long double>(v.asInt());
        case K::Uint: return static_cast<long double>(v.asUint());
        default: return static_cast<long double>(v.asDouble());
      }
    };
    const long double x = wide(a);
    const long double y = wide(b);
    if (std::isnan(x) || std::isnan(y)) {
      return std::nullopt;
    }
    return sign(x, y);
  }
  if (a.kind() == K::Int && b.kind() == K::Int) {
    return a.asInt() < b.asInt() ? -1 : (a.asInt() > b.asInt() ? 1 : 0);
  }
  if (a.kind() == K::Uint && b.kind() == K::Uint) {
    return a.asUint() < b.asUint() ? -1 : (a.asUint() > b.asUint() ? 1 : 0);
  }
  if (a.kind() == K::Int) {  // int vs uint
    if (a.asInt() < 0) {
      return -1;
    }
    const auto x = static_cast<uint64_t>(a.asInt());
    return x < b.asUint() ? -1 : (x > b.asUint() ? 1 : 0);
  }
  auto r = compareNumbers(b, a);
  return r ? std::optional<int>(-*r) : std::nullopt;
}

}  // namespace

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  return v;
}
Value Value::unsignedInt(uint64_t u) {
  Value v;
  v.kind_ = Kind::Uint;
  v.u_ = u;
  return v;
}
Value Value::real(double d) {
  Value v;
  v.kind_ = Kind::Double;
  v.d_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.s_ = std::move(s);
  return v;
}
Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::List;
  v.items_ = std::make_shared<const std::vector<Value>>(std::move(items));
  return v;
}

Value Value::fromJson(const JsonValue& json, const JsonValue* schema, bool root) {
  if (json.IsBool()) {
    return boolean(json.GetBool());
  }
  if (json.IsString()) {
    return string(std::string(json.GetString(), json.GetStringLength()));
  }
  if (json.IsNumber()) {
    const std::string type = schema != nullptr ? stringAt(*schema, {"type"}) : "";
    if (type == "number") {
      return real(json.GetDouble());
    }
    if (json.IsInt64()) {
      return integer(json.GetInt64());
    }
    const double d = json.GetDouble();
    // The schema validator accepts 3.0 as an integer; CEL then sees the int 3.
    if (type == "integer" && std::floor(d) == d && std::fabs(d) < 9.2e18) {
      return integer(static_cast<int64_t>(d));
    }
    return real(d);
  }
  Value v;
  if (json.IsArray()) {
    v.kind_ = Kind::List;
  } else if (json.IsObject()) {
    v.kind_ = Kind::Map;
    v.root_ = root || isEmbeddedResource(schema);
  } else {
    return v;  // null
  }
  v.json_ = &json;
  v.schema_ = schema;
  return v;
}

const JsonValue* Value::memberSchema(std::string_view key) const {
  if (root_ && key == "metadata") {
    return &rootMetadataSchema();
  }
  if (root_ && (key == "apiVersion" || key == "kind")) {
    return &stringSchema();
  }
  if (schema_ == nullptr) {
    return nullptr;
  }
  if (const JsonValue* props = member(*schema_, "properties"); props != nullptr) {
    if (const JsonValue* p = member(*props, key); p != nullptr) {
      return p;
    }
  }
  const JsonValue* additional = member(*schema_, "additionalProperties");
  return additional != nullptr && additional->IsObject() ? additional : nullptr;
}

// What CEL can see of an object: its declared properties (plus apiVersion, kind and metadata at
// a resource root), a map's entries, or everything when the value is untyped.
bool Value::visible(std::string_view key) const {
  if (root_ && (key == "apiVersion" || key == "kind" || key == "metadata")) {
    return true;
  }
  if (schema_ == nullptr) {
    return true;
  }
  const JsonValue* props = member(*schema_, "properties");
  if (props != nullptr && member(*props, key) != nullptr) {
    return true;
  }
  if (const JsonValue* additional = member(*schema_, "additionalProperties");
      additional != nullptr &&
      (additional->IsObject() || (additional->IsBool() && additional->GetBool()))) {
    return true;
  }
  return props == nullptr && flag(schema_, "x-kubernetes-preserve-unknown-fields");
}

size_t Value::size() const {
  if (kind_ == Kind::List) {
    return items_ != nullptr ? items_->size() : json_->Size();
  }
  if (kind_ == Kind::Map) {
    size_t n = 0;
    for (auto it = json_->MemberBegin(); it != json_->MemberEnd(); ++it) {
      n += visible(std::string_view(it->name.GetString(), it->name.GetStringLength())) ? 1 : 0;
    }
    return n;
  }
  return kind_ == Kind::String ? s_.size() : 0;
}

Value Value::item(size_t i) const {
  if (items_ != nullptr) {
    return (*items_)[i];
  }
  const JsonValue* items = schema_ != nullptr ? member(*schema_, "items") : nullptr;
  return fromJson((*json_)[static_cast<rapidjson::SizeType>(i)], items);
}

std::optional<Value> Value::field(std::string_view key) const {
  if (kind_ != Kind::Map || !visible(key)) {
    return std::nullopt;
  }
  const JsonValue* v = member(*json_, key);
  if (v == nullptr) {
    return std::nullopt;
  }
  return fromJson(*v, memberSchema(key));
}

std::vector<std::string> Value::keys() const {
  std::vector<std::string> out;
  if (kind_ != Kind::Map) {
    return out;
  }
  for (auto it = json_->MemberBegin(); it != json_->MemberEnd(); ++it) {
    std::string key(it->name.GetString(), it->name.GetStringLength());
    if (visible(key)) {
      out.push_back(std::move(key));
    }
  }
  return out;
}

std::string Value::render() const {
  switch (kind_) {
    case Kind::Null: return "null";
    case Kind::Bool: return b_ ? "true" : "false";
    case Kind::Int: return std::to_string(i_);
    case Kind::Uint: return std::to_string(u_) + "u";
    case Kind::Double: {
      std::string s = formatDouble(d_);
      return s.find_first_of(".eIN") == std::string::npos ? s + ".0" : s;
    }
    case Kind::String: return quote(s_);
    case Kind::List: {
      std::string out = "[";
      for (size_t i = 0; i < size(); ++i) {
        out += (i > 0 ? ", " : "") + item(i).render();
      }
      return out + "]";
    }
    case Kind::Map: {
      std::string out = "{";
      bool first = true;
      for (const auto& k : keys()) {
        out += (first ? "" : ", ") + quote(k) + ": " + field(k)->render();
        first = false;
      }
      return out + "}";
    }
  }
  return "";
}

bool equals(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.isNumber() && b.isNumber()) {
    auto c = compareNumbers(a, b);
    return c.has_value() && *c == 0;
  }
  if (a.kind() != b.kind()) {
    return false;
  }
  switch (a.kind()) {
    case K::Null: return true;
    case K::Bool: return a.asBool() == b.asBool();
    case K::String: return a.asString() == b.asString();
    case K::List: {
      if (a.size() != b.size()) {
        return false;
      }
      for (size_t i = 0; i < a.size(); ++i) {
        if (!equals(a.item(i), b.item(i))) {
          return false;
        }
      }
      return true;
    }
    case K::Map: {
      const auto keys = a.keys();
      if (keys.size() != b.size()) {
        return false;
      }
      for (const auto& k : keys) {
        auto other = b.field(k);
        if (!other || !equals(*a.field(k), *other)) {
          return false;
        }
      }
      return true;
    }
    default: return false;
  }
}

std::optional<int> compare(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.isNumber() && b.isNumber()) {
    return compareNumbers(a, b);
  }
  if (a.kind() != b.kind()) {
    return std::nullopt;
  }
  if (a.kind() == K::String) {
    const int c = a.asString().compare(b.asString());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.kind() == K::Bool) {
    return static_cast<int>(a.asBool()) - static_cast<int>(b.asBool());
  }
  return std::nullopt;
}

std::string formatDouble(double d) {
  if (std::isnan(d)) {
    return "NaN";
  }
  if (std::isinf(d)) {
    return d > 0 ? "+Inf" : "-Inf";
  }
  if (d == 0) {
    return std::signbit(d) ? "-0" : "0";
  }
  // Shortest round-trip digits, laid out as Go's %g does: exponent form when the decimal
  // exponent is below -4 or at least 6.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::string out = sci[0] == '-' ? "-" : "";
  if (sci[0] == '-') {
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp = std::stoi(sci.substr(e + 1));
  const int nd = static_cast<int>(digits.size());
  if (exp < -4 || exp >= 6) {
    out += digits.substr(0, 1);
    if (nd > 1) {
      out += "." + digits.substr(1);
    }
    const int a = std::abs(exp);
    return out + "e" + (exp < 0 ? "-" : "+") + (a < 10 ? "0" : "") + std::to_string(a);
  }
  if (exp < 0) {
    return out + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  }
  if (nd <= exp + 1) {
    return out + digits + std::string(static_cast<size_t>(exp + 1 - nd), '0');
  }
  return out + digits.substr(0, static_cast<size_t>(exp + 1)) + "." +
         digits.substr(static_cast<size_t>(exp + 1));
}

const JsonValue& rootMetadataSchema() {
  static const Json doc = [] {
    Json d;
    d.Parse(R"({"type":"object","properties":{"name":{"type":"string"},)"
            R"("generateName":{"type":"string"}}})");
    return d;
  }();
  return doc;
}

bool isEmbeddedResource(const JsonValue* schema) {
  return flag(schema, "x-kubernetes-embedded-resource");
}

std::string Type::name() const {
  switch (kind) {
    case Kind::Dyn: return "dyn";
    case Kind::Null: return "null_type";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Uint: return "uint";
    case Kind::Double: return "double";
    case Kind::String: return "string";
    case Kind::List: return "list(" + (elem ? elem->name() : std::string("dyn")) + ")";
    case Kind::Map: return "map(string, " + (elem ? elem->name() : std::string("dyn")) + ")";
    case Kind::Object: return "object";
    case Kind::Timestamp: return "google.protobuf.Timestamp";
    case Kind::Duration: return "google.protobuf.Duration";
    case Kind::Bytes: return "bytes";
    case Kind::Unexposed: return "unexposed";
  }
  return "dyn";
}

Type typeOfSchema(const JsonValue* schema, bool root) {
  Type t;
  if (schema == nullptr || flag(schema, "x-kubernetes-int-or-string")) {
    return t;  // untyped (no schema at all) or the int-or-string union: dyn
  }
  root = root || isEmbeddedResource(schema);
  const std::string type = stringAt(*schema, {"type"});
  // As Kubernetes declares schemas to CEL: x-kubernetes-preserve-unknown-fields adds nothing (an
  // object shows its declared properties only), and a node without a type is not exposed at all.
  t.kind = Type::Kind::Unexposed;
  if (type == "object") {
    const JsonValue* additional = member(*schema, "additionalProperties");
    if (additional != nullptr && additional->IsObject() && !root) {
      Type elem = typeOfSchema(additional, false);
      if (elem.kind != Type::Kind::Unexposed) {
        t.kind = Type::Kind::Map;
        t.elem = std::make_shared<const Type>(std::move(elem));
      }
    } else {
      t.kind = Type::Kind::Object;
      t.schema = schema;
      t.root = root;
    }
  } else if (type == "array") {
    const JsonValue* items = member(*schema, "items");
    Type elem = items != nullptr && items->IsObject() ? typeOfSchema(items, false) : t;
    if (elem.kind != Type::Kind::Unexposed) {
      t.kind = Type::Kind::List;
      t.elem = std::make_shared<const Type>(std::move(elem));
    }
  } else if (type == "string") {
    const std::string format = stringAt(*schema, {"format"});
    t.kind = format == "date-time" || format == "date" ? Type::Kind::Timestamp
             : format == "duration"                    ? Type::Kind::Duration
             : format == "byte"                        ? Type::Kind::Bytes
                                                       : Type::Kind::String;
  } else if (type == "integer") {
    t.kind = Type::Kind::Int;
  } else if (type == "number") {
    t.kind = Type::Kind::Double;
  } else if (type == "boolean") {
    t.kind = Type::Kind::Bool;
  }
  return t;
}

std::string escapePropertyName(std::string_view name) {
  static const char* reserved[] = {"true",   "false",    "null", "in",      "as",        "break",
                                   "const",  "continue", "else", "for",     "function",  "if",
                                   "import", "let",      "loop", "package", "namespace", "return",
                                   "var",    "void",     "while"};
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
    return "";
  }
  for (const char* r : reserved) {
    if (name == r) {
      return "__" + std::string(name) + "__";
    }
  }
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '_' && i + 1 < name.size() && name[i + 1] == '_') {
      out += "__underscores__";
      ++i;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_') {
      out.push_back(c);
    } else if (c == '.') {
      out += "__dot__";
    } else if (c == '-') {
      out += "__dash__";
    } else if (c == '/') {
      out += "__slash__";
    } else {
      return "";
    }
  }
  return out;
}

}  // namespace opsy::testing::cel

// Built-in validation of the fake API server (fake_kube_validation.h). The messages are the real
// server's (k8s.io/apimachinery validation and the core and batch registry strategies), so what a
// controller quotes from a refusal here reads as it would on a cluster.
#include "support/fake_kube_validation.h"

#include <fmt/format.h>

#include <set>

namespace opsy::testing {
namespace {

constexpr size_t kMaxAnnotationBytes = 256 * 1024;
constexpr size_t kMaxSecretBytes = 1024 * 1024;

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool lowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool isDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63 || !lowerAlnum(s.front()) || !lowerAlnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!lowerAlnum(c) && c != '-') {
      return false;
    }
  }
  return true;
}

bool isDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    // Each dot-separated part follows the label rule, without the label's length limit.
    if (part.empty() || !lowerAlnum(part.front()) || !lowerAlnum(part.back())) {
      return false;
    }
    for (char c : part) {
      if (!lowerAlnum(c) && c != '-') {
        return false;
      }
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]: label values (also empty) and the name part of keys.
bool isLabelToken(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out + "\"";
}

const char* kSubdomainRule =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const char* kLabelRule =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const char* kLabelValueRule =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  "
    "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const char* kQualifiedNameRule =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
    "prefix and '/' (e.g. 'example.com/MyName')";
const char* kConfigKeyRule =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const char* kQuantityRule =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

struct Causes {
  std::vector<StatusCause> list;
  void invalid(const std::string& field, const std::string& value, const std::string& why) {
    list.push_back({"FieldValueInvalid", "Invalid value: " + value + ": " + why, field});
  }
  void required(const std::string& field, const std::string& detail = "") {
    list.push_back({"FieldValueRequired",
                    detail.empty() ? "Required value" : "Required value: " + detail, field});
  }
  void duplicate(const std::string& field, const std::string& value) {
    list.push_back({"FieldValueDuplicate", "Duplicate value: " + quoted(value), field});
  }
  void notSupported(const std::string& field, const std::string& value,
                    const std::vector<std::string>& supported) {
    std::string list_text;
    for (const auto& s : supported) {
      list_text += (list_text.empty() ? "" : ", ") + quoted(s);
    }
    list.push_back({"FieldValueNotSupported",
                    "Unsupported value: " + quoted(value) + ": supported values: " + list_text,
                    field});
  }
  void notFound(const std::string& field, const std::string& value) {
    list.push_back({"FieldValueNotFound", "Not found: " + quoted(value), field});
  }
  void tooLong(const std::string& field, size_t limit) {
    list.push_back({"FieldValueTooLong",
                    "Too long: must have at most " + std::to_string(limit) + " bytes", field});
  }
};

void validateName(Causes& c, const std::string& field, const std::string& name, bool label) {
  if (label) {
    if (name.size() > 63) {
      c.invalid(field, quoted(name), "must be no more than 63 characters");
    } else if (!isDns1123Label(name)) {
      c.invalid(field, quoted(name), kLabelRule);
    }
  } else if (name.size() > 253) {
    c.invalid(field, quoted(name), "must be no more than 253 characters");
  } else if (!isDns1123Subdomain(name)) {
    c.invalid(field, quoted(name), kSubdomainRule);
  }
}

void validateLabels(Causes& c, const JsonValue* labels, const std::string& field) {
  if (labels == nullptr || !labels->IsObject()) {
    return;
  }
  for (auto it = labels->MemberBegin(); it != labels->MemberEnd(); ++it) {
    const std::string key(it->name.GetString(), it->name.GetStringLength());
    const std::string value = it->value.IsString() ? it->value.GetString() : "";
    const size_t slash = key.find('/');
    const std::string name_part = slash == std::string::npos ? key : key.substr(slash + 1);
    if (slash != std::string::npos) {
      const std::string prefix = key.substr(0, slash);
      if (!isDns1123Subdomain(prefix)) {
        c.invalid(field, quoted(key), std::string("prefix part ") + kSubdomainRule);
      }
    }
    if (name_part.size() > 63) {
      c.invalid(field, quoted(key), "name part must be no more than 63 characters");
    } else if (!isLabelToken(name_part)) {
      c.invalid(field, quoted(key), kQualifiedNameRule);
    }
    if (value.size() > 63) {
      c.invalid(field, quoted(value), "must be no more than 63 characters");
    } else if (!value.empty() && !isLabelToken(value)) {
      c.invalid(field, quoted(value), kLabelValueRule);
    }
  }
}

void validateMetadata(Causes& c, const ResourceType& type, const JsonValue& object) {
  const JsonValue* meta = member(object, "metadata");
  if (meta == nullptr || !meta->IsObject()) {
    return;
  }
  const std::string name = stringAt(*meta, {"name"});
  // Namespaces are labels; events carry generated names the real server does not check.
  if (!name.empty() && type.plural != "events") {
    validateName(c, "metadata.name", name, type.plural == "namespaces");
  }
  validateLabels(c, member(*meta, "labels"), "metadata.labels");
  if (const JsonValue* annotations = member(*meta, "annotations");
      annotations != nullptr && annotations->IsObject()) {
    size_t total = 0;
    for (auto it = annotations->MemberBegin(); it != annotations->MemberEnd(); ++it) {
      total +=
          it->name.GetStringLength() + (it->value.IsString() ? it->value.GetStringLength() : 0);
    }
    if (total > kMaxAnnotationBytes) {
      c.tooLong("metadata.annotations", kMaxAnnotationBytes);
    }
  }
}

void validateConfigKeys(Causes& c, const JsonValue& object, const char* field, size_t* bytes) {
  const JsonValue* data = member(object, field);
  if (data == nullptr || !data->IsObject()) {
    return;
  }
  for (auto it = data->MemberBegin(); it != data->MemberEnd(); ++it) {
    const std::string key(it->name.GetString(), it->name.GetStringLength());
    bool ok = !key.empty() && key.size() <= 253 && key != "." && key != "..";
    for (char ch : key) {
      ok = ok && (alnum(ch) || ch == '-' || ch == '_' || ch == '.');
    }
    if (!ok) {
      c.invalid(fmt::format("{}[{}]", field, key), quoted(key), kConfigKeyRule);
    }
    if (bytes != nullptr && it->value.IsString()) {
      *bytes += it->value.GetStringLength() * 3 / 4;  // base64 text -> bytes
    }
  }
}

// A container (init or not) of a pod spec at `path` ("spec.template.spec").
void validateContainer(Causes& c, const JsonValue& container, const std::string& field,
                       std::set<std::string>& names, const std::set<std::string>& volumes) {
  const std::string name = stringAt(container, {"name"});
  if (name.empty()) {
    c.required(field + ".name");
  } else if (!isDns1123Label(name)) {
    validateName(c, field + ".name", name, true);
  } else if (!names.insert(name).second) {
    c.duplicate(field + ".name", name);
  }
  if (stringAt(container, {"image"}).empty()) {
    c.required(field + ".image");
  }
  const std::string pull = stringAt(container, {"imagePullPolicy"});
  if (!pull.empty() && pull != "Always" && pull != "IfNotPresent" && pull != "Never") {
    c.notSupported(field + ".imagePullPolicy", pull, {"Always", "IfNotPresent", "Never"});
  }
  if (const JsonValue* ports = member(container, "ports"); ports != nullptr && ports->IsArray()) {
    for (rapidjson::SizeType i = 0; i < ports->Size(); ++i) {
      const std::string port_field = fmt::format("{}.ports[{}].containerPort", field, i);
      const JsonValue* port = member((*ports)[i], "containerPort");
      if (port == nullptr || !port->IsInt64()) {
        c.required(port_field);
      } else if (port->GetInt64() < 1 || port->GetInt64() > 65535) {
        c.invalid(port_field, std::to_string(port->GetInt64()),
                  "must be between 1 and 65535, inclusive");
      }
    }
  }
  if (const JsonValue* mounts = member(container, "volumeMounts");
      mounts != nullptr && mounts->IsArray()) {
    for (rapidjson::SizeType i = 0; i < mounts->Size(); ++i) {
      const std::string mount = stringAt((*mounts)[i], {"name"});
      if (!volumes.contains(mount)) {
        c.notFound(fmt::format("{}.volumeMounts[{}].name", field, i), mount);
      }
      if (stringAt((*mounts)[i], {"mountPath"}).empty()) {
        c.required(fmt::format("{}.volumeMounts[{}].mountPath", field, i));
      }
    }
  }
}

void validatePodSpec(Causes& c, const JsonValue* spec, const std::string& path) {
  if (spec == nullptr || !spec->IsObject()) {
    c.required(path + ".containers");
    return;
  }
  std::set<std::string> volumes;
  if (const JsonValue* list = member(*spec, "volumes"); list != nullptr && list->IsArray()) {
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
      const std::string field = fmt::format("{}.volumes[{}].name", path, i);
      const std::string name = stringAt((*list)[i], {"name"});
      if (name.empty()) {
        c.required(field);
      } else if (!isDns1123Label(name)) {
        validateName(c, field, name, true);
      } else if (!volumes.insert(name).second) {
        c.duplicate(field, name);
      }
    }
  }
  // Init containers and containers share one set of names.
  std::set<std::string> names;
  if (const JsonValue* init = member(*spec, "initContainers"); init != nullptr && init->IsArray()) {
    for (rapidjson::SizeType i = 0; i < init->Size(); ++i) {
      validateContainer(c, (*init)[i], fmt::format("{}.initContainers[{}]", path, i), names,
                        volumes);
    }
  }
  const JsonValue* containers = member(*spec, "containers");
  if (containers == nullptr || !containers->IsArray() || containers->Empty()) {
    c.required(path + ".containers");
    return;
  }
  for (rapidjson::SizeType i = 0; i < containers->Size(); ++i) {
    validateContainer(c, (*containers)[i], fmt::format("{}.containers[{}]", path, i), names,
                      volumes);
  }
}

// Suffixes a quantity may carry after its number (binary, decimal SI, or an exponent).
bool validQuantity(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    ++i;
  }
  const size_t digits_start = i;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) {
    ++i;
  }
  if (i == digits_start) {
    return false;
  }
  std::string_view suffix = s.substr(i);
  static const std::set<std::string_view> kSuffixes = {
      "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"};
  if (kSuffixes.contains(suffix)) {
    return true;
  }
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    size_t j = 1;
    if (suffix[j] == '+' || suffix[j] == '-') {
      ++j;
    }
    if (j == suffix.size()) {
      return false;
    }
    for (; j < suffix.size(); ++j) {
      if (suffix[j] < '0' || suffix[j] > '9') {
        return false;
      }
    }
    return true;
  }
  return false;
}

const JsonValue* podSpecOf(const ResourceType& type, const JsonValue& object, std::string* path) {
  if (type.plural == "jobs") {
    *path = "spec.template.spec";
    const JsonValue* spec = member(object, "spec");
    const JsonValue* tmpl = spec != nullptr ? member(*spec, "template") : nullptr;
    return tmpl != nullptr ? member(*tmpl, "spec") : nullptr;
  }
  if (type.group.empty() && type.plural == "pods") {
    *path = "spec";
    return member(object, "spec");
  }
  return nullptr;
}

}  // namespace

ApiError requestTooLargeError() {
  return simpleError(413, "RequestEntityTooLarge",
                     "Request entity too large: limit is " + std::to_string(kMaxRequestBodyBytes));
}

ApiError storedObjectTooLargeError() {
  // What etcd answers; the API server passes it on as an internal error.
  ApiError e = simpleError(500, "", "etcdserver: request is too large");
  e.has_details = false;
  return e;
}

std::optional<ApiError> decodeError(const ResourceType& type, const JsonValue& object) {
  std::string path;
  const JsonValue* spec = podSpecOf(type, object, &path);
  if (spec == nullptr || !spec->IsObject()) {
    return std::nullopt;
  }
  for (const char* list : {"initContainers", "containers"}) {
    const JsonValue* containers = member(*spec, list);
    if (containers == nullptr || !containers->IsArray()) {
      continue;
    }
    for (const auto& container : containers->GetArray()) {
      const JsonValue* resources = member(container, "resources");
      for (const char* kind : {"limits", "requests"}) {
        const JsonValue* values = resources != nullptr ? member(*resources, kind) : nullptr;
        if (values == nullptr || !values->IsObject()) {
          continue;
        }
        for (auto it = values->MemberBegin(); it != values->MemberEnd(); ++it) {
          if (it->value.IsNumber() ||
              (it->value.IsString() && validQuantity(it->value.GetString()))) {
            continue;
          }
          return badRequestError(fmt::format("{} in version \"{}\" cannot be handled as a {}: {}",
                                             type.kind, type.version, type.kind, kQuantityRule));
        }
      }
    }
  }
  return std::nullopt;
}

std::vector<StatusCause> validateObject(const ResourceType& type, const JsonValue& object,
                                        const std::string& ns) {
  Causes c;
  validateMetadata(c, type, object);
  if (type.group.empty() && (type.plural == "secrets" || type.plural == "configmaps")) {
    size_t bytes = 0;
    validateConfigKeys(c, object, "data", type.plural == "secrets" ? &bytes : nullptr);
    if (type.plural == "configmaps") {
      validateConfigKeys(c, object, "binaryData", nullptr);
    }
    if (bytes > kMaxSecretBytes) {
      c.tooLong("data", kMaxSecretBytes);
    }
  }
  std::string path;
  if (const JsonValue* spec = podSpecOf(type, object, &path);
      spec != nullptr || type.plural == "jobs") {
    validatePodSpec(c, spec, path);
    if (type.plural == "jobs") {
      validateLabels(
          c,
          [&]() -> const JsonValue* {
            const JsonValue* s = member(object, "spec");
            const JsonValue* t = s != nullptr ? member(*s, "template") : nullptr;
            const JsonValue* m = t != nullptr ? member(*t, "metadata") : nullptr;
            return m != nullptr ? member(*m, "labels") : nullptr;
          }(),
          "spec.template.metadata.labels");
    }
  }
  (void)ns;
  return std::move(c.list);
}

std::vector<StatusCause> validateUpdate(const ResourceType& type, const JsonValue& previous,
                                        const JsonValue& object) {
  Causes c;
  if (type.plural == "jobs") {
    for (const char* field : {"template", "selector", "completionMode"}) {
      const JsonValue* before = member(previous, "spec");
      const JsonValue* after = member(object, "spec");
      before = before != nullptr ? member(*before, field) : nullptr;
      after = after != nullptr ? member(*after, field) : nullptr;
      const bool same = (before == nullptr && after == nullptr) ||
                        (before != nullptr && after != nullptr && *before == *after);
      if (!same) {
        c.invalid(std::string("spec.") + field, after != nullptr ? toJson(*after) : "null",
                  "field is immutable");
      }
    }
  }
  return std::move(c.list);
}

}  // namespace opsy::testing

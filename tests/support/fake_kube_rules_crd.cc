// x-kubernetes-validations when a CRD is written: the real server's checks of each rule's fields,
// then compiling the rule against the schema it sits in, plus refusing what the CEL subset cannot
// evaluate. Field paths are the real server's: spec.validation.openAPIV3Schema when every version
// has the same schema (its internal form hoists the schema there), per version otherwise.
#include <optional>

#include "support/fake_kube_cel.h"
#include "support/fake_kube_rules.h"
#include "support/fake_kube_rules_internal.h"

namespace opsy::testing {

namespace {

bool hasNewline(std::string_view s) {
  return s.find_first_of("\n\r") != std::string_view::npos;
}

// Go's %q of a string, near enough: JSON string escaping.
std::string quoted(const std::string& s) {
  Json doc;
  JsonValue v = str(s, doc.GetAllocator());
  return toJson(v);
}

bool isEmbedded(const JsonValue& schema) {
  const JsonValue* v = member(schema, "x-kubernetes-embedded-resource");
  return v != nullptr && v->IsBool() && v->GetBool();
}

class CrdChecker {
 public:
  // `uncorrelatable`: the path of the list (or atomic map) above this node whose elements
  // cannot be matched to old ones, so rules here cannot use oldSelf.
  void check(const JsonValue& schema, const std::string& path, bool root,
             const std::optional<std::string>& uncorrelatable) {
    if (!schema.IsObject()) {
      return;
    }
    const size_t schema_errors_before = schema_errors_.size();
    // Nested schemas first: a schema error anywhere below stops this level's rules compiling.
    if (const JsonValue* props = member(schema, "properties");
        props != nullptr && props->IsObject()) {
      std::optional<std::string> sub = uncorrelatable;
      if (!sub && stringAt(schema, {"x-kubernetes-map-type"}) == "atomic") {
        sub = path;
      }
      for (auto it = props->MemberBegin(); it != props->MemberEnd(); ++it) {
        check(it->value, path + ".properties[" + it->name.GetString() + "]", isEmbedded(it->value),
              sub);
      }
    }
    if (const JsonValue* additional = member(schema, "additionalProperties");
        additional != nullptr && additional->IsObject()) {
      check(*additional, path + ".additionalProperties", isEmbedded(*additional), uncorrelatable);
    }
    if (const JsonValue* items = member(schema, "items"); items != nullptr && items->IsObject()) {
      std::optional<std::string> sub = uncorrelatable;
      if (!sub && stringAt(schema, {"x-kubernetes-list-type"}) != "map") {
        sub = path;
      }
      check(*items, path + ".items", isEmbedded(*items), sub);
    }
    for (const char* nested : {"allOf", "anyOf", "oneOf", "not"}) {
      if (const JsonValue* v = member(schema, nested); v != nullptr && containsRules(*v)) {
        cel_errors_.push_back({"FieldValueForbidden",
                               std::string("Forbidden: fake-kube does not evaluate "
                                           "x-kubernetes-validations under ") +
                                   nested,
                               path + "." + nested});
      }
    }
    const JsonValue* rules = member(schema, "x-kubernetes-validations");
    if (rules == nullptr) {
      return;
    }
    const std::string base = path + ".x-kubernetes-validations";
    if (!rules->IsArray()) {
      schema_errors_.push_back({"FieldValueInvalid",
                                "Invalid value: " + toJson(*rules) + ": must be a list of rules",
                                base});
      return;
    }
    for (rapidjson::SizeType i = 0; i < rules->Size(); ++i) {
      checkFields((*rules)[i], base + "[" + std::to_string(i) + "]", schema);
    }
    if (schema_errors_.size() != schema_errors_before) {
      return;
    }
    for (rapidjson::SizeType i = 0; i < rules->Size(); ++i) {
      compile((*rules)[i], base + "[" + std::to_string(i) + "]", schema, root, uncorrelatable);
    }
  }

  std::vector<StatusCause> causes() && {
    std::vector<StatusCause> all = std::move(schema_errors_);
    for (auto& c : cel_errors_) {
      all.push_back(std::move(c));
    }
    return all;
  }

 private:
  void checkFields(const JsonValue& rule, const std::string& at, const JsonValue& schema) {
    auto& errs = schema_errors_;
    if (!rule.IsObject()) {
      errs.push_back(
          {"FieldValueInvalid", "Invalid value: " + toJson(rule) + ": must be an object", at});
      return;
    }
    const std::string text = trimSpace(stringAt(rule, {"rule"}));
    const std::string message = stringAt(rule, {"message"});
    const std::string trimmed_message = trimSpace(message);
    if (text.empty()) {
      errs.push_back({"FieldValueRequired", "Required value: rule is not specified", at + ".rule"});
    } else if (!message.empty() && trimmed_message.empty()) {
      errs.push_back(
          {"FieldValueInvalid",
           "Invalid value: " + quoted(message) + ": message must be non-empty if specified",
           at + ".message"});
    } else if (hasNewline(trimmed_message)) {
      errs.push_back(
          {"FieldValueInvalid",
           "Invalid value: " + quoted(message) + ": message must not contain line breaks",
           at + ".message"});
    } else if (hasNewline(text) && trimmed_message.empty()) {
      errs.push_back({"FieldValueRequired",
                      "Required value: message must be specified if rule contains line breaks",
                      at + ".message"});
    }
    const JsonValue* message_expression = member(rule, "messageExpression");
    if (message_expression != nullptr && message_expression->IsString() &&
        message_expression->GetStringLength() > 0 &&
        trimSpace(message_expression->GetString()).empty()) {
      errs.push_back({"FieldValueRequired",
                      "Required value: messageExpression must be non-empty if specified",
                      at + ".messageExpression"});
    }
    if (const JsonValue* reason = member(rule, "reason"); reason != nullptr) {
      const std::string r = reason->IsString() ? reason->GetString() : toJson(*reason);
      if (r != "FieldValueRequired" && r != "FieldValueForbidden" && r != "FieldValueInvalid" &&
          r != "FieldValueDuplicate") {
        errs.push_back({"FieldValueNotSupported",
                        "Unsupported value: " + quoted(r) +
                            ": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", "
                            "\"FieldValueInvalid\", \"FieldValueRequired\"",
                        at + ".reason"});
      }
    }
    const std::string field_path = stringAt(rule, {"fieldPath"});
    if (!field_path.empty()) {
      if (trimSpace(field_path).empty()) {
        errs.push_back(
            {"FieldValueInvalid",
             "Invalid value: " + quoted(field_path) + ": fieldPath must be non-empty if specified",
             at + ".fieldPath"});
      }
      if (hasNewline(field_path)) {
        errs.push_back(
            {"FieldValueInvalid",
             "Invalid value: " + quoted(field_path) + ": fieldPath must not contain line breaks",
             at + ".fieldPath"});
      }
      if (!normalizeRuleFieldPath(field_path, schema)) {
        errs.push_back({"FieldValueInvalid",
                        "Invalid value: " + quoted(field_path) + ": fieldPath must be a valid path",
                        at + ".fieldPath"});
      }
    }
  }

  void compile(const JsonValue& rule, const std::string& at, const JsonValue& schema, bool root,
               const std::optional<std::string>& uncorrelatable) {
    const std::string text = trimSpace(stringAt(rule, {"rule"}));
    auto program = cel::Program::compile(text, &schema, root);
    if (!program) {
      cel_errors_.push_back(
          {"FieldValueInvalid",
           "Invalid value: " + quoted(text) + ": " + describeCompileError(program.error(), ""),
           at + ".rule"});
    }
    const std::string message_expression = trimSpace(stringAt(rule, {"messageExpression"}));
    if (!message_expression.empty()) {
      auto compiled =
          cel::Program::compile(message_expression, &schema, root, cel::ResultType::String);
      if (!compiled) {
        cel_errors_.push_back({"FieldValueInvalid",
                               "Invalid value: " + quoted(message_expression) + ": " +
                                   describeCompileError(compiled.error(), "messageExpression "),
                               at + ".messageExpression"});
      }
    }
    if (!program) {
      return;
    }
    if (program->usesOldSelf() && uncorrelatable) {
      cel_errors_.push_back(
          {"FieldValueInvalid",
           "Invalid value: " + quoted(text) +
               ": oldSelf cannot be used on the uncorrelatable portion of the schema within " +
               *uncorrelatable,
           at + ".rule"});
    }
    if (const JsonValue* optional = member(rule, "optionalOldSelf");
        optional != nullptr && optional->IsBool()) {
      const std::string shown = optional->GetBool() ? "true" : "false";
      if (!program->usesOldSelf()) {
        cel_errors_.push_back(
            {"FieldValueInvalid",
             "Invalid value: " + shown + ": may not be set if oldSelf is not used in rule",
             at + ".optionalOldSelf"});
      } else if (optional->GetBool()) {
        cel_errors_.push_back({"FieldValueInvalid",
                               "Invalid value: true: fake-kube cannot evaluate rules with "
                               "optionalOldSelf (oldSelf as an optional value)",
                               at + ".optionalOldSelf"});
      }
    }
  }

  std::vector<StatusCause> schema_errors_;
  std::vector<StatusCause> cel_errors_;
};

}  // namespace

std::vector<StatusCause> checkCrdValidationRules(const JsonValue& crd) {
  const JsonValue* spec = member(crd, "spec");
  const JsonValue* versions = spec != nullptr ? member(*spec, "versions") : nullptr;
  if (versions == nullptr || !versions->IsArray() || versions->Empty()) {
    return {};
  }
  const JsonValue* first = member((*versions)[0], "schema");
  bool identical = true;
  for (const auto& v : versions->GetArray()) {
    const JsonValue* s = member(v, "schema");
    identical = identical && ((s == nullptr && first == nullptr) ||
                              (s != nullptr && first != nullptr && *s == *first));
  }
  CrdChecker checker;
  for (rapidjson::SizeType i = 0; i < versions->Size(); ++i) {
    const JsonValue* schema = member((*versions)[i], "schema");
    const JsonValue* open_api = schema != nullptr ? member(*schema, "openAPIV3Schema") : nullptr;
    if (open_api != nullptr) {
      checker.check(*open_api,
                    identical ? "spec.validation.openAPIV3Schema"
                              : "spec.versions[" + std::to_string(i) + "].schema.openAPIV3Schema",
                    true, std::nullopt);
    }
    if (identical) {
      break;
    }
  }
  return std::move(checker).causes();
}

}  // namespace opsy::testing

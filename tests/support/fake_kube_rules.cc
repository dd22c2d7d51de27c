// x-kubernetes-validations: compiling a version's rules into a tree that mirrors the schema, and
// evaluating it on custom resource writes as the real server's CEL validator does.
#include "support/fake_kube_rules.h"

#include <optional>
#include <utility>

#include "support/fake_kube_cel.h"
#include "support/fake_kube_rules_internal.h"

namespace opsy::testing {

namespace rules_detail {

struct CompiledRule {
  std::string rule;     // trimmed
  std::string message;  // trimmed
  std::optional<cel::Program> program;
  std::string compile_error;  // why `program` is missing
  std::optional<cel::Program> message_expression;
  std::string reason;
  std::string field_path;  // normalized ("spec.x" style, relative to the rule's value)
  bool uses_old_self = false;
};

struct RuleNode {
  std::string type;  // the schema's type: the "value" a real server shows in its field errors
  bool map_correlatable = true;  // x-kubernetes-map-type is not atomic
  bool list_is_map = false;      // x-kubernetes-list-type: map (items correlate by their keys)
  std::vector<std::string> list_map_keys;
  std::vector<CompiledRule> rules;
  std::vector<std::pair<std::string, std::unique_ptr<RuleNode>>> properties;
  std::unique_ptr<RuleNode> items;
  std::unique_ptr<RuleNode> additional;

  const RuleNode* property(std::string_view name) const {
    for (const auto& [key, node] : properties) {
      if (key == name) {
        return node.get();
      }
    }
    return nullptr;
  }
};

}  // namespace rules_detail

using rules_detail::CompiledRule;
using rules_detail::RuleNode;

class ValidationRules {
 public:
  JsonPtr schema;  // owns what the compiled programs point into
  std::unique_ptr<RuleNode> root;
};

namespace {

// The real server's per-object runtime budget (celconfig.RuntimeCELCostBudget), in this
// evaluator's steps.
constexpr int64_t kRuntimeBudget = 10000000;
constexpr size_t kMaxMessageExpressionBytes = 5 * 1024;

std::string childPath(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

CompiledRule compileRule(const JsonValue& rule, const JsonValue& schema, bool root) {
  CompiledRule r;
  r.rule = trimSpace(stringAt(rule, {"rule"}));
  r.message = trimSpace(stringAt(rule, {"message"}));
  r.reason = stringAt(rule, {"reason"});
  const std::string field_path = stringAt(rule, {"fieldPath"});
  if (!trimSpace(field_path).empty()) {
    r.field_path = normalizeRuleFieldPath(field_path, schema).value_or("");
  }
  auto program = cel::Program::compile(r.rule, &schema, root);
  if (program) {
    r.uses_old_self = program->usesOldSelf();
    r.program = std::move(*program);
  } else {
    r.compile_error = describeCompileError(program.error(), "");
  }
  const std::string message_expression = trimSpace(stringAt(rule, {"messageExpression"}));
  if (!message_expression.empty()) {
    auto compiled =
        cel::Program::compile(message_expression, &schema, root, cel::ResultType::String);
    if (compiled) {
      r.message_expression = std::move(*compiled);
    }
  }
  return r;
}

std::unique_ptr<RuleNode> build(const JsonValue& schema, bool root) {
  auto node = std::make_unique<RuleNode>();
  node->type = stringAt(schema, {"type"});
  node->map_correlatable = stringAt(schema, {"x-kubernetes-map-type"}) != "atomic";
  node->list_is_map = stringAt(schema, {"x-kubernetes-list-type"}) == "map";
  if (const JsonValue* keys = member(schema, "x-kubernetes-list-map-keys");
      keys != nullptr && keys->IsArray()) {
    for (const auto& k : keys->GetArray()) {
      if (k.IsString()) {
        node->list_map_keys.emplace_back(k.GetString());
      }
    }
  }
  bool any = false;
  if (const JsonValue* rules = member(schema, "x-kubernetes-validations");
      rules != nullptr && rules->IsArray()) {
    for (const auto& rule : rules->GetArray()) {
      node->rules.push_back(compileRule(rule, schema, root));
      any = true;
    }
  }
  if (const JsonValue* props = member(schema, "properties");
      props != nullptr && props->IsObject()) {
    for (auto it = props->MemberBegin(); it != props->MemberEnd(); ++it) {
      if (auto child = build(it->value, false); child != nullptr) {
        node->properties.emplace_back(it->name.GetString(), std::move(child));
        any = true;
      }
    }
  }
  if (const JsonValue* items = member(schema, "items"); items != nullptr && items->IsObject()) {
    node->items = build(*items, false);
    any = any || node->items != nullptr;
  }
  if (const JsonValue* additional = member(schema, "additionalProperties");
      additional != nullptr && additional->IsObject()) {
    node->additional = build(*additional, false);
    any = any || node->additional != nullptr;
  }
  // Rules the validator never reaches must not pass silently either.
  for (const char* nested : {"allOf", "anyOf", "oneOf", "not"}) {
    if (const JsonValue* v = member(schema, nested); v != nullptr && containsRules(*v)) {
      CompiledRule r;
      r.compile_error =
          std::string("fake-kube does not evaluate x-kubernetes-validations under ") + nested;
      node->rules.push_back(std::move(r));
      any = true;
    }
  }
  return any ? std::move(node) : nullptr;
}

// The old list element with the same x-kubernetes-list-map-keys values as `item`.
const JsonValue* correlatedItem(const JsonValue& old_list, const JsonValue& item,
                                const std::vector<std::string>& keys) {
  for (const auto& candidate : old_list.GetArray()) {
    bool same = candidate.IsObject() && item.IsObject();
    for (size_t k = 0; same && k < keys.size(); ++k) {
      const JsonValue* a = member(candidate, keys[k]);
      const JsonValue* b = member(item, keys[k]);
      same = (a == nullptr && b == nullptr) || (a != nullptr && b != nullptr && *a == *b);
    }
    if (same) {
      return &candidate;
    }
  }
  return nullptr;
}

// Ratcheting: a node is unchanged when it equals its correlated old value; a node without one
// takes the answer of its nearest correlated ancestor (nothing is unchanged on create).
struct Correlation {
  const JsonValue* value;
  const JsonValue* old;
  const Correlation* parent;
  mutable std::optional<bool> equal;

  bool unchanged() const {
    if (old == nullptr) {
      return parent != nullptr && parent->unchanged();
    }
    if (!equal) {
      equal = *value == *old;
    }
    return *equal;
  }
};

StatusCause fieldError(const std::string& field, const std::string& type, const std::string& detail,
                       const std::string& reason) {
  const std::string where = field.empty() ? "<nil>" : field;
  if (reason == "FieldValueForbidden") {
    return {reason, "Forbidden: " + detail, where};
  }
  if (reason == "FieldValueRequired") {
    return {reason, "Required value: " + detail, where};
  }
  if (reason == "FieldValueDuplicate") {
    return {reason, "Duplicate value: \"" + type + "\"", where};
  }
  return {"FieldValueInvalid", "Invalid value: \"" + type + "\": " + detail, where};
}

class Runner {
 public:
  Runner(std::vector<StatusCause>& causes, std::vector<std::string>* warnings)
      : causes_(causes), warnings_(warnings) {}

  // `old` is the correlated old value; `old_for_rules` says whether transition rules may use it
  // (not below an atomic map).
  void validate(const RuleNode& node, const JsonValue& value, const JsonValue* old,
                bool old_for_rules, const std::string& path, const Correlation* parent) {
    if (stopped_ || value.IsNull()) {
      return;  // only values that are there are validated
    }
    Correlation corr{&value, old, parent, std::nullopt};
    runRules(node, value, old_for_rules ? old : nullptr, path, corr);
    if (value.IsArray() && node.items != nullptr) {
      for (rapidjson::SizeType i = 0; i < value.Size() && !stopped_; ++i) {
        const JsonValue* old_item = node.list_is_map && old != nullptr && old->IsArray()
                                        ? correlatedItem(*old, value[i], node.list_map_keys)
                                        : nullptr;
        validate(*node.items, value[i], old_item, old_for_rules,
                 path + "[" + std::to_string(i) + "]", &corr);
      }
    } else if (value.IsObject()) {
      for (auto it = value.MemberBegin(); it != value.MemberEnd() && !stopped_; ++it) {
        std::string_view key(it->name.GetString(), it->name.GetStringLength());
        const RuleNode* child = node.property(key);
        std::string child_path = childPath(path, key);
        if (child == nullptr && node.additional != nullptr) {
          child = node.additional.get();
          child_path = path + "[" + std::string(key) + "]";
        }
        if (child == nullptr) {
          continue;
        }
        const JsonValue* old_child =
            old != nullptr && old->IsObject() ? member(*old, key) : nullptr;
        validate(*child, it->value, old_child, old_for_rules && node.map_correlatable, child_path,
                 &corr);
      }
    }
  }

 private:
  void invalid(const std::string& path, const std::string& type, const std::string& detail) {
    causes_.push_back(fieldError(path, type, detail, ""));
  }

  void runRules(const RuleNode& node, const JsonValue& value, const JsonValue* old,
                const std::string& path, const Correlation& corr) {
    for (const CompiledRule& rule : node.rules) {
      if (!rule.program) {
        invalid(path, node.type, "rule compile error: " + rule.compile_error);
        continue;
      }
      if (rule.uses_old_self && old == nullptr) {
        continue;  // transition rules need an old value to compare with
      }
      if (budget_ <= 0) {
        invalid(path, node.type,
                "validation failed due to running out of cost budget, no further validation "
                "rules will be run");
        stopped_ = true;
        return;
      }
      const int64_t limit = std::min(cel::kPerCallLimit, budget_);
      cel::Evaluation e = rule.program->evaluate(value, rule.uses_old_self ? old : nullptr, limit);
      budget_ -= e.cost;
      const std::string name = rule.message.empty() ? rule.rule : rule.message;
      if (e.cost_exceeded) {
        invalid(path, node.type,
                limit < cel::kPerCallLimit
                    ? "validation failed due to running out of cost budget, no further "
                      "validation rules will be run"
                    : "'" + e.error +
                          "': no further validation rules will be run due to call cost exceeds "
                          "limit for rule: " +
                          name);
        stopped_ = true;
        return;
      }
      if (!e.error.empty()) {
        invalid(path, node.type,
                e.error.rfind("no such overload", 0) == 0
                    ? "'" + e.error +
                          "': call arguments did not match a supported operator, function or "
                          "macro signature for rule: " +
                          name
                    : e.error + " evaluating rule: " + name);
        continue;
      }
      if (e.is_true) {
        continue;
      }
      std::string detail = rule.message.empty() ? "failed rule: " + rule.rule : rule.message;
      if (rule.message_expression) {
        cel::Evaluation m =
            rule.message_expression->evaluate(value, old, std::min(cel::kPerCallLimit, budget_));
        budget_ -= m.cost;
        const std::string text = trimSpace(m.text);
        if (m.error.empty() && !text.empty() && text.size() <= kMaxMessageExpressionBytes &&
            text.find('\n') == std::string::npos) {
          detail = text;
        }
      }
      std::string field = path;
      if (!rule.field_path.empty()) {
        field = childPath(path, rule.field_path);
      }
      StatusCause cause = fieldError(field, node.type, detail, rule.reason);
      if (!rule.uses_old_self && corr.unchanged()) {
        if (warnings_ != nullptr) {
          warnings_->push_back(cause.field + ": " + cause.message);
        }
      } else {
        causes_.push_back(std::move(cause));
      }
    }
  }

  std::vector<StatusCause>& causes_;
  std::vector<std::string>* warnings_;
  int64_t budget_ = kRuntimeBudget;
  bool stopped_ = false;
};

}  // namespace

std::string trimSpace(std::string_view s) {
  const char* space = " \t\n\r\f\v";
  const size_t start = s.find_first_not_of(space);
  if (start == std::string_view::npos) {
    return "";
  }
  return std::string(s.substr(start, s.find_last_not_of(space) - start + 1));
}

std::string describeCompileError(const cel::CompileError& error, const std::string& what) {
  switch (error.kind) {
    case cel::CompileError::Kind::Invalid: return what + "compilation failed: " + error.message;
    case cel::CompileError::Kind::ResultType: return error.message;
    case cel::CompileError::Kind::Unsupported:
      return "fake-kube cannot evaluate this " + (what.empty() ? "rule" : trimSpace(what)) + ": " +
             error.message;
  }
  return error.message;
}

bool containsRules(const JsonValue& schema) {
  if (schema.IsArray()) {
    for (const auto& v : schema.GetArray()) {
      if (containsRules(v)) {
        return true;
      }
    }
    return false;
  }
  if (!schema.IsObject()) {
    return false;
  }
  for (auto it = schema.MemberBegin(); it != schema.MemberEnd(); ++it) {
    std::string_view key(it->name.GetString(), it->name.GetStringLength());
    if (key == "x-kubernetes-validations") {
      return true;
    }
    if (key == "default" || key == "enum" || key == "example") {
      continue;  // values, not schemas
    }
    if (containsRules(it->value)) {
      return true;
    }
  }
  return false;
}

std::optional<std::string> normalizeRuleFieldPath(std::string_view path, const JsonValue& schema) {
  const JsonValue* node = &schema;
  std::string out;
  size_t i = 0;
  auto append = [&](const std::string& name) -> bool {
    const JsonValue* props = member(*node, "properties");
    if (props != nullptr && props->IsObject()) {
      const JsonValue* p = member(*props, name);
      if (p == nullptr) {
        return false;
      }
      out += (out.empty() ? "" : ".") + name;
      node = p;
      return true;
    }
    const JsonValue* additional = member(*node, "additionalProperties");
    if (additional != nullptr && additional->IsObject()) {
      out += "[" + name + "]";
      node = additional;
      return true;
    }
    return false;
  };
  while (i < path.size()) {
    if (path[i] == '.') {
      const size_t start = ++i;
      while (i < path.size() && path[i] != '.' && path[i] != '[' && path[i] != ']') {
        ++i;
      }
      if (i == start || !append(std::string(path.substr(start, i - start)))) {
        return std::nullopt;
      }
    } else if (path[i] == '[') {
      ++i;
      if (i >= path.size() || path[i] != '\'') {
        return std::nullopt;  // keys are single-quoted strings; indexes are not allowed
      }
      ++i;
      std::string key;
      for (;;) {
        if (i >= path.size()) {
          return std::nullopt;
        }
        if (path[i] == '\\' && i + 1 < path.size()) {
          static const std::string from = "abfnrtv'\\";
          static const std::string to = "\a\b\f\n\r\t\v'\\";
          const size_t k = from.find(path[i + 1]);
          if (k == std::string::npos) {
            return std::nullopt;
          }
          key.push_back(to[k]);
          i += 2;
          continue;
        }
        if (path[i] == '\'') {
          ++i;
          break;
        }
        key.push_back(path[i++]);
      }
      if (i >= path.size() || path[i] != ']' || !append(key)) {
        return std::nullopt;
      }
      ++i;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::shared_ptr<const ValidationRules> compileValidationRules(const JsonPtr& schema) {
  if (schema == nullptr || !schema->IsObject()) {
    return nullptr;
  }
  auto root = build(*schema, true);
  if (root == nullptr) {
    return nullptr;
  }
  auto rules = std::make_shared<ValidationRules>();
  rules->schema = schema;
  rules->root = std::move(root);
  return rules;
}

void evaluateValidationRules(const ValidationRules& rules, const JsonValue& object,
                             const JsonValue* old, std::vector<StatusCause>& causes,
                             std::vector<std::string>* warnings) {
  Runner runner(causes, warnings);
  runner.validate(*rules.root, object, old, old != nullptr, "", nullptr);
}

}  // namespace opsy::testing

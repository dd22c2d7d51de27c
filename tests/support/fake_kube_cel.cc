// CEL subset: compiling (parse, then check against the schema) and running a program, with
// errors worded as cel-go words them where a real server reports the same mistake.
#include "support/fake_kube_cel.h"

#include "support/fake_kube_cel_internal.h"

namespace opsy::testing::cel {

struct Program::Impl {
  std::shared_ptr<const Node> tree;
  const JsonValue* schema = nullptr;
  bool root = false;
  bool uses_old_self = false;
};

namespace {

// cel-go's layout: "ERROR: <input>:1:6: message\n | source line\n | .....^".
std::string located(std::string_view source, const SourceError& e) {
  size_t line = 1;
  size_t start = 0;
  for (size_t i = 0; i < e.pos && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line;
      start = i + 1;
    }
  }
  size_t end = source.find('\n', start);
  if (end == std::string_view::npos) {
    end = source.size();
  }
  size_t column = 0;  // in code points, as cel-go counts
  for (size_t i = start; i < e.pos && i < source.size(); ++i) {
    column += (static_cast<unsigned char>(source[i]) & 0xC0) != 0x80 ? 1 : 0;
  }
  const std::string where = "<input>:" + std::to_string(line) + ":" + std::to_string(column + 1);
  if (e.unsupported) {
    return e.message + " (" + where + ")";
  }
  return "ERROR: " + where + ": " + e.message + "\n | " +
         std::string(source.substr(start, end - start)) + "\n | " + std::string(column, '.') + "^";
}

CompileError compileError(std::string_view source, const SourceError& e) {
  return CompileError{e.unsupported ? CompileError::Kind::Unsupported : CompileError::Kind::Invalid,
                      located(source, e)};
}

}  // namespace

tl::expected<Program, CompileError> Program::compile(std::string_view source,
                                                     const JsonValue* schema, bool resource_root,
                                                     ResultType result) {
  auto tree = parse(source);
  if (!tree) {
    return tl::unexpected(compileError(source, tree.error()));
  }
  CheckEnv env;
  env.self = typeOfSchema(schema, resource_root);
  if (env.self.kind == Type::Kind::Unexposed) {
    return tl::unexpected(CompileError{
        CompileError::Kind::Invalid,
        "internal error: failed to retrieve type information for x-kubernetes-validations"});
  }
  auto type = check(**tree, env);
  if (!type) {
    return tl::unexpected(compileError(source, type.error()));
  }
  if (type->kind != Type::Kind::Dyn) {
    if (result == ResultType::Bool && type->kind != Type::Kind::Bool) {
      return tl::unexpected(
          CompileError{CompileError::Kind::ResultType, "cel expression must evaluate to a bool"});
    }
    if (result == ResultType::String && type->kind != Type::Kind::String) {
      return tl::unexpected(CompileError{CompileError::Kind::ResultType,
                                         "messageExpression must evaluate to a string"});
    }
  }
  auto impl = std::make_shared<Impl>();
  impl->tree = std::shared_ptr<const Node>(std::move(*tree));
  impl->schema = schema;
  impl->root = resource_root;
  impl->uses_old_self = env.uses_old_self;
  return Program(std::move(impl));
}

bool Program::usesOldSelf() const {
  return impl_->uses_old_self;
}

Evaluation Program::evaluate(const JsonValue& self, const JsonValue* old_self,
                             int64_t limit) const {
  std::optional<Value> old;
  if (old_self != nullptr) {
    old = Value::fromJson(*old_self, impl_->schema, impl_->root);
  }
  Evaluator evaluator(Value::fromJson(self, impl_->schema, impl_->root), std::move(old), limit);
  auto result = evaluator.eval(*impl_->tree);
  Evaluation out;
  out.cost = evaluator.cost();
  if (!result) {
    out.error = result.error();
    out.cost_exceeded = evaluator.cancelled();
    return out;
  }
  out.is_true = result->kind() == Value::Kind::Bool && result->asBool();
  if (result->kind() == Value::Kind::String) {
    out.text = result->asString();
  }
  out.rendered = result->render();
  return out;
}

}  // namespace opsy::testing::cel

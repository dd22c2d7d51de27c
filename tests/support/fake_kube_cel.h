// File: fake_kube_cel.h
//
// A bounded subset of CEL, the expression language of CRD x-kubernetes-validations rules, for the
// fake Kubernetes API server (internal). A rule is parsed and type-checked against the structural
// schema of the value `self` is bound to, so the mistakes a real server refuses when the CRD is
// written (an undefined field, operands of the wrong types, a rule that is not a bool) are refused
// here too, and valid CEL outside the subset is refused as unsupported rather than skipped.
// Evaluation is bounded: nesting depth when parsing, a step budget when running, and the sizes
// handed to regular expressions. tests/support/fake_kube.md lists the subset.
//
//   auto program = cel::Program::compile("has(self.a) != has(self.b)", &spec_schema, false);
//   cel::Evaluation e = program->evaluate(spec, nullptr);  // e.error, or e.is_true
#pragma once

#include <tl/expected.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "support/fake_kube_json.h"

namespace opsy::testing::cel {

struct CompileError {
  enum class Kind {
    Invalid,      // a real server refuses it too; `message` is cel-go's "ERROR: <input>:1:5: ..."
    Unsupported,  // valid CEL (or probably so) that this subset does not implement
    ResultType,   // the expression does not produce the type its use needs
  };
  Kind kind = Kind::Invalid;
  std::string message;
};

// What an expression must produce: rules are bools, message expressions strings.
enum class ResultType { Bool, String, Any };

struct Evaluation {
  std::string error;           // a CEL runtime error ("no such key: ami"); empty on success
  bool cost_exceeded = false;  // the step budget ran out (error says so too)
  bool is_true = false;        // the result is the bool true
  std::string text;            // a string result
  std::string rendered;        // the result in CEL syntax: true, 3, 3u, 1.5, "a", [1, 2], {"k": 1}
  int64_t cost = 0;            // steps used
};

// Steps one evaluation may take (the real server's per-call limit is of the same order).
inline constexpr int64_t kPerCallLimit = 1000000;

class Program {
 public:
  // `schema` types `self` and `oldSelf` (nullptr: untyped, as for x-kubernetes-preserve-unknown-
  // fields); `resource_root` when self is a whole resource, which CEL sees with only apiVersion,
  // kind, metadata.name, metadata.generateName and the declared properties. The schema must
  // outlive the program.
  static tl::expected<Program, CompileError> compile(std::string_view source,
                                                     const JsonValue* schema, bool resource_root,
                                                     ResultType result = ResultType::Bool);

  // True when the expression reads oldSelf (a transition rule).
  bool usesOldSelf() const;

  // Evaluates with `self` (and `old_self` for transition rules) bound to JSON values of the
  // compile-time schema; `limit` caps the steps taken.
  Evaluation evaluate(const JsonValue& self, const JsonValue* old_self,
                      int64_t limit = kPerCallLimit) const;

  struct Impl;

 private:
  explicit Program(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// The CEL name of a CRD property (foo-bar -> foo__dash__bar, namespace -> __namespace__), or ""
// when the name cannot be written in CEL (Kubernetes' escaping rules).
std::string escapePropertyName(std::string_view name);

}  // namespace opsy::testing::cel

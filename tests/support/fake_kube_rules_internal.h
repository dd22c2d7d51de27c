// File: fake_kube_rules_internal.h
//
// Helpers shared by fake_kube_rules.cc (compiling and evaluating x-kubernetes-validations) and
// fake_kube_rules_crd.cc (checking them when a CRD is written). Internal.
//
//   auto normalized = normalizeRuleFieldPath(".spec['a.b']", schema);  // "spec[a.b]"
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "support/fake_kube_cel.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {

// Go's strings.TrimSpace, for ASCII white space.
std::string trimSpace(std::string_view s);

// How a rule's (what == "") or message expression's ("messageExpression ") compile error reads
// in a field error: "compilation failed: ERROR: ...", or why the CEL subset cannot evaluate it.
std::string describeCompileError(const cel::CompileError& error, const std::string& what);

// Whether a schema (or a list of them) has x-kubernetes-validations anywhere inside.
bool containsRules(const JsonValue& schema);

// A rule's fieldPath (".a.b", ".m['key']") resolved against the schema of the rule's value, in
// the real server's field path form ("a.b", "m[key]"); nullopt when it names no property.
std::optional<std::string> normalizeRuleFieldPath(std::string_view path, const JsonValue& schema);

}  // namespace opsy::testing

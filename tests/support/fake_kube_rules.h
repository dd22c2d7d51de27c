// File: fake_kube_rules.h
//
// CRD x-kubernetes-validations in the fake Kubernetes API server (internal). When a CRD is
// written its rules are checked (what a real server refuses, and what the CEL subset of
// fake_kube_cel.h cannot evaluate, both refused with the rule's field path); each served version
// keeps its rules compiled; custom resource writes evaluate them at every level of the schema
// with the real server's error shapes, transition rules (oldSelf) on updates, and ratcheting
// (a failing rule on a value the update left unchanged is a warning, not an error).
//
//   auto causes = checkCrdValidationRules(crd);   // a 422 for the CRD when not empty
//   type->rules = compileValidationRules(schema);  // nullptr when the schema has no rules
//   evaluateValidationRules(*type->rules, object, old_or_null, causes, warnings);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/fake_kube_api.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {

class ValidationRules;

// The causes to refuse a CustomResourceDefinition with, for its x-kubernetes-validations.
std::vector<StatusCause> checkCrdValidationRules(const JsonValue& crd);

// The compiled rules of one version's openAPIV3Schema; nullptr when it has none. A rule that does
// not compile (a CRD stored without checks) fails every write it applies to instead of being
// skipped.
std::shared_ptr<const ValidationRules> compileValidationRules(const JsonPtr& schema);

// Evaluates the rules against `object` (after pruning and defaulting) and, on updates, `old`:
// failures go to `causes`, ratcheted ones to `warnings` (when given).
void evaluateValidationRules(const ValidationRules& rules, const JsonValue& object,
                             const JsonValue* old, std::vector<StatusCause>& causes,
                             std::vector<std::string>* warnings);

}  // namespace opsy::testing

// File: fake_kube_schema.h
//
// Structural-schema handling for custom resources in the fake Kubernetes API server (internal):
// prunes unknown fields (honouring x-kubernetes-preserve-unknown-fields), drops non-nullable
// nulls, applies defaults, then validates types, required, enum, pattern, bounds, lengths and item
// counts, reporting causes shaped like the real server's field errors, and finally evaluates the
// CRD's x-kubernetes-validations rules (fake_kube_rules.h). anyOf/allOf/oneOf/not are not
// evaluated.
//
//   auto causes = admitCustomResource(object, schema, alloc, &pruned_paths, rules, old, &warnings);
#pragma once

#include <string>
#include <vector>

#include "support/fake_kube_api.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {

class ValidationRules;

// Prunes, defaults and validates `object` (a whole custom resource) in place. Pruned field paths
// ("spec.foo") go to `pruned` when given. With `rules`, the CEL rules run too unless the schema
// found an error that blocks them (as the real server decides): `old` is the stored object on
// updates, and rules failing on values the update left alone go to `warnings` (ratcheting).
std::vector<StatusCause> admitCustomResource(JsonValue& object, const JsonValue& schema,
                                             JsonAlloc& alloc, std::vector<std::string>* pruned,
                                             const ValidationRules* rules = nullptr,
                                             const JsonValue* old = nullptr,
                                             std::vector<std::string>* warnings = nullptr);

}  // namespace opsy::testing

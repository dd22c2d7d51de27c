// File: fake_kube_schema.h
//
// Structural-schema handling for custom resources in the fake Kubernetes API server (internal):
// prunes unknown fields (honouring x-kubernetes-preserve-unknown-fields), drops non-nullable
// nulls, applies defaults, then validates types, required, enum, pattern, bounds, lengths and item
// counts, reporting causes shaped like the real server's field errors. CEL rules
// (x-kubernetes-validations) and anyOf/allOf/oneOf/not are not evaluated.
//
//   auto causes = admitCustomResource(object, schema, alloc, &pruned_paths);
#pragma once

#include <string>
#include <vector>

#include "support/fake_kube_api.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {

// Prunes, defaults and validates `object` (a whole custom resource) in place. Pruned field paths
// ("spec.foo") go to `pruned` when given.
std::vector<StatusCause> admitCustomResource(JsonValue& object, const JsonValue& schema,
                                             JsonAlloc& alloc, std::vector<std::string>* pruned);

}  // namespace opsy::testing

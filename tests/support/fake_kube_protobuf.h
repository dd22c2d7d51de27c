// File: fake_kube_protobuf.h
//
// Decodes the Kubernetes protobuf envelope (`k8s\0` + runtime.Unknown) for the few built-in kinds
// kubectl's typed `create` commands send (Namespace, ConfigMap, Secret, ServiceAccount) into the
// JSON the rest of the fake works with (internal). Other kinds are refused.
//
//   OPSY_ASSIGN_OR_RETURN(Json object, protobufToJson(request.body));
#pragma once

#include <string_view>

#include "opsy/core/result.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {

[[nodiscard]] Result<Json> protobufToJson(std::string_view body);

}  // namespace opsy::testing

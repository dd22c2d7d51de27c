// File: fake_kube_validation.h
//
// What the fake API server refuses in built-in kinds (internal), as the real server's decoding and
// registry validation refuse it, with the real messages: object names and label syntax, the
// annotation size, Events and Leases, Secret and ConfigMap keys, and Jobs with their pod template
// (container and volume names, images, ports, pull policies, resource quantities, the restart
// policy, fields that may not change). Also the size limits of a request body and a stored object.
//
//   if (auto e = decodeError(type, object)) return apiFail(*e);               // 400, before all
//   auto causes = validateObject(type, object, ns);                           // 422 when any
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "support/fake_kube_api.h"

namespace opsy::testing {

// The API server refuses a request body larger than this (413, before decoding it).
constexpr size_t kMaxRequestBodyBytes = 3 * 1024 * 1024;
// etcd's default --max-request-bytes: a larger object is not stored (500 from etcd).
constexpr size_t kMaxStoredObjectBytes = 1536 * 1024;

ApiError requestTooLargeError();
ApiError storedObjectTooLargeError();

// Errors the real server meets while decoding the body into its Go type, before validation: a
// resource quantity that is not one ("cpu: lots") is a 400, not a 422.
std::optional<ApiError> decodeError(const ResourceType& type, const JsonValue& object);

// Everything wrong with `object` of `type` in namespace `ns` (create and update alike).
std::vector<StatusCause> validateObject(const ResourceType& type, const JsonValue& object,
                                        const std::string& ns);

// Changes an update may not make to `previous` (a Job's pod template and selector).
std::vector<StatusCause> validateUpdate(const ResourceType& type, const JsonValue& previous,
                                        const JsonValue& object);

}  // namespace opsy::testing

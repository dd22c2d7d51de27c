// File: meta_codec.h (private)
//
// The JSON codecs every Kubernetes kind shares: ObjectMeta and ObjectReference, built on the
// opsy::json accessors. decodeMeta is strict about wrongly typed metadata (it names the field);
// encodeMeta rewrites metadata in place, so unknown members of the object survive.
//
//   OPSY_ASSIGN_OR_RETURN(ObjectMeta meta, decodeMeta(doc));
#pragma once

#include "opsy/json/json.h"
#include "opsy/kube/object.h"

namespace opsy::kube {

// ObjectMeta and ObjectReference codecs. decodeMeta fails on a wrongly typed field and names it.
[[nodiscard]] Result<ObjectMeta> decodeMeta(const json::Value& object);
void encodeMeta(const ObjectMeta& meta, json::Value& object, json::Alloc& alloc);
ObjectReference decodeObjectReference(const json::Value& ref);
json::Value encodeObjectReference(const ObjectReference& ref, json::Alloc& alloc);

}  // namespace opsy::kube

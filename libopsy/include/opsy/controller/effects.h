// File: effects.h
//
// How an executor carries out the shared actions of controller/actions.h: an Event recorded
// about the object, a notification queued to its destinations, and the one status write of a
// reconcile. The status write is a JSON merge patch of .status that carries the resourceVersion
// the reconcile read, so a decision made from a stale cache cannot overwrite a newer status: it
// fails with Conflict and the key is reconciled again from fresh state.
//
//   OPSY_RETURN_IF_ERROR(controller::writeStatus(status_writer, resource, meta, patch, "my-ctrl"));
//   controller::recordEvent(recorder, ref, action);
#pragma once

#include <string_view>

#include "opsy/controller/actions.h"
#include "opsy/core/result.h"
#include "opsy/kube/client.h"
#include "opsy/kube/events.h"
#include "opsy/kube/object.h"
#include "opsy/notify/notifiers.h"

namespace opsy::controller {

// The Event reference of `obj`.
kube::ObjectReference referenceTo(const kube::Object& obj);

void recordEvent(kube::EventRecorder& events, const kube::ObjectReference& about,
                 const RecordEvent& event);

// Queues the notification; does nothing without a factory or a configured destination.
void sendNotification(notify::NotifierFactory* factory, std::string_view ns, const Notify& n);

// Merge-patches .status of the object `meta` names with `status_patch` ({"status":{...}}), on the
// precondition that its resourceVersion is still meta.resource_version (none when empty). On
// success meta.resource_version becomes the written object's, so a further write of the same
// reconcile is not refused by its own first one. A deleted object is not an error.
[[nodiscard]] Status writeStatus(kube::StatusWriter& writer, const kube::Resource& resource,
                                 kube::ObjectMeta& meta, std::string_view status_patch,
                                 std::string_view field_manager);

// `patch` ({"...": ...}) with metadata.resourceVersion set as its precondition.
std::string withResourceVersion(std::string_view patch, std::string_view resource_version);

}  // namespace opsy::controller

// File: actions.h
//
// The actions both controllers' decide() functions share, so that an Event, a notification and a
// status write look the same in every decision and every executor carries them out the same way
// (controller/effects.h). A controller's own actions (create a Job, start a node group update)
// sit beside these in its Action variant.
//
//   using Action = std::variant<controller::PatchStatus<MyStatus>, CreateJob,
//                               controller::RecordEvent, controller::Notify>;
#pragma once

#include <string>

#include "opsy/kube/events.h"
#include "opsy/notify/config.h"
#include "opsy/notify/notifier.h"

namespace opsy::controller {

// An Event about the reconciled object.
struct RecordEvent {
  kube::EventType type = kube::EventType::Normal;
  std::string reason;
  std::string action;
  std::string note;

  bool operator==(const RecordEvent&) const = default;
};

// A notification to the destinations of the object's spec.notifier.
struct Notify {
  notify::NotifierConfig destination;
  // The object's region: SES sends there unless its block names a region.
  std::string region;
  notify::Notification notification;
};

// Writes the object's status: `after` as it should be, `before` as it was read (a merge patch
// also clears what `after` no longer has).
template <class StatusT>
struct PatchStatus {
  StatusT before;
  StatusT after;
};

// std::visit over an action variant with one lambda per alternative.
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace opsy::controller

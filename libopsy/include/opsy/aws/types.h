// File: types.h
//
// Value types shared by more than one AWS client: tags, EC2-style filters, launch template
// references (EC2, EKS and Auto Scaling all name a template by id or name plus a version), and
// Parsed<E>, the form every AWS status or state takes once a client has read it.
//
//   aws::LaunchTemplateSpec lt{.id = "lt-0abc", .version = "5"};
//   if (nodegroup.status == aws::NodegroupStatus::Active) { ... nodegroup.status.text ... }
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace opsy::aws {

using Tags = std::map<std::string, std::string>;

// A filter: name ("name", "owner-id", "tag:status", "tag-key") and values ('*' wildcards in EC2).
struct Filter {
  std::string name;
  std::vector<std::string> values;
};

// A launch template by id (preferred) or name, and a version ("5", "$Latest", "$Default").
struct LaunchTemplateSpec {
  std::string id;
  std::string name;
  std::string version;
};

// A value of one of AWS's closed string sets (a status, a state), parsed where the client reads
// the response so that policy compares enumerators, never text. It converts to E, so
// `ng.status == NodegroupStatus::Active` and `switch (ng.status)` read as for a plain enum.
// `text` is what the service sent: messages print it, and it is the only record of a value this
// build does not know, which parses as E::Unknown. Built from an enumerator (as fixtures do), the
// text is that enumerator's AWS spelling, `toString(e)`.
template <class E>
struct Parsed {
  E value = E::Unknown;
  std::string text;

  Parsed() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): fixtures write `.status = Status::Active`.
  Parsed(E e) : value(e), text(toString(e)) {}
  Parsed(E e, std::string raw) : value(e), text(std::move(raw)) {}

  // NOLINTNEXTLINE(google-explicit-constructor): policy compares and switches on the enumerator.
  operator E() const { return value; }
};

}  // namespace opsy::aws

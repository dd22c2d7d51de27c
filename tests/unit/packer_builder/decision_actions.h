// File: decision_actions.h
//
// Picks the actions of one kind out of a PackerBuilder Decision, for the decide() tests that
// assert which calls, Events and notifications a rule yields.
//
//   for (const RecordEvent& e : actionsOf<RecordEvent>(d)) ...
#pragma once

#include <variant>
#include <vector>

#include "packer-builder-controller/decide.h"

namespace opsy::packer_builder {

template <class T>
std::vector<T> actionsOf(const Decision& d) {
  std::vector<T> out;
  for (const Action& a : d.actions) {
    if (const T* t = std::get_if<T>(&a)) {
      out.push_back(*t);
    }
  }
  return out;
}

}  // namespace opsy::packer_builder

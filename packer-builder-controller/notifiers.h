// File: notifiers.h
//
// The NotifierFactory the binary uses: a builder's spec.notifier through the process's
// notify::Notifiers (one queue per destination, shared by every builder naming it; Secret values
// read per send).
//
//   notify::Notifiers all({.secrets = &client, .transport = t, .clock = &clock, ...});
//   ProcessNotifierFactory notifiers(all);
//   Reconciler r({..., .notifiers = &notifiers, ...});
#pragma once

#include "opsy/notify/notifiers.h"
#include "packer-builder-controller/execute.h"

namespace opsy::packer_builder {

class ProcessNotifierFactory : public NotifierFactory {
 public:
  explicit ProcessNotifierFactory(notify::Notifiers& notifiers) : notifiers_(notifiers) {}

  notify::NotifierPtr notifierFor(std::string_view ns, const NotifierSpec& spec,
                                  std::string_view region) override {
    return notifiers_.notifierFor(ns, spec, region);
  }

 private:
  notify::Notifiers& notifiers_;
};

}  // namespace opsy::packer_builder

// File: notifiers.h
//
// The NotifierFactory the binary uses: spec.notifier.slack through notify::SlackNotifiers (one
// AsyncNotifier per distinct namespace, Secret and channels; the token is read per send).
//
//   SlackNotifierFactory notifiers(client, slack_transport, realClock());
//   Reconciler r({..., .notifiers = &notifiers, ...});
#pragma once

#include <string>

#include "opsy/core/clock.h"
#include "opsy/http/transport.h"
#include "opsy/kube/client.h"
#include "opsy/notify/slack_notifiers.h"
#include "packer-builder-controller/execute.h"

namespace opsy::packer_builder {

class SlackNotifierFactory : public NotifierFactory {
 public:
  SlackNotifierFactory(kube::ObjectReader& secrets, http::TransportPtr transport, Clock& clock,
                       std::string api_url = "https://slack.com/api")
      : slack_(secrets, std::move(transport), clock, std::move(api_url)) {}

  notify::NotifierPtr notifierFor(std::string_view ns, const NotifierSpec& spec) override;

 private:
  notify::SlackNotifiers slack_;
};

}  // namespace opsy::packer_builder

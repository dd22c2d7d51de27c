// File: notifiers.h
//
// The NotifierFactory the binary uses: one AsyncNotifier per distinct (namespace, Slack secret,
// channels), created on first use and kept, so a slow or failing Slack never blocks a reconcile
// and builders sharing a destination share its queue. The bot token is read from the Secret's
// "token" key at send time, so a rotated token takes effect without a restart.
//
//   SlackNotifierFactory notifiers(client, slack_transport, realClock());
//   Reconciler r({..., .notifiers = &notifiers, ...});
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "opsy/core/clock.h"
#include "opsy/http/transport.h"
#include "opsy/kube/client.h"
#include "packer-builder-controller/execute.h"

namespace opsy::packer_builder {

class SlackNotifierFactory : public NotifierFactory {
 public:
  SlackNotifierFactory(kube::ObjectReader& secrets, http::TransportPtr transport, Clock& clock,
                       std::string api_url = "https://slack.com/api")
      : secrets_(secrets),
        transport_(std::move(transport)),
        clock_(clock),
        api_url_(std::move(api_url)) {}

  notify::NotifierPtr notifierFor(std::string_view ns, const NotifierSpec& spec) override;

 private:
  kube::ObjectReader& secrets_;
  http::TransportPtr transport_;
  Clock& clock_;
  std::string api_url_;
  std::mutex mu_;
  std::map<std::string, notify::NotifierPtr> notifiers_;
};

}  // namespace opsy::packer_builder

// File: slack_notifiers.h
//
// Slack notifiers for controllers whose resources name a Slack Secret and channels: one
// AsyncNotifier per distinct (namespace, Secret, channels), created on first use and kept, so a
// slow or failing Slack never blocks a reconcile and resources sharing a destination share its
// queue. The bot token is read from the Secret's "token" key at send time, so a rotated token
// takes effect without a restart, and it is registered with the log scrubber, never logged.
//
//   notify::SlackNotifiers slack(client, transport, realClock());
//   notify::NotifierPtr n = slack.notifierFor("ops", "slack-token", {"C0123"});
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/http/transport.h"
#include "opsy/kube/client.h"
#include "opsy/notify/notifier.h"

namespace opsy::notify {

class SlackNotifiers {
 public:
  SlackNotifiers(kube::ObjectReader& secrets, http::TransportPtr transport, Clock& clock,
                 std::string api_url = "https://slack.com/api")
      : secrets_(secrets),
        transport_(std::move(transport)),
        clock_(clock),
        api_url_(std::move(api_url)) {}

  // The notifier posting to `channels` with the token of Secret `ns`/`secret`; null when the
  // sender cannot be built (logged).
  NotifierPtr notifierFor(std::string_view ns, const std::string& secret,
                          const std::vector<std::string>& channels);

 private:
  kube::ObjectReader& secrets_;
  http::TransportPtr transport_;
  Clock& clock_;
  std::string api_url_;
  std::mutex mu_;
  std::map<std::string, NotifierPtr> notifiers_;
};

}  // namespace opsy::notify

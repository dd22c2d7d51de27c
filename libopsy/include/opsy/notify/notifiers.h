// File: notifiers.h
//
// The notifiers of a controller process: given a resource's namespace and `spec.notifier`, the
// Notifier that fans each notification out to every configured destination. Each destination
// (kind, namespace, Secret or address, target) has one AsyncNotifier, created on first use and
// shared by every resource naming it, so a slow or failing destination delays neither a
// reconcile nor the other destinations. Secret values (Slack token, Discord URL, webhook signing
// key) are read per send, so a rotated Secret applies without a restart, and are registered with
// the log scrubber.
//
//   notify::Notifiers notifiers({.secrets = &client, .transport = t, .clock = &clock, ...});
//   if (auto n = notifiers.notifierFor("ops", spec.notifier, spec.region)) n->notify(...);
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "opsy/aws/ses.h"
#include "opsy/aws/sns.h"
#include "opsy/core/clock.h"
#include "opsy/http/transport.h"
#include "opsy/kube/client.h"
#include "opsy/notify/config.h"
#include "opsy/notify/destination_policy.h"
#include "opsy/notify/notifier.h"

namespace opsy::notify {

struct NotifiersOptions {
  kube::ObjectReader* secrets = nullptr;  // reads the Secrets destinations name
  http::TransportPtr transport;           // Slack, Discord and webhooks
  Clock* clock = nullptr;
  std::string slack_api_url = "https://slack.com/api";
  // AWS clients by region (the process's credentials); unset makes SNS/SES deliveries fail.
  std::function<Result<aws::SnsApiPtr>(std::string_view region)> sns;
  std::function<Result<aws::SesApiPtr>(std::string_view region)> ses;
  // Per-destination queue options; its observer sees every outcome (metrics).
  AsyncNotifierOptions async;
  // Where webhook and Discord notifications may go (the URLs come from resources).
  DestinationPolicy destinations;
  // Resolves webhook and Discord host names for the destination check; unset: getaddrinfo().
  HostResolver resolver;
};

// Knows how to reach the destinations a resource's spec.notifier names. Both controllers depend
// on this role only; Notifiers is the process's implementation, tests pass a recording fake.
class NotifierFactory {
 public:
  virtual ~NotifierFactory() = default;
  /**
   * The notifier for `config` of a resource in `ns` whose own region is `region` (SES without a
   * region of its own sends there); null when nothing is configured.
   */
  virtual NotifierPtr notifierFor(std::string_view ns, const NotifierConfig& config,
                                  std::string_view region) = 0;
  /**
   * Why a destination `config` names in the spec may not be reached (a webhook URL the
   * destination policy refuses), for the resource's status; nullopt when none is refused.
   */
  virtual std::optional<std::string> refusal(const NotifierConfig& config) {
    (void)config;
    return std::nullopt;
  }
};

class Notifiers : public NotifierFactory {
 public:
  explicit Notifiers(NotifiersOptions options) : options_(std::move(options)) {}

  // A destination that cannot be built is logged and left out; the others still deliver.
  NotifierPtr notifierFor(std::string_view ns, const NotifierConfig& config,
                          std::string_view region) override;
  // The webhook URL checked against options.destinations.
  std::optional<std::string> refusal(const NotifierConfig& config) override;

  // Blocks until every queue is empty (tests, graceful shutdown).
  void flush();

 private:
  NotifierPtr destination(const std::string& key, const std::function<Result<SenderPtr>()>& make);
  std::function<Result<std::string>()> secretValue(std::string_view ns, const std::string& secret,
                                                   std::string_view key) const;

  NotifiersOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<AsyncNotifier>> destinations_;
};

}  // namespace opsy::notify

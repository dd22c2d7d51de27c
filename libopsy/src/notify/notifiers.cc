#include "opsy/notify/notifiers.h"

#include <fmt/format.h>

#include <vector>

#include "opsy/core/log.h"
#include "opsy/kube/objects.h"
#include "opsy/notify/discord.h"
#include "opsy/notify/ses.h"
#include "opsy/notify/slack.h"
#include "opsy/notify/sns.h"
#include "opsy/notify/webhook.h"

namespace opsy::notify {
namespace {

// Hands each notification to every destination's queue; never blocks.
class FanOut : public Notifier {
 public:
  explicit FanOut(std::vector<NotifierPtr> targets) : targets_(std::move(targets)) {}

  void notify(Notification n) override {
    for (size_t i = 0; i + 1 < targets_.size(); ++i) {
      targets_[i]->notify(n);
    }
    targets_.back()->notify(std::move(n));
  }

 private:
  std::vector<NotifierPtr> targets_;
};

}  // namespace

std::function<Result<std::string>()> Notifiers::secretValue(std::string_view ns,
                                                            const std::string& secret,
                                                            std::string_view key) const {
  kube::ObjectReader* reader = options_.secrets;
  return [reader, ns = std::string(ns), secret, key = std::string(key)]() -> Result<std::string> {
    if (reader == nullptr) {
      return fail(ErrorCode::FailedPrecondition, "no Secret reader configured");
    }
    OPSY_ASSIGN_OR_RETURN(kube::Secret s, kube::getTyped<kube::Secret>(*reader, ns, secret));
    auto it = s.data.find(key);
    if (it == s.data.end() || it->second.empty()) {
      return fail(ErrorCode::FailedPrecondition,
                  fmt::format("secret {}/{} has no key \"{}\"", ns, secret, key));
    }
    log::registerSecret(it->second);
    return it->second;
  };
}

NotifierPtr Notifiers::destination(const std::string& key,
                                   const std::function<Result<SenderPtr>()>& make) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = destinations_.find(key); it != destinations_.end()) {
    return it->second;
  }
  Result<SenderPtr> sender = make();
  if (!sender) {
    // Only the kind: the rest of the key may hold a webhook URL, which can carry a token.
    log::get("notify").warn(
        "notification destination not created",
        log::kv("destination", key.substr(0, key.find('/')), "error", sender.error().toString()));
    return nullptr;
  }
  auto notifier =
      std::make_shared<AsyncNotifier>(std::move(*sender), *options_.clock, options_.async);
  destinations_[key] = notifier;
  return notifier;
}

NotifierPtr Notifiers::notifierFor(std::string_view ns, const NotifierConfig& config,
                                   std::string_view region) {
  std::vector<NotifierPtr> targets;
  auto add = [&targets](NotifierPtr n) {
    if (n) {
      targets.push_back(std::move(n));
    }
  };
  if (const auto& d = config.slack) {
    add(destination(fmt::format("slack/{}/{}/{}", ns, d->secret, fmt::join(d->channel_ids, ",")),
                    [&] {
                      return makeSlackSender({.transport = options_.transport,
                                              .channels = d->channel_ids,
                                              .token = secretValue(ns, d->secret, kSlackTokenKey),
                                              .api_url = options_.slack_api_url});
                    }));
  }
  if (const auto& d = config.sns) {
    add(destination(fmt::format("sns/{}", d->topic_arn), [&] {
      auto clients = options_.sns;
      std::string topic_region = d->region;
      return makeSnsSender({.client = [clients, topic_region]() -> Result<aws::SnsApiPtr> {
                              if (!clients) {
                                return fail(ErrorCode::FailedPrecondition, "no SNS client");
                              }
                              return clients(topic_region);
                            },
                            .topic_arn = d->topic_arn});
    }));
  }
  if (const auto& d = config.ses) {
    std::string ses_region = d->region.empty() ? std::string(region) : d->region;
    add(destination(fmt::format("ses/{}/{}/{}/{}", ses_region, d->from, fmt::join(d->to, ","),
                                d->configuration_set),
                    [&] {
                      auto clients = options_.ses;
                      return makeSesSender(
                          {.client = [clients, ses_region]() -> Result<aws::SesApiPtr> {
                             if (!clients) {
                               return fail(ErrorCode::FailedPrecondition, "no SES client");
                             }
                             return clients(ses_region);
                           },
                           .from = d->from,
                           .to = d->to,
                           .configuration_set = d->configuration_set});
                    }));
  }
  auto refused = [policy = options_.destinations](std::string_view url) {
    return refusedUrl(policy, url);
  };
  auto connect = [policy = options_.destinations,
                  resolve = options_.resolver ? options_.resolver : systemResolver()](
                     std::string_view url) { return connectAddress(policy, url, resolve); };
  if (const auto& d = config.discord) {
    add(destination(fmt::format("discord/{}/{}", ns, d->secret), [&] {
      return makeDiscordSender({.transport = options_.transport,
                                .webhook_url = secretValue(ns, d->secret, kDiscordWebhookUrlKey),
                                .refused = refused,
                                .connect_address = connect});
    }));
  }
  if (const auto& d = config.webhook) {
    add(destination(fmt::format("webhook/{}/{}/{}", ns, d->url, d->secret), [&] {
      WebhookOptions o{.transport = options_.transport,
                       .url = d->url,
                       .clock = options_.clock,
                       .refused = refused,
                       .connect_address = connect};
      if (!d->secret.empty()) {
        o.signing_key = secretValue(ns, d->secret, kWebhookSigningKey);
      }
      return makeWebhookSender(std::move(o));
    }));
  }
  if (targets.empty()) {
    return nullptr;
  }
  if (targets.size() == 1) {
    return targets.front();
  }
  return std::make_shared<FanOut>(std::move(targets));
}

std::optional<std::string> Notifiers::refusal(const NotifierConfig& config) {
  if (config.webhook) {
    if (auto why = refusedUrl(options_.destinations, config.webhook->url)) {
      return "spec.notifier.webhook.url: " + *why;
    }
  }
  return std::nullopt;
}

void Notifiers::flush() {
  std::vector<std::shared_ptr<AsyncNotifier>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, n] : destinations_) {
      all.push_back(n);
    }
  }
  for (const auto& n : all) {
    n->flush();
  }
}

}  // namespace opsy::notify

#include "opsy/notify/slack_notifiers.h"

#include <fmt/format.h>

#include "opsy/core/log.h"
#include "opsy/kube/objects.h"
#include "opsy/notify/slack.h"

namespace opsy::notify {

NotifierPtr SlackNotifiers::notifierFor(std::string_view ns, const std::string& secret,
                                        const std::vector<std::string>& channels) {
  std::string key = fmt::format("{}/{}/{}", ns, secret, fmt::join(channels, ","));
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = notifiers_.find(key); it != notifiers_.end()) {
    return it->second;
  }
  std::string secret_ns(ns);
  kube::ObjectReader& reader = secrets_;
  auto sender = makeSlackSender(
      {.transport = transport_,
       .channels = channels,
       .token = [&reader, secret_ns, secret]() -> Result<std::string> {
         OPSY_ASSIGN_OR_RETURN(kube::Secret s,
                               kube::getTyped<kube::Secret>(reader, secret_ns, secret));
         auto it = s.data.find("token");
         if (it == s.data.end() || it->second.empty()) {
           return fail(ErrorCode::FailedPrecondition,
                       fmt::format("secret {}/{} has no key \"token\"", secret_ns, secret));
         }
         log::registerSecret(it->second);
         return it->second;
       },
       .api_url = api_url_});
  if (!sender) {
    log::get("notify.slack")
        ->warn("slack notifier not created {}",
               log::kv("namespace", ns, "error", sender.error().toString()));
    return nullptr;
  }
  auto notifier = std::make_shared<AsyncNotifier>(std::move(*sender), clock_);
  notifiers_[key] = notifier;
  return notifier;
}

}  // namespace opsy::notify

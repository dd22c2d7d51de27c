#include "packer-builder-controller/notifiers.h"

#include <fmt/format.h>

#include "opsy/core/log.h"
#include "opsy/kube/objects.h"
#include "opsy/notify/slack.h"

namespace opsy::packer_builder {

notify::NotifierPtr SlackNotifierFactory::notifierFor(std::string_view ns,
                                                      const NotifierSpec& spec) {
  if (!spec.slack) {
    return nullptr;
  }
  std::string key =
      fmt::format("{}/{}/{}", ns, spec.slack->secret, fmt::join(spec.slack->channel_ids, ","));
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = notifiers_.find(key); it != notifiers_.end()) {
    return it->second;
  }
  std::string secret_ns(ns);
  std::string secret_name = spec.slack->secret;
  kube::ObjectReader& reader = secrets_;
  auto sender = notify::makeSlackSender(
      {.transport = transport_,
       .channels = spec.slack->channel_ids,
       .token = [&reader, secret_ns, secret_name]() -> Result<std::string> {
         OPSY_ASSIGN_OR_RETURN(kube::Secret secret,
                               kube::getTyped<kube::Secret>(reader, secret_ns, secret_name));
         auto it = secret.data.find("token");
         if (it == secret.data.end() || it->second.empty()) {
           return fail(ErrorCode::FailedPrecondition,
                       fmt::format("secret {}/{} has no key \"token\"", secret_ns, secret_name));
         }
         log::registerSecret(it->second);
         return it->second;
       },
       .api_url = api_url_});
  if (!sender) {
    log::get("controller.packer-builder")
        ->warn("slack notifier not created {}",
               log::kv("namespace", ns, "error", sender.error().toString()));
    return nullptr;
  }
  auto notifier = std::make_shared<notify::AsyncNotifier>(std::move(*sender), clock_);
  notifiers_[key] = notifier;
  return notifier;
}

}  // namespace opsy::packer_builder

// File: notifiers.h
//
// The notification destinations of a controller process, wired to its Manager: Secrets read
// through the Manager's Kubernetes client, SNS and SES through its AWS clients (credentials
// chain, AWS_ENDPOINT_URL, request metrics), one HTTPS transport for Slack, Discord and
// webhooks, and every outcome counted in opsy_notifications_total. Both binaries use it, so the
// two controllers notify alike.
//
//   OPSY_ASSIGN_OR_RETURN(auto notifiers, runtime::makeNotifiers(manager, slack_api_url));
#pragma once

#include <memory>
#include <string>

#include "opsy/core/result.h"
#include "opsy/notify/notifiers.h"
#include "opsy/runtime/manager.h"

namespace opsy::runtime {

// `manager` must outlive the result.
[[nodiscard]] Result<std::unique_ptr<notify::Notifiers>> makeNotifiers(Manager& manager,
                                                                       std::string slack_api_url);

}  // namespace opsy::runtime

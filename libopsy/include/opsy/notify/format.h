// File: format.h
//
// Plain-text renderings of a notification shared by the senders that have no layout of their
// own (SNS, SES): a subject line and a body of "Name: value" lines a person reads in a mail
// client or a phone notification.
//
//   std::string subject = notify::subjectLine(n, 100);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "opsy/notify/notifier.h"

namespace opsy::notify {

// "Severity" as users see it in payloads and attributes: info, success, warning, error.
std::string_view toString(Severity s);

// "<title>: <object>" on one line, at most `max_chars` bytes (cut with "..."); line breaks and
// control characters become spaces.
std::string subjectLine(const Notification& n, size_t max_chars);

// The title, the resource, its state and fields one per line, then the message.
std::string plainTextBody(const Notification& n);

}  // namespace opsy::notify

#include "opsy/notify/config.h"

#include <fmt/format.h>

#include <regex>

#include "opsy/json/json.h"

namespace opsy::notify {
namespace {

using json::fieldError;
using json::Fields;

// SES v2 takes at most 50 recipients per message.
constexpr size_t kMaxSesRecipients = 50;

// A required, non-empty list of non-empty strings.
Result<std::vector<std::string>> requiredStrings(const Fields& f, std::string_view key) {
  if (f.get(key) == nullptr) {
    return fieldError(f.path(key), "is required");
  }
  OPSY_ASSIGN_OR_RETURN(std::vector<std::string> out, f.strings(key));
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].empty()) {
      return fieldError(fmt::format("{}[{}]", f.path(key), i), "must be a non-empty string");
    }
  }
  if (out.empty()) {
    return fieldError(f.path(key), "needs at least one entry");
  }
  return out;
}

// An address as SES takes it ("ops@example.com" or "Ops <ops@example.com>"); a line break would
// let a value add mail headers, so none is accepted.
Status checkAddress(std::string_view path, const std::string& address) {
  if (address.find_first_of("\r\n") != std::string::npos) {
    return fieldError(path, "must not contain a line break");
  }
  size_t at = address.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == address.size()) {
    return fieldError(path, fmt::format("\"{}\" is not an e-mail address", address));
  }
  return ok();
}

Result<SlackDestination> parseSlack(const Fields& f) {
  SlackDestination d;
  OPSY_ASSIGN_OR_RETURN(d.channel_ids, requiredStrings(f, "channelIDs"));
  OPSY_ASSIGN_OR_RETURN(d.secret, f.requiredString("secret"));
  return d;
}

Result<SnsDestination> parseSns(const Fields& f) {
  SnsDestination d;
  OPSY_ASSIGN_OR_RETURN(d.topic_arn, f.requiredString("topicArn"));
  static const std::regex kTopicArn(
      R"(arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):sns:([a-z0-9-]+):[0-9]{12}:([A-Za-z0-9_-]{1,256})(\.fifo)?)");
  std::smatch m;
  if (!std::regex_match(d.topic_arn, m, kTopicArn)) {
    return fieldError(f.path("topicArn"), fmt::format("\"{}\" is not an SNS topic ARN "
                                                      "(arn:aws:sns:<region>:<account-id>:<topic>)",
                                                      d.topic_arn));
  }
  if (m[4].matched) {
    return fieldError(f.path("topicArn"),
                      "FIFO topics are not supported (they need a message group id); use a "
                      "standard topic");
  }
  d.region = m[2].str();
  return d;
}

Result<SesDestination> parseSes(const Fields& f) {
  SesDestination d;
  OPSY_ASSIGN_OR_RETURN(d.from, f.requiredString("from"));
  OPSY_RETURN_IF_ERROR(checkAddress(f.path("from"), d.from));
  OPSY_ASSIGN_OR_RETURN(d.to, requiredStrings(f, "to"));
  if (d.to.size() > kMaxSesRecipients) {
    return fieldError(f.path("to"), fmt::format("SES takes at most {} recipients, got {}",
                                                kMaxSesRecipients, d.to.size()));
  }
  for (size_t i = 0; i < d.to.size(); ++i) {
    OPSY_RETURN_IF_ERROR(checkAddress(fmt::format("{}[{}]", f.path("to"), i), d.to[i]));
  }
  OPSY_ASSIGN_OR_RETURN(d.region, f.string("region"));
  static const std::regex kRegion("[a-z]{2}(-[a-z]+)+-[0-9]+");
  if (!d.region.empty() && !std::regex_match(d.region, kRegion)) {
    return fieldError(f.path("region"), fmt::format("\"{}\" is not an AWS region", d.region));
  }
  OPSY_ASSIGN_OR_RETURN(d.configuration_set, f.string("configurationSet"));
  return d;
}

Result<DiscordDestination> parseDiscord(const Fields& f) {
  DiscordDestination d;
  OPSY_ASSIGN_OR_RETURN(d.secret, f.requiredString("secret"));
  return d;
}

Result<WebhookDestination> parseWebhook(const Fields& f) {
  WebhookDestination d;
  OPSY_ASSIGN_OR_RETURN(d.url, f.requiredString("url"));
  static const std::regex kUrl(R"(https?://[^/?#\s]+([/?#]\S*)?)");
  if (!std::regex_match(d.url, kUrl)) {
    return fieldError(f.path("url"), "must be an http:// or https:// URL with a host");
  }
  OPSY_ASSIGN_OR_RETURN(d.secret, f.string("secret"));
  return d;
}

template <class T, class Parse>
Status parseDestination(const Fields& notifier, std::string_view key, Parse parse,
                        std::optional<T>& out) {
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> f, notifier.object(key));
  if (f) {
    OPSY_ASSIGN_OR_RETURN(T d, parse(*f));
    out = std::move(d);
  }
  return ok();
}

}  // namespace

Result<NotifierConfig> parseNotifierConfig(std::string_view json, std::string_view path) {
  NotifierConfig config;
  Result<json::Document> parsed = json::parse(json, path);
  if (!parsed) {
    return fieldError(path, "is not valid JSON");
  }
  const json::Document& doc = *parsed;
  if (doc.IsNull()) {
    return config;
  }
  if (!doc.IsObject()) {
    return fieldError(path, "must be an object");
  }
  Fields notifier(doc, std::string(path));
  OPSY_RETURN_IF_ERROR(parseDestination(notifier, "slack", parseSlack, config.slack));
  OPSY_RETURN_IF_ERROR(parseDestination(notifier, "sns", parseSns, config.sns));
  OPSY_RETURN_IF_ERROR(parseDestination(notifier, "ses", parseSes, config.ses));
  OPSY_RETURN_IF_ERROR(parseDestination(notifier, "discord", parseDiscord, config.discord));
  OPSY_RETURN_IF_ERROR(parseDestination(notifier, "webhook", parseWebhook, config.webhook));
  return config;
}

}  // namespace opsy::notify

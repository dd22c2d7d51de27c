#include "opsy/notify/config.h"

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <regex>

namespace opsy::notify {
namespace {

using rapidjson::Value;

// SES v2 takes at most 50 recipients per message.
constexpr size_t kMaxSesRecipients = 50;

tl::unexpected<Error> invalid(const std::string& path, std::string_view message) {
  return fail(ErrorCode::InvalidArgument, fmt::format("{}: {}", path, message));
}

// A view of one JSON object with the field path its errors name.
class Fields {
 public:
  Fields(const Value& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  std::string path(std::string_view key) const { return fmt::format("{}.{}", path_, key); }

  const Value* get(const char* key) const {
    auto it = obj_.FindMember(key);
    if (it == obj_.MemberEnd() || it->value.IsNull()) {
      return nullptr;
    }
    return &it->value;
  }

  Result<std::optional<Fields>> object(const char* key) const {
    const Value* v = get(key);
    if (v == nullptr) {
      return std::optional<Fields>();
    }
    if (!v->IsObject()) {
      return invalid(path(key), "must be an object");
    }
    return std::optional<Fields>(Fields(*v, path(key)));
  }

  Result<std::string> string(const char* key) const {
    const Value* v = get(key);
    if (v == nullptr) {
      return std::string();
    }
    if (!v->IsString()) {
      return invalid(path(key), "must be a string");
    }
    return std::string(v->GetString(), v->GetStringLength());
  }

  Result<std::string> requiredString(const char* key) const {
    OPSY_ASSIGN_OR_RETURN(std::string s, string(key));
    if (s.empty()) {
      return invalid(path(key), "is required");
    }
    return s;
  }

  // A required, non-empty list of non-empty strings.
  Result<std::vector<std::string>> requiredStrings(const char* key) const {
    const Value* v = get(key);
    if (v == nullptr) {
      return invalid(path(key), "is required");
    }
    if (!v->IsArray()) {
      return invalid(path(key), "must be a list of strings");
    }
    std::vector<std::string> out;
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
      const Value& item = (*v)[i];
      if (!item.IsString() || item.GetStringLength() == 0) {
        return invalid(fmt::format("{}[{}]", path(key), i), "must be a non-empty string");
      }
      out.emplace_back(item.GetString(), item.GetStringLength());
    }
    if (out.empty()) {
      return invalid(path(key), "needs at least one entry");
    }
    return out;
  }

 private:
  const Value& obj_;
  std::string path_;
};

// An address as SES takes it ("ops@example.com" or "Ops <ops@example.com>"); a line break would
// let a value add mail headers, so none is accepted.
Status checkAddress(const std::string& path, const std::string& address) {
  if (address.find_first_of("\r\n") != std::string::npos) {
    return invalid(path, "must not contain a line break");
  }
  size_t at = address.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == address.size()) {
    return invalid(path, fmt::format("\"{}\" is not an e-mail address", address));
  }
  return ok();
}

Result<SlackDestination> parseSlack(const Fields& f) {
  SlackDestination d;
  OPSY_ASSIGN_OR_RETURN(d.channel_ids, f.requiredStrings("channelIDs"));
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
    return invalid(f.path("topicArn"), fmt::format("\"{}\" is not an SNS topic ARN "
                                                   "(arn:aws:sns:<region>:<account-id>:<topic>)",
                                                   d.topic_arn));
  }
  if (m[4].matched) {
    return invalid(f.path("topicArn"),
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
  OPSY_ASSIGN_OR_RETURN(d.to, f.requiredStrings("to"));
  if (d.to.size() > kMaxSesRecipients) {
    return invalid(f.path("to"), fmt::format("SES takes at most {} recipients, got {}",
                                             kMaxSesRecipients, d.to.size()));
  }
  for (size_t i = 0; i < d.to.size(); ++i) {
    OPSY_RETURN_IF_ERROR(checkAddress(fmt::format("{}[{}]", f.path("to"), i), d.to[i]));
  }
  OPSY_ASSIGN_OR_RETURN(d.region, f.string("region"));
  static const std::regex kRegion("[a-z]{2}(-[a-z]+)+-[0-9]+");
  if (!d.region.empty() && !std::regex_match(d.region, kRegion)) {
    return invalid(f.path("region"), fmt::format("\"{}\" is not an AWS region", d.region));
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
    return invalid(f.path("url"), "must be an http:// or https:// URL with a host");
  }
  OPSY_ASSIGN_OR_RETURN(d.secret, f.string("secret"));
  return d;
}

template <class T, class Parse>
Status parseDestination(const Fields& notifier, const char* key, Parse parse,
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
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return invalid(std::string(path), "is not valid JSON");
  }
  if (doc.IsNull()) {
    return config;
  }
  if (!doc.IsObject()) {
    return invalid(std::string(path), "must be an object");
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

#include "opsy/notify/slack.h"

#include <fmt/format.h>

#include "opsy/http/retry.h"
#include "opsy/json/json.h"

namespace opsy::notify {
namespace {

using json::Writer;

// Slack's mrkdwn treats &, < and > as control characters.
std::string escapeMrkdwn(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string_view emoji(Severity s) {
  switch (s) {
    case Severity::Info: return ":information_source:";
    case Severity::Success: return ":white_check_mark:";
    case Severity::Warning: return ":warning:";
    case Severity::Error: return ":x:";
  }
  return "";
}

void text(Writer& w, std::string_view type, const std::string& value) {
  w.StartObject();
  json::writeString(w, "type", type);
  json::writeString(w, "text", value);
  w.EndObject();
}

class SlackSender : public Sender {
 public:
  explicit SlackSender(SlackOptions options) : options_(std::move(options)) {}

  std::string name() const override { return "slack"; }

  Status send(const Notification& n) override {
    OPSY_ASSIGN_OR_RETURN(std::string token, options_.token());
    for (const std::string& channel : options_.channels) {
      OPSY_RETURN_IF_ERROR(post(token, channel, n));
    }
    return ok();
  }

 private:
  Status post(const std::string& token, const std::string& channel, const Notification& n) {
    http::Request req;
    req.method = "POST";
    req.url = options_.api_url + "/chat.postMessage";
    req.headers = {{"Authorization", "Bearer " + token},
                   {"Content-Type", "application/json; charset=utf-8"}};
    req.body = slackMessageJson(n, channel);
    OPSY_ASSIGN_OR_RETURN(http::Response resp, options_.transport->send(req));
    if (resp.status == 429) {
      Error e(ErrorCode::Throttled, "slack rate limited chat.postMessage");
      e.http_status = 429;
      e.provider_code = "ratelimited";
      if (auto after = resp.header("Retry-After")) {
        e.retry_after = http::parseRetryAfterSeconds(*after);
      }
      return fail(std::move(e));
    }
    if (resp.status >= 500) {
      return fail(Error(ErrorCode::Unavailable, fmt::format("slack answered HTTP {}", resp.status))
                      .withHttpStatus(resp.status));
    }
    Result<json::Document> doc = json::parseObject(resp.body, "slack reply");
    std::optional<bool> ok_field = doc ? json::optBool(*doc, "ok") : std::nullopt;
    if (!ok_field.has_value()) {
      return fail(Error(ErrorCode::Internal,
                        fmt::format("slack answered HTTP {} without an ok field", resp.status))
                      .withHttpStatus(resp.status));
    }
    if (*ok_field) {
      return ok();
    }
    std::string code = json::stringOr(*doc, "error", "unknown_error");
    ErrorCode canonical = ErrorCode::FailedPrecondition;
    if (code == "ratelimited") {
      canonical = ErrorCode::Throttled;
    } else if (code == "invalid_auth" || code == "not_authed" || code == "token_revoked" ||
               code == "account_inactive") {
      canonical = ErrorCode::Unauthenticated;
    } else if (code == "internal_error" || code == "service_unavailable" || code == "fatal_error" ||
               code == "request_timeout") {
      canonical = ErrorCode::Unavailable;
    }
    return fail(
        Error(canonical, fmt::format("slack refused the message for channel {}: {}", channel, code))
            .withHttpStatus(resp.status)
            .withProviderCode(code));
  }

  SlackOptions options_;
};

}  // namespace

std::string slackMessageJson(const Notification& n, const std::string& channel) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  std::string fallback = fmt::format("{} {}: {}", n.kind, n.object, n.title);
  if (!n.message.empty()) {
    fallback += " - " + n.message;
  }
  w.StartObject();
  json::writeString(w, "channel", channel);
  json::writeString(w, "text", fallback);
  w.Key("unfurl_links");
  w.Bool(false);
  w.Key("blocks");
  w.StartArray();
  // Header: plain text, at most 150 characters.
  w.StartObject();
  w.Key("type");
  w.String("header");
  w.Key("text");
  text(w, "plain_text", n.title.substr(0, 150));
  w.EndObject();
  // Context: which resource.
  w.StartObject();
  w.Key("type");
  w.String("context");
  w.Key("elements");
  w.StartArray();
  text(w, "mrkdwn",
       fmt::format("{} *{}:* `{}`", emoji(n.severity), escapeMrkdwn(n.kind),
                   escapeMrkdwn(n.object)));
  w.EndArray();
  w.EndObject();
  // Fields: state first, then the caller's (Slack allows at most 10 per section).
  w.StartObject();
  w.Key("type");
  w.String("section");
  w.Key("fields");
  w.StartArray();
  int count = 0;
  if (!n.state.empty()) {
    text(w, "mrkdwn", fmt::format("*State:*\n{}", escapeMrkdwn(n.state)));
    ++count;
  }
  for (const auto& [k, v] : n.fields) {
    if (count++ == 10) {
      break;
    }
    text(w, "mrkdwn", fmt::format("*{}:*\n{}", escapeMrkdwn(k), v.empty() ? "-" : escapeMrkdwn(v)));
  }
  w.EndArray();
  w.EndObject();
  if (!n.message.empty()) {
    w.StartObject();
    w.Key("type");
    w.String("section");
    w.Key("text");
    text(w, "mrkdwn", escapeMrkdwn(n.message).substr(0, 3000));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

Result<SenderPtr> makeSlackSender(SlackOptions options) {
  if (!options.transport) {
    return fail(ErrorCode::InvalidArgument, "slack: no HTTP transport");
  }
  if (options.channels.empty()) {
    return fail(ErrorCode::InvalidArgument, "notifier.slack.channelIDs: at least one channel");
  }
  if (!options.token) {
    return fail(ErrorCode::InvalidArgument, "slack: no token source");
  }
  return SenderPtr(std::make_unique<SlackSender>(std::move(options)));
}

}  // namespace opsy::notify

#include "opsy/notify/discord.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "notify/http_reply.h"
#include "opsy/core/strings.h"
#include "opsy/core/time_format.h"
#include "opsy/http/retry.h"
#include "opsy/json/json.h"

namespace opsy::notify {
namespace {

// Discord's limits, counted in characters; fitText counts UTF-16 units, which is never fewer.
constexpr size_t kContentMax = 2000;
constexpr size_t kTitleMax = 256;
constexpr size_t kDescriptionMax = 4096;
constexpr size_t kFieldsMax = 25;
constexpr size_t kFieldNameMax = 256;
constexpr size_t kFieldValueMax = 1024;
// Title, description, field names and values of one embed together.
constexpr size_t kEmbedTotalMax = 6000;
constexpr size_t kUsernameMax = 80;

int color(Severity s) {
  switch (s) {
    case Severity::Success: return 0x2ECC71;  // green
    case Severity::Warning: return 0xF1A20F;  // amber
    case Severity::Error: return 0xE74C3C;    // red
    case Severity::Info: return 0x5865F2;     // blurple
  }
  return 0x95A5A6;  // grey
}

// Discord ignores text made only of whitespace and then rejects the empty field.
std::string orDash(std::string_view s) {
  return trimSpace(s).empty() ? std::string("-") : std::string(s);
}

std::string messageJson(const Notification& n, std::string_view username) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  if (!username.empty()) {
    json::writeString(w, "username", fitText(username, kUsernameMax).text);
  }
  std::string line = fmt::format("{} {}: {}", n.kind, n.object, n.title);
  json::writeString(w, "content", fitText(trimSpace(line), kContentMax).text);
  w.Key("embeds");
  w.StartArray();
  w.StartObject();
  size_t budget = kEmbedTotalMax;
  if (!trimSpace(n.title).empty()) {
    FittedText title = fitText(n.title, kTitleMax);
    budget -= title.units;
    json::writeString(w, "title", title.text);
  }
  if (!trimSpace(n.message).empty()) {
    FittedText description = fitText(n.message, kDescriptionMax);
    budget -= description.units;
    json::writeString(w, "description", description.text);
  }
  w.Key("color");
  w.Int(color(n.severity));
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  if (!n.state.empty()) {
    fields.emplace_back("State", n.state);
  }
  for (const auto& [name, value] : n.fields) {
    fields.emplace_back(name, value);
  }
  w.Key("fields");
  w.StartArray();
  size_t count = 0;
  for (const auto& [raw_name, raw_value] : fields) {
    if (count == kFieldsMax) {
      break;
    }
    FittedText name = fitText(orDash(raw_name), kFieldNameMax);
    // Room for the name and at least one character of value, or the embed is full.
    if (name.units + 1 > budget) {
      break;
    }
    FittedText value = fitText(orDash(raw_value), std::min(kFieldValueMax, budget - name.units));
    budget -= name.units + value.units;
    w.StartObject();
    json::writeString(w, "name", name.text);
    json::writeString(w, "value", value.text);
    w.Key("inline");
    w.Bool(true);
    w.EndObject();
    ++count;
  }
  w.EndArray();
  if (n.time) {
    json::writeString(w, "timestamp", formatRfc3339(*n.time));
  }
  w.EndObject();
  w.EndArray();
  // No @everyone, @here, role or user pings, whatever the text says.
  w.Key("allowed_mentions");
  w.StartObject();
  w.Key("parse");
  w.StartArray();
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

// Execute Webhook answers only with wait=true whether the message was accepted (200 and the
// message) rather than queued (204).
std::string withWait(std::string_view url) {
  std::string out(url.substr(0, url.find('#')));
  size_t q = out.find('?');
  if (q == std::string::npos) {
    return out + "?wait=true";
  }
  if (q + 1 == out.size() || out.back() == '&') {
    return out + "wait=true";
  }
  return out + "&wait=true";
}

// Discord's error body: {"message": "Unknown Webhook", "code": 10015}; `retry_after` on 429.
struct DiscordError {
  std::string message;
  std::string code;
  std::optional<std::chrono::milliseconds> retry_after;
};

DiscordError parseError(const std::string& body) {
  DiscordError out;
  Result<json::Document> doc = json::parseObject(body, "discord reply");
  if (!doc) {
    return out;
  }
  if (auto message = json::optString(*doc, "message")) {
    out.message = fitText(*message, 200).text;
  }
  if (auto code = json::optInt64(*doc, "code")) {
    out.code = std::to_string(*code);
  }
  if (auto after = json::optNumber(*doc, "retry_after")) {
    out.retry_after = http::parseRetryAfterSeconds(fmt::format("{}", *after));
  }
  return out;
}

Status mapReply(const http::Response& resp) {
  if (resp.status >= 200 && resp.status < 300) {
    return ok();
  }
  DiscordError detail = parseError(resp.body);
  std::string what = fmt::format("discord webhook answered HTTP {}", resp.status);
  if (!detail.message.empty()) {
    what += ": " + detail.message;
  }
  if (!detail.code.empty()) {
    what += fmt::format(" (code {})", detail.code);
  }
  ErrorCode code = ErrorCode::FailedPrecondition;
  switch (resp.status) {
    case 429: code = ErrorCode::Throttled; break;
    case 401: code = ErrorCode::Unauthenticated; break;
    case 403: code = ErrorCode::PermissionDenied; break;
    case 404: code = ErrorCode::NotFound; break;
    case 400:
    case 413: code = ErrorCode::InvalidArgument; break;
    case 408: code = ErrorCode::Unavailable; break;
    default:
      if (resp.status >= 500) {
        code = ErrorCode::Unavailable;
      }
  }
  Error e = Error(code, what).withHttpStatus(resp.status).withProviderCode(detail.code);
  if (resp.status == 429) {
    std::optional<std::chrono::milliseconds> after;
    if (auto header = resp.header("Retry-After")) {
      after = http::parseRetryAfterSeconds(*header);
    }
    e.retry_after = after ? after : detail.retry_after;
  }
  return fail(std::move(e));
}

class DiscordSender : public Sender {
 public:
  explicit DiscordSender(DiscordOptions options) : options_(std::move(options)) {}

  std::string name() const override { return "discord"; }

  Status send(const Notification& n) override {
    OPSY_ASSIGN_OR_RETURN(std::string secret_url, options_.webhook_url());
    std::string_view url = trimSpace(secret_url);
    if (!isHttpUrl(url)) {
      return fail(ErrorCode::InvalidArgument, "discord webhook url is not an http(s) URL");
    }
    if (options_.refused) {
      if (auto why = options_.refused(url)) {
        return fail(ErrorCode::PermissionDenied, *why);  // permanent: not retried
      }
    }
    registerUrlSecrets(url);
    http::Request req;
    req.method = "POST";
    req.url = withWait(url);
    req.headers = {{"Content-Type", "application/json"}, {"User-Agent", "opsy-ami-operator"}};
    req.body = messageJson(n, options_.username);
    if (options_.connect_address) {
      OPSY_ASSIGN_OR_RETURN(req.connect_address, options_.connect_address(url));
    }
    Result<http::Response> resp = options_.transport->send(req);
    if (!resp) {
      return fail(withoutUrl(std::move(resp.error()), req.url, "discord webhook"));
    }
    return mapReply(*resp);
  }

 private:
  DiscordOptions options_;
};

}  // namespace

std::string discordMessageJson(const Notification& n) {
  return messageJson(n, "");
}

Result<SenderPtr> makeDiscordSender(DiscordOptions options) {
  if (!options.transport) {
    return fail(ErrorCode::InvalidArgument, "discord: no HTTP transport");
  }
  if (!options.webhook_url) {
    return fail(ErrorCode::InvalidArgument, "discord: no webhook url source");
  }
  std::string lower;
  for (char c : options.username) {
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (fitText(options.username, kUsernameMax).text != options.username ||
      lower.find("discord") != std::string::npos || lower.find("clyde") != std::string::npos) {
    return fail(ErrorCode::InvalidArgument,
                "discord username: at most 80 characters, without \"discord\" or \"clyde\"");
  }
  return SenderPtr(std::make_unique<DiscordSender>(std::move(options)));
}

}  // namespace opsy::notify

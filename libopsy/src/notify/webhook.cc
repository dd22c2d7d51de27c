#include "opsy/notify/webhook.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "notify/http_reply.h"
#include "opsy/aws/sigv4.h"
#include "opsy/core/log.h"
#include "opsy/core/time_format.h"
#include "opsy/http/retry.h"
#include "opsy/json/json.h"
#include "opsy/notify/format.h"

namespace opsy::notify {
namespace {

constexpr std::string_view kUserAgent = "opsy-ami-operator";

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) {
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

// Headers the sender owns, or that the transport derives from the request.
bool reservedHeader(std::string_view name) {
  static const std::set<std::string, std::less<>> kReserved = {"content-type",
                                                               "content-length",
                                                               "host",
                                                               "user-agent",
                                                               "x-opsy-delivery",
                                                               "x-opsy-timestamp",
                                                               "x-opsy-signature-256",
                                                               "transfer-encoding",
                                                               "connection",
                                                               "expect"};
  return kReserved.contains(lower(name));
}

// RFC 9110 token characters.
bool validHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool validHeaderValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(),
                      [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

Status mapReply(const http::Response& resp) {
  if (resp.status >= 200 && resp.status < 300) {
    return ok();
  }
  std::string what = fmt::format("webhook receiver answered HTTP {}", resp.status);
  ErrorCode code = ErrorCode::FailedPrecondition;
  if (resp.status == 429) {
    code = ErrorCode::Throttled;
  } else if (resp.status == 408 || resp.status >= 500) {
    code = ErrorCode::Unavailable;
  } else if (resp.status == 401) {
    code = ErrorCode::Unauthenticated;
  } else if (resp.status == 403) {
    code = ErrorCode::PermissionDenied;
  } else if (resp.status == 404) {
    code = ErrorCode::NotFound;
  } else if (resp.status >= 300 && resp.status < 400) {
    what += " (redirects are not followed)";
  }
  Error e = Error(code, what).withHttpStatus(resp.status);
  if (resp.status == 429) {
    if (auto header = resp.header("Retry-After")) {
      e.retry_after = http::parseRetryAfterSeconds(*header);
    }
  }
  return fail(std::move(e));
}

class WebhookSender : public Sender {
 public:
  explicit WebhookSender(WebhookOptions options) : options_(std::move(options)) {}

  std::string name() const override { return "webhook"; }

  Status send(const Notification& n) override {
    std::optional<std::string> key;
    if (options_.signing_key) {
      OPSY_ASSIGN_OR_RETURN(key, options_.signing_key());
      if (key->empty()) {
        return fail(ErrorCode::FailedPrecondition, "webhook signing key is empty");
      }
      log::registerSecret(*key);
    }
    Notification dated = n;
    if (!dated.time) {
      dated.time = (options_.clock != nullptr ? *options_.clock : realClock()).now();
    }
    std::string timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(dated.time->time_since_epoch()).count());
    if (options_.refused) {
      if (auto why = options_.refused(options_.url)) {
        return fail(ErrorCode::PermissionDenied, *why);  // permanent: not retried
      }
    }
    http::Request req;
    req.method = "POST";
    req.url = options_.url;
    req.body = webhookPayloadJson(dated);
    req.headers = {{"Content-Type", "application/json"},
                   {"User-Agent", std::string(kUserAgent)},
                   {"X-Opsy-Timestamp", timestamp}};
    if (!n.id.empty()) {
      req.headers.emplace_back("X-Opsy-Delivery", n.id);
    }
    if (key) {
      req.headers.emplace_back("X-Opsy-Signature-256", webhookSignature(*key, timestamp, req.body));
    }
    for (const auto& [name, value] : options_.headers) {
      req.headers.emplace_back(name, value);
    }
    if (options_.connect_address) {
      OPSY_ASSIGN_OR_RETURN(req.connect_address, options_.connect_address(options_.url));
    }
    Result<http::Response> resp = options_.transport->send(req);
    if (!resp) {
      return fail(withoutUrl(std::move(resp.error()), req.url, "webhook"));
    }
    return mapReply(*resp);
  }

 private:
  WebhookOptions options_;
};

}  // namespace

std::string webhookPayloadJson(const Notification& n) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  json::writeString(w, "id", n.id);
  json::writeString(w, "time", n.time ? formatRfc3339(*n.time) : std::string());
  json::writeString(w, "title", n.title);
  json::writeString(w, "kind", n.kind);
  json::writeString(w, "object", n.object);
  json::writeString(w, "state", n.state);
  json::writeString(w, "severity", toString(n.severity));
  json::writeString(w, "message", n.message);
  w.Key("fields");
  w.StartObject();
  std::set<std::string_view> seen;
  for (const auto& [name, value] : n.fields) {
    if (seen.insert(name).second) {
      json::writeString(w, name, value);
    }
  }
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::string webhookSignature(std::string_view key, std::string_view timestamp,
                             std::string_view body) {
  std::string signed_text;
  signed_text.reserve(timestamp.size() + 1 + body.size());
  signed_text.append(timestamp).append(".").append(body);
  std::string mac = aws::hmacSha256(key, signed_text);
  std::string out = "sha256=";
  for (unsigned char c : mac) {
    out += fmt::format("{:02x}", c);
  }
  return out;
}

Result<SenderPtr> makeWebhookSender(WebhookOptions options) {
  if (!options.transport) {
    return fail(ErrorCode::InvalidArgument, "webhook: no HTTP transport");
  }
  if (!isHttpUrl(options.url)) {
    return fail(ErrorCode::InvalidArgument,
                "webhook url: must be an absolute http(s) URL with a host");
  }
  for (const auto& [name, value] : options.headers) {
    if (!validHeaderName(name) || !validHeaderValue(value)) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("webhook headers: invalid header name or value for \"{}\"",
                              fitText(name, 64).text));
    }
    if (reservedHeader(name)) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("webhook headers: {} is set by the sender", name));
    }
  }
  registerUrlSecrets(options.url);
  return SenderPtr(std::make_unique<WebhookSender>(std::move(options)));
}

}  // namespace opsy::notify

#include "opsy/notify/webhook.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"
#include "opsy/http/curl_transport.h"
#include "support/loopback_server.h"
#include "unit/notify/recording_receiver.h"

namespace opsy::notify {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kKey = "whsec-test-signing-key";
constexpr const char* kUrlToken = "T0ken-In-The-Path-0123456789abcdef";

http::TransportPtr curl() {
  auto t = http::makeCurlTransport(
      {.connect_timeout = std::chrono::seconds(5), .total_timeout = std::chrono::seconds(10)});
  EXPECT_TRUE(t.has_value());
  return *t;
}

SenderPtr webhook(const std::string& url, bool signed_ = true, Clock* clock = nullptr) {
  WebhookOptions options{.transport = curl(), .url = url, .clock = clock};
  if (signed_) {
    options.signing_key = [] { return Result<std::string>(kKey); };
  }
  auto sender = makeWebhookSender(std::move(options));
  EXPECT_TRUE(sender.has_value()) << sender.error().toString();
  return std::move(*sender);
}

Notification adopted() {
  return Notification{
      .title = "Image adopted",
      .kind = "PackerBuilder",
      .object = "ci/base-al2023",
      .state = "Ready",
      .severity = Severity::Success,
      .fields = {{"Built AMI", "ami-0built"}, {"Base AMI", "ami-0base"}, {"Attempt", "2"}},
      .message = "ami-0built is \"active\"",
      .id = "0123456789abcdef0123456789abcdef",
      .time = parseRfc3339("2026-01-01T00:00:00Z").value()};
}

// HMAC-SHA256 straight from OpenSSL, independent of the code under test.
std::string opensslSignature(const std::string& key, const std::string& text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  std::string hex = "sha256=";
  for (unsigned int i = 0; i < len; ++i) {
    hex += fmt::format("{:02x}", mac[i]);
  }
  return hex;
}

// The receiver gets the documented body: every key, severity as a word, fields as an object in
// the sender's order.
TEST(WebhookSender, PostsTheDocumentedPayload) {
  RecordingReceiver receiver({reply(200)});
  ASSERT_TRUE(webhook(receiver.url("/hooks/opsy"))->send(adopted()).has_value());
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/hooks/opsy");
  rapidjson::Document d;
  d.Parse(got[0].body.c_str());
  ASSERT_FALSE(d.HasParseError());
  std::vector<std::string> keys;
  for (const auto& m : d.GetObject()) {
    keys.emplace_back(m.name.GetString());
  }
  EXPECT_THAT(keys, ElementsAre("id", "time", "title", "kind", "object", "state", "severity",
                                "message", "fields"));
  EXPECT_STREQ(d["id"].GetString(), "0123456789abcdef0123456789abcdef");
  EXPECT_STREQ(d["time"].GetString(), "2026-01-01T00:00:00Z");
  EXPECT_STREQ(d["title"].GetString(), "Image adopted");
  EXPECT_STREQ(d["kind"].GetString(), "PackerBuilder");
  EXPECT_STREQ(d["object"].GetString(), "ci/base-al2023");
  EXPECT_STREQ(d["state"].GetString(), "Ready");
  EXPECT_STREQ(d["severity"].GetString(), "success");
  EXPECT_STREQ(d["message"].GetString(), "ami-0built is \"active\"");
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& m : d["fields"].GetObject()) {
    fields.emplace_back(m.name.GetString(), m.value.GetString());
  }
  EXPECT_EQ(fields, adopted().fields);
}

// Severity is one of four words.
TEST(WebhookPayload, SeverityWords) {
  std::vector<std::string> words;
  for (Severity s : {Severity::Info, Severity::Success, Severity::Warning, Severity::Error}) {
    Notification n = adopted();
    n.severity = s;
    rapidjson::Document d;
    d.Parse(webhookPayloadJson(n).c_str());
    words.emplace_back(d["severity"].GetString());
  }
  EXPECT_THAT(words, ElementsAre("info", "success", "warning", "error"));
}

// Content type, user agent, the delivery id and the Unix timestamp of the notification's time.
TEST(WebhookSender, SendsDeliveryHeaders) {
  RecordingReceiver receiver({reply(204)});
  ASSERT_TRUE(webhook(receiver.url("/h"))->send(adopted()).has_value());
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header("Content-Type"), "application/json");
  EXPECT_EQ(got[0].header("User-Agent"), "opsy-ami-operator");
  EXPECT_EQ(got[0].header("X-Opsy-Delivery"), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(got[0].header("X-Opsy-Timestamp"), "1767225600");
}

// The signature is HMAC-SHA256 over "<timestamp>.<body>" as received: it verifies with the
// configured key and fails with any other key or another timestamp.
TEST(WebhookSender, SignatureVerifiesOnlyWithTheKey) {
  RecordingReceiver receiver({reply(200)});
  ASSERT_TRUE(webhook(receiver.url("/h"))->send(adopted()).has_value());
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  std::string signature = got[0].header("X-Opsy-Signature-256");
  std::string timestamp = got[0].header("X-Opsy-Timestamp");
  EXPECT_EQ(signature, opensslSignature(kKey, timestamp + "." + got[0].body));
  EXPECT_NE(signature, opensslSignature("wrong-key", timestamp + "." + got[0].body));
  EXPECT_NE(signature, opensslSignature(kKey, "1767225601." + got[0].body));
  EXPECT_EQ(webhookSignature(kKey, timestamp, got[0].body), signature);
}

// Without a signing key there is no signature header at all.
TEST(WebhookSender, NoKeyNoSignature) {
  RecordingReceiver receiver({reply(200)});
  ASSERT_TRUE(webhook(receiver.url("/h"), /*signed_=*/false)->send(adopted()).has_value());
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].hasHeader("X-Opsy-Signature-256"));
  EXPECT_TRUE(got[0].hasHeader("X-Opsy-Timestamp"));
}

// The key is read at every send; when it cannot be read nothing is sent unsigned.
TEST(WebhookSender, UnreadableKeySendsNothing) {
  RecordingReceiver receiver({reply(200)});
  auto sender =
      makeWebhookSender(
          {.transport = curl(),
           .url = receiver.url("/h"),
           .signing_key =
               [] { return Result<std::string>(fail(ErrorCode::NotFound, "secret has no key")); }})
          .value();
  auto s = sender->send(adopted());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::NotFound);
  EXPECT_TRUE(receiver.received().empty());
}

// A notification without a time is dated by the injected clock, in the header and the body.
TEST(WebhookSender, UndatedNotificationUsesTheClock) {
  RecordingReceiver receiver({reply(200)});
  FakeClock clock(parseRfc3339("2026-03-04T05:06:07Z").value());
  Notification n = adopted();
  n.time.reset();
  ASSERT_TRUE(webhook(receiver.url("/h"), true, &clock)->send(n).has_value());
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header("X-Opsy-Timestamp"), "1772600767");
  rapidjson::Document d;
  d.Parse(got[0].body.c_str());
  EXPECT_STREQ(d["time"].GetString(), "2026-03-04T05:06:07Z");
}

// Caller headers go out as given.
TEST(WebhookSender, SendsExtraHeaders) {
  RecordingReceiver receiver({reply(200)});
  auto sender =
      makeWebhookSender(
          {.transport = curl(), .url = receiver.url("/h"), .headers = {{"X-Team", "platform"}}})
          .value();
  ASSERT_TRUE(sender->send(adopted()).has_value());
  EXPECT_EQ(receiver.received().at(0).header("X-Team"), "platform");
}

struct StatusCase {
  int status;
  ErrorCode code;
  bool retryable;
};

class WebhookStatus : public ::testing::TestWithParam<StatusCase> {};

// Any 2xx is delivered; 408 and 5xx are Unavailable (retried); other statuses are permanent
// errors naming the status, and the URL never appears in them.
TEST_P(WebhookStatus, MapsReceiverStatus) {
  const StatusCase& c = GetParam();
  RecordingReceiver receiver({reply(c.status)});
  auto s = webhook(receiver.url(std::string("/hooks/") + kUrlToken))->send(adopted());
  if (c.status < 300) {
    EXPECT_TRUE(s.has_value());
    return;
  }
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, c.code);
  EXPECT_EQ(s.error().http_status, c.status);
  EXPECT_EQ(isRetryable(s.error()), c.retryable);
  EXPECT_THAT(s.error().message, HasSubstr(std::to_string(c.status)));
  EXPECT_THAT(s.error().toString(), Not(HasSubstr(kUrlToken)));
}

INSTANTIATE_TEST_SUITE_P(Statuses, WebhookStatus,
                         ::testing::Values(StatusCase{200, {}, false}, StatusCase{202, {}, false},
                                           StatusCase{204, {}, false},
                                           StatusCase{408, ErrorCode::Unavailable, true},
                                           StatusCase{500, ErrorCode::Unavailable, true},
                                           StatusCase{503, ErrorCode::Unavailable, true},
                                           StatusCase{400, ErrorCode::FailedPrecondition, false},
                                           StatusCase{401, ErrorCode::Unauthenticated, false},
                                           StatusCase{404, ErrorCode::NotFound, false},
                                           StatusCase{410, ErrorCode::FailedPrecondition, false},
                                           StatusCase{301, ErrorCode::FailedPrecondition, false}),
                         [](const auto& p) { return std::to_string(p.param.status); });

// 429 is Throttled with the Retry-After seconds; an HTTP-date Retry-After is ignored.
TEST(WebhookSender, RateLimitIsThrottledWithRetryAfter) {
  RecordingReceiver seconds({reply(429, "", {{"Retry-After", "7"}})});
  auto s = webhook(seconds.url("/h"))->send(adopted());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Throttled);
  EXPECT_EQ(s.error().retry_after, std::chrono::milliseconds(7000));

  RecordingReceiver date({reply(429, "", {{"Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT"}})});
  s = webhook(date.url("/h"))->send(adopted());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Throttled);
  EXPECT_FALSE(s.error().retry_after.has_value());
}

// When nothing answers, the transport error names neither the URL nor its path.
TEST(WebhookSender, TransportErrorHidesTheUrl) {
  std::string url;
  {
    RecordingReceiver gone;
    url = gone.url(std::string("/hooks/") + kUrlToken);
  }
  auto s = webhook(url)->send(adopted());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Unavailable);
  EXPECT_THAT(s.error().message, ::testing::StartsWith("webhook: "));
  EXPECT_THAT(s.error().toString(), Not(HasSubstr(kUrlToken)));
}

// Bad options are refused when the sender is made, naming the option and not the URL.
TEST(WebhookSender, RejectsBadOptions) {
  auto bad_url = [](std::string url) {
    auto made = makeWebhookSender({.transport = curl(), .url = url});
    return made.has_value() ? std::string("accepted") : made.error().message;
  };
  for (const char* url : {"", "ftp://example.com/h", "https://", "example.com/h",
                          "https://exa mple.com/h", "https:///path"}) {
    std::string message = bad_url(url);
    EXPECT_THAT(message, HasSubstr("url")) << url;
    if (*url != '\0') {
      EXPECT_THAT(message, Not(HasSubstr(url))) << url;
    }
  }
  EXPECT_EQ(bad_url("https://hooks.example.com:8443/opsy?x=1"), "accepted");
  EXPECT_EQ(bad_url("HTTP://127.0.0.1/h"), "accepted");
  for (auto headers :
       std::vector<std::map<std::string, std::string>>{{{"X-Opsy-Signature-256", "forged"}},
                                                       {{"content-type", "text/plain"}},
                                                       {{"X-Bad", "a\r\nInjected: yes"}},
                                                       {{"Bad Name", "x"}}}) {
    auto made = makeWebhookSender(
        {.transport = curl(), .url = "https://hooks.example.com/h", .headers = headers});
    ASSERT_FALSE(made.has_value()) << headers.begin()->first;
    EXPECT_THAT(made.error().message, HasSubstr("headers"));
  }
  auto made = makeWebhookSender({.transport = curl(), .url = "https://hooks.example.com/h"});
  ASSERT_TRUE(made.has_value());
  EXPECT_EQ((*made)->name(), "webhook");
}

// Through the async notifier, a 503 then 200 receiver sees two attempts with the same delivery
// id, timestamp and body, and the notification counts as sent.
TEST(WebhookAsync, RetryKeepsTheDeliveryId) {
  RecordingReceiver receiver({reply(503), reply(200)});
  FakeClock clock;
  AsyncNotifierOptions options;
  options.retry.random = [] { return 0.0; };
  {
    AsyncNotifier notifier(webhook(receiver.url("/h")), clock, options);
    Notification n = adopted();
    n.id.clear();
    n.time.reset();
    notifier.notify(n);
    notifier.flush();
    EXPECT_EQ(notifier.sent(), 1u);
    EXPECT_EQ(notifier.failed(), 0u);
  }
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].header("X-Opsy-Delivery").empty());
  EXPECT_EQ(got[0].header("X-Opsy-Delivery"), got[1].header("X-Opsy-Delivery"));
  EXPECT_EQ(got[0].header("X-Opsy-Timestamp"), got[1].header("X-Opsy-Timestamp"));
  EXPECT_EQ(got[0].body, got[1].body);
  EXPECT_EQ(got[1].header("X-Opsy-Signature-256"),
            opensslSignature(kKey, got[1].header("X-Opsy-Timestamp") + "." + got[1].body));
}

// A 404 is permanent: exactly one attempt, counted as failed.
TEST(WebhookAsync, NotFoundIsAttemptedOnce) {
  RecordingReceiver receiver({reply(404)});
  FakeClock clock;
  AsyncNotifierOptions options;
  options.retry.random = [] { return 0.0; };
  {
    AsyncNotifier notifier(webhook(receiver.url("/h")), clock, options);
    notifier.notify(adopted());
    notifier.flush();
    EXPECT_EQ(notifier.sent(), 0u);
    EXPECT_EQ(notifier.failed(), 1u);
  }
  EXPECT_EQ(receiver.received().size(), 1u);
}

}  // namespace
}  // namespace opsy::notify

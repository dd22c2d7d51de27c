#include "opsy/notify/discord.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <string>
#include <vector>

#include "opsy/core/fake_clock.h"
#include "opsy/core/log.h"
#include "opsy/core/time_format.h"
#include "opsy/http/curl_transport.h"
#include "support/loopback_server.h"
#include "unit/notify/recording_receiver.h"

namespace opsy::notify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kToken = "Zx9-secretWebhookToken_abcdefghijklmnopqrstuvwxyz0123456789";

std::string hookPath() {
  return std::string("/api/webhooks/1234567890/") + kToken;
}

http::TransportPtr curl() {
  auto t = http::makeCurlTransport(
      {.connect_timeout = std::chrono::seconds(5), .total_timeout = std::chrono::seconds(10)});
  EXPECT_TRUE(t.has_value());
  return *t;
}

SenderPtr discord(const std::string& url, std::string username = "") {
  auto sender = makeDiscordSender({.transport = curl(),
                                   .webhook_url = [url] { return Result<std::string>(url); },
                                   .username = std::move(username)});
  EXPECT_TRUE(sender.has_value());
  return std::move(*sender);
}

Notification failed() {
  return Notification{.title = "Build failed",
                      .kind = "PackerBuilder",
                      .object = "ci/base-al2023",
                      .state = "Failed",
                      .severity = Severity::Error,
                      .fields = {{"Base AMI", "ami-0base"}, {"Step", ""}},
                      .message = "packer exited with status 1",
                      .id = "d1",
                      .time = parseRfc3339("2026-01-01T00:00:00Z").value()};
}

rapidjson::Document parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(body.c_str(), body.size());
  EXPECT_FALSE(d.HasParseError()) << rapidjson::GetParseError_En(d.GetParseError());
  return d;
}

// Characters as the strictest counter sees them: UTF-16 code units.
size_t utf16Units(std::string_view s) {
  size_t units = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) {
      units += c >= 0xF0 ? 2 : 1;
    }
  }
  return units;
}

// One POST to the webhook URL with wait=true, carrying the embed: title, message, severity
// colour, state then the caller's fields inline (empty value as "-"), the time, and no mentions.
TEST(DiscordSender, PostsOneEmbedWithWaitTrue) {
  RecordingReceiver receiver({reply(200, R"({"id":"1"})")});
  ASSERT_TRUE(discord(receiver.url(hookPath()), "opsy")->send(failed()).has_value());
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, hookPath());
  ASSERT_EQ(got[0].params.count("wait"), 1u);
  EXPECT_EQ(got[0].params.find("wait")->second, "true");
  EXPECT_EQ(got[0].header("Content-Type"), "application/json");
  auto d = parse(got[0].body);
  EXPECT_STREQ(d["username"].GetString(), "opsy");
  EXPECT_STREQ(d["content"].GetString(), "PackerBuilder ci/base-al2023: Build failed");
  ASSERT_EQ(d["embeds"].Size(), 1u);
  const auto& e = d["embeds"][0];
  EXPECT_STREQ(e["title"].GetString(), "Build failed");
  EXPECT_STREQ(e["description"].GetString(), "packer exited with status 1");
  EXPECT_EQ(e["color"].GetInt(), 0xE74C3C);
  EXPECT_STREQ(e["timestamp"].GetString(), "2026-01-01T00:00:00Z");
  const auto& fields = e["fields"];
  ASSERT_EQ(fields.Size(), 3u);
  EXPECT_STREQ(fields[0]["name"].GetString(), "State");
  EXPECT_STREQ(fields[0]["value"].GetString(), "Failed");
  EXPECT_STREQ(fields[1]["name"].GetString(), "Base AMI");
  EXPECT_STREQ(fields[1]["value"].GetString(), "ami-0base");
  EXPECT_STREQ(fields[2]["value"].GetString(), "-");
  EXPECT_TRUE(fields[2]["inline"].GetBool());
  ASSERT_TRUE(d.HasMember("allowed_mentions"));
  ASSERT_TRUE(d["allowed_mentions"]["parse"].IsArray());
  EXPECT_EQ(d["allowed_mentions"]["parse"].Size(), 0u);
}

// Each severity has its own embed colour, and no time means no timestamp.
TEST(DiscordMessage, SeverityPicksColourAndTimeIsOptional) {
  std::vector<int> colours;
  for (Severity s : {Severity::Info, Severity::Success, Severity::Warning, Severity::Error}) {
    Notification n = failed();
    n.severity = s;
    n.time.reset();
    auto d = parse(discordMessageJson(n));
    EXPECT_FALSE(d["embeds"][0].HasMember("timestamp"));
    EXPECT_FALSE(d.HasMember("username"));
    colours.push_back(d["embeds"][0]["color"].GetInt());
  }
  EXPECT_EQ(colours, (std::vector<int>{0x5865F2, 0x2ECC71, 0xF1A20F, 0xE74C3C}));
}

// A URL that already has a query (a thread id) gets &wait=true, keeping its own parameter.
TEST(DiscordSender, AppendsWaitToAnExistingQuery) {
  RecordingReceiver receiver({reply(204)});
  ASSERT_TRUE(discord(receiver.url(hookPath() + "?thread_id=42"))->send(failed()).has_value());
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].params.find("thread_id")->second, "42");
  EXPECT_EQ(got[0].params.find("wait")->second, "true");
  EXPECT_EQ(got[0].params.size(), 2u);
}

// The URL is read at every send, so a rotated Secret is used without a restart; surrounding
// whitespace from the Secret does not break it.
TEST(DiscordSender, ReadsTheUrlAtEverySend) {
  RecordingReceiver receiver;
  int reads = 0;
  auto sender =
      makeDiscordSender({.transport = curl(),
                         .webhook_url =
                             [&] {
                               return Result<std::string>(
                                   receiver.url("/api/webhooks/" + std::to_string(++reads) + "/t") +
                                   "\n");
                             }})
          .value();
  ASSERT_TRUE(sender->send(failed()).has_value());
  ASSERT_TRUE(sender->send(failed()).has_value());
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].path, "/api/webhooks/1/t");
  EXPECT_EQ(got[1].path, "/api/webhooks/2/t");
}

struct ThrottleCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds want;
};

class DiscordThrottle : public ::testing::TestWithParam<ThrottleCase> {};

// 429 is Throttled with the wait Discord asked for: the Retry-After header when present,
// otherwise the body's retry_after (fractional seconds).
TEST_P(DiscordThrottle, RateLimitIsThrottledWithRetryAfter) {
  const ThrottleCase& c = GetParam();
  RecordingReceiver receiver({reply(429, c.body, c.headers)});
  auto s = discord(receiver.url(hookPath()))->send(failed());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Throttled);
  EXPECT_EQ(s.error().http_status, 429);
  ASSERT_TRUE(s.error().retry_after.has_value());
  EXPECT_EQ(*s.error().retry_after, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Sources, DiscordThrottle,
    ::testing::Values(
        ThrottleCase{
            "HeaderWins",
            {{"Retry-After", "3"}},
            R"({"message":"You are being rate limited.","retry_after":9.5,"global":false})",
            std::chrono::seconds(3)},
        ThrottleCase{
            "BodyOnly",
            {},
            R"({"message":"You are being rate limited.","retry_after":1.25,"global":false})",
            std::chrono::milliseconds(1250)}),
    [](const auto& p) { return p.param.name; });

struct StatusCase {
  int status;
  ErrorCode code;
  bool retryable;
};

class DiscordStatus : public ::testing::TestWithParam<StatusCase> {};

// Server errors are Unavailable (retried); a bad, revoked or deleted webhook is permanent, and
// no error message carries the URL or its token.
TEST_P(DiscordStatus, MapsStatusWithoutLeakingTheUrl) {
  const StatusCase& c = GetParam();
  RecordingReceiver receiver({reply(c.status, R"({"message":"Unknown Webhook","code":10015})")});
  auto s = discord(receiver.url(hookPath()))->send(failed());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, c.code);
  EXPECT_EQ(s.error().http_status, c.status);
  EXPECT_EQ(isRetryable(s.error()), c.retryable);
  EXPECT_THAT(s.error().toString(), HasSubstr(std::to_string(c.status)));
  EXPECT_THAT(s.error().toString(), Not(HasSubstr(kToken)));
  EXPECT_THAT(s.error().toString(), Not(HasSubstr("1234567890")));
}

INSTANTIATE_TEST_SUITE_P(Statuses, DiscordStatus,
                         ::testing::Values(StatusCase{500, ErrorCode::Unavailable, true},
                                           StatusCase{502, ErrorCode::Unavailable, true},
                                           StatusCase{503, ErrorCode::Unavailable, true},
                                           StatusCase{401, ErrorCode::Unauthenticated, false},
                                           StatusCase{403, ErrorCode::PermissionDenied, false},
                                           StatusCase{404, ErrorCode::NotFound, false},
                                           StatusCase{400, ErrorCode::InvalidArgument, false}),
                         [](const auto& p) { return std::to_string(p.param.status); });

// When nothing answers, the transport's error comes back without the URL, which holds the token.
TEST(DiscordSender, TransportErrorHidesTheUrl) {
  std::string url;
  {
    RecordingReceiver gone;
    url = gone.url(hookPath());
  }  // the port is closed now
  auto s = discord(url)->send(failed());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Unavailable);
  EXPECT_THAT(s.error().message, ::testing::StartsWith("discord webhook: "));
  EXPECT_THAT(s.error().toString(), Not(HasSubstr(kToken)));
  EXPECT_THAT(s.error().toString(), Not(HasSubstr("webhooks/")));
}

// A failed delivery, logged at trace level by the transport and the async notifier, never writes
// the webhook token.
TEST(DiscordSender, TokenNeverReachesTheLog) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  log::setup(log::Options{log::Format::Text, spdlog::level::trace});
  log::setSinkForTest(sink);
  std::string url;
  {
    RecordingReceiver gone;
    url = gone.url(hookPath());
  }
  {
    FakeClock clock;
    AsyncNotifierOptions options;
    options.retry.random = [] { return 0.0; };
    AsyncNotifier notifier(discord(url), clock, options);
    notifier.notify(failed());
    notifier.flush();
    EXPECT_EQ(notifier.failed(), 1u);
  }
  sink->flush();
  log::setSinkForTest(nullptr);
  log::setup(log::Options{});
  EXPECT_THAT(out.str(), HasSubstr("notification not delivered"));
  EXPECT_THAT(out.str(), Not(HasSubstr(kToken)));
}

// A URL that is not http(s) is refused before sending, without echoing it.
TEST(DiscordSender, MalformedUrlIsRefusedWithoutEchoingIt) {
  auto sender = makeDiscordSender({.transport = curl(),
                                   .webhook_url =
                                       [] {
                                         return Result<std::string>("discord.com/api/webhooks/1/" +
                                                                    std::string(kToken));
                                       }})
                    .value();
  auto s = sender->send(failed());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::InvalidArgument);
  EXPECT_THAT(s.error().message, Not(HasSubstr(kToken)));
}

// Huge and multi-byte inputs are cut to Discord's limits (content 2000, title 256, description
// 4096, 25 fields, name 256, value 1024, 6000 per embed) as valid UTF-8, so Discord accepts them.
TEST(DiscordMessage, TruncatesHugeInputsToDiscordLimits) {
  std::string rocket = "\xF0\x9F\x9A\x80";  // U+1F680, two UTF-16 units
  auto big = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      s += i % 3 == 0 ? rocket : i % 3 == 1 ? std::string("\xC3\xA9") : std::string("x");
    }
    return s;
  };
  Notification n = failed();
  n.title = big(3000);
  n.kind = big(1500);
  n.object = big(1500);
  n.message = big(20000);
  n.fields.clear();
  for (int i = 0; i < 40; ++i) {
    n.fields.emplace_back(big(600), big(3000));
  }
  RecordingReceiver receiver({reply(204)});
  ASSERT_TRUE(discord(receiver.url(hookPath()))->send(n).has_value());
  ASSERT_EQ(receiver.received().size(), 1u);
  auto d = parse(receiver.received()[0].body);
  EXPECT_LE(utf16Units(d["content"].GetString()), 2000u);
  const auto& e = d["embeds"][0];
  size_t total = utf16Units(e["title"].GetString()) + utf16Units(e["description"].GetString());
  EXPECT_LE(utf16Units(e["title"].GetString()), 256u);
  EXPECT_GE(utf16Units(e["title"].GetString()), 250u);  // cut, not dropped
  EXPECT_LE(utf16Units(e["description"].GetString()), 4096u);
  EXPECT_LE(e["fields"].Size(), 25u);
  EXPECT_GE(e["fields"].Size(), 2u);
  for (const auto& f : e["fields"].GetArray()) {
    EXPECT_LE(utf16Units(f["name"].GetString()), 256u);
    EXPECT_LE(utf16Units(f["value"].GetString()), 1024u);
    EXPECT_GE(utf16Units(f["value"].GetString()), 1u);
    total += utf16Units(f["name"].GetString()) + utf16Units(f["value"].GetString());
  }
  EXPECT_LE(total, 6000u);
}

// Many small fields stop at Discord's 25.
TEST(DiscordMessage, AtMostTwentyFiveFields) {
  Notification n = failed();
  n.fields.clear();
  for (int i = 0; i < 40; ++i) {
    n.fields.emplace_back("f" + std::to_string(i), "v");
  }
  auto d = parse(discordMessageJson(n));
  ASSERT_EQ(d["embeds"][0]["fields"].Size(), 25u);
  EXPECT_STREQ(d["embeds"][0]["fields"][0]["name"].GetString(), "State");
  EXPECT_STREQ(d["embeds"][0]["fields"][24]["name"].GetString(), "f23");
}

// @everyone, @here and user mentions in any text stay text: allowed_mentions parses nothing.
TEST(DiscordMessage, MentionsNeverPing) {
  Notification n = failed();
  n.title = "@everyone build failed";
  n.message = "@here <@123456> <@&789> look";
  auto d = parse(discordMessageJson(n));
  ASSERT_TRUE(d.HasMember("allowed_mentions"));
  const auto& am = d["allowed_mentions"];
  ASSERT_TRUE(am["parse"].IsArray());
  EXPECT_EQ(am["parse"].Size(), 0u);
  EXPECT_FALSE(am.HasMember("users"));
  EXPECT_FALSE(am.HasMember("roles"));
  EXPECT_THAT(d["embeds"][0]["description"].GetString(), HasSubstr("@here"));
}

// Options Discord would refuse are rejected when the sender is made.
TEST(DiscordSender, RejectsUnusableOptions) {
  auto url = [] { return Result<std::string>("https://discord.com/api/webhooks/1/t"); };
  EXPECT_FALSE(makeDiscordSender({.transport = nullptr, .webhook_url = url}).has_value());
  EXPECT_FALSE(makeDiscordSender({.transport = curl()}).has_value());
  EXPECT_FALSE(
      makeDiscordSender({.transport = curl(), .webhook_url = url, .username = "Discord Bot"})
          .has_value());
  EXPECT_FALSE(
      makeDiscordSender({.transport = curl(), .webhook_url = url, .username = std::string(81, 'a')})
          .has_value());
  auto made = makeDiscordSender({.transport = curl(), .webhook_url = url, .username = "opsy"});
  ASSERT_TRUE(made.has_value());
  EXPECT_EQ((*made)->name(), "discord");
}

// A deleted webhook (404) is not retried: the async notifier makes exactly one attempt.
TEST(DiscordAsync, NotFoundIsAttemptedOnce) {
  RecordingReceiver receiver({reply(404, R"({"message":"Unknown Webhook","code":10015})")});
  FakeClock clock;
  AsyncNotifierOptions options;
  options.retry.random = [] { return 0.0; };
  {
    AsyncNotifier notifier(discord(receiver.url(hookPath())), clock, options);
    notifier.notify(failed());
    notifier.flush();
    EXPECT_EQ(notifier.failed(), 1u);
    EXPECT_EQ(notifier.sent(), 0u);
  }
  EXPECT_EQ(receiver.received().size(), 1u);
}

}  // namespace
}  // namespace opsy::notify

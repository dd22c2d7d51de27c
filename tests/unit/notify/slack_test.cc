#include "opsy/notify/slack.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>

#include "opsy/core/fake_clock.h"
#include "support/function_transport.h"

namespace opsy::notify {
namespace {

using testing::FunctionTransport;
using ::testing::HasSubstr;

Notification built() {
  return Notification{.title = "Build succeeded",
                      .kind = "PackerBuilder",
                      .object = "ci/base-al2023",
                      .state = "Ready",
                      .severity = Severity::Success,
                      .fields = {{"Base AMI", "ami-0base"}, {"Built AMI", "ami-0built"}},
                      .message = "Image <ami-0built> tagged status=active & ready"};
}

http::Response okReply() {
  return http::Response{200, {}, R"({"ok":true,"ts":"1.2"})"};
}

// One chat.postMessage per channel, with the bearer token and the Block Kit body.
TEST(SlackSender, PostsOncePerChannel) {
  auto transport =
      std::make_shared<FunctionTransport>([](const http::Request&) { return okReply(); });
  auto sender = makeSlackSender({.transport = transport,
                                 .channels = {"C1", "C2"},
                                 .token = [] { return Result<std::string>("xoxb-test-token"); },
                                 .api_url = "http://slack.test/api"})
                    .value();
  ASSERT_TRUE(sender->send(built()).has_value());
  auto reqs = transport->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].url, "http://slack.test/api/chat.postMessage");
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(http::findHeader(reqs[0].headers, "authorization"), "Bearer xoxb-test-token");
  rapidjson::Document d0, d1;
  d0.Parse(reqs[0].body.c_str());
  d1.Parse(reqs[1].body.c_str());
  EXPECT_STREQ(d0["channel"].GetString(), "C1");
  EXPECT_STREQ(d1["channel"].GetString(), "C2");
}

// The message carries the builder, state, both AMIs and the text, escaped for mrkdwn.
TEST(SlackMessage, BlockKitLayout) {
  rapidjson::Document d;
  d.Parse(slackMessageJson(built(), "C1").c_str());
  ASSERT_FALSE(d.HasParseError());
  EXPECT_THAT(d["text"].GetString(), HasSubstr("PackerBuilder ci/base-al2023: Build succeeded"));
  const auto& blocks = d["blocks"];
  ASSERT_EQ(blocks.Size(), 4u);
  EXPECT_STREQ(blocks[0]["type"].GetString(), "header");
  EXPECT_STREQ(blocks[0]["text"]["text"].GetString(), "Build succeeded");
  EXPECT_THAT(blocks[1]["elements"][0]["text"].GetString(), HasSubstr("`ci/base-al2023`"));
  const auto& fields = blocks[2]["fields"];
  ASSERT_EQ(fields.Size(), 3u);
  EXPECT_STREQ(fields[0]["text"].GetString(), "*State:*\nReady");
  EXPECT_STREQ(fields[2]["text"].GetString(), "*Built AMI:*\nami-0built");
  EXPECT_STREQ(blocks[3]["text"]["text"].GetString(),
               "Image &lt;ami-0built&gt; tagged status=active &amp; ready");
}

// Slack reports failures in the body with HTTP 200: the ok field decides and the code is kept.
TEST(SlackSender, OkFalseIsAnError) {
  auto transport = std::make_shared<FunctionTransport>([](const http::Request&) {
    return http::Response{200, {}, R"({"ok":false,"error":"channel_not_found"})"};
  });
  auto sender = makeSlackSender({.transport = transport,
                                 .channels = {"CX"},
                                 .token = [] { return Result<std::string>("xoxb-t"); }})
                    .value();
  auto s = sender->send(built());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().provider_code, "channel_not_found");
  EXPECT_EQ(s.error().code, ErrorCode::FailedPrecondition);
  EXPECT_THAT(s.error().message, HasSubstr("CX"));
}

// HTTP 429 is throttling with Slack's Retry-After; the async notifier waits that long and retries.
TEST(AsyncNotifier, HonoursSlackRetryAfter) {
  std::atomic<int> calls{0};
  auto transport = std::make_shared<FunctionTransport>([&](const http::Request&) {
    if (calls++ == 0) {
      return Result<http::Response>(http::Response{429, {{"Retry-After", "7"}}, ""});
    }
    return Result<http::Response>(okReply());
  });
  FakeClock clock;
  AsyncNotifierOptions options;
  options.retry.random = [] { return 0.0; };
  AsyncNotifier notifier(makeSlackSender({.transport = transport,
                                          .channels = {"C1"},
                                          .token = [] { return Result<std::string>("xoxb-t"); }})
                             .value(),
                         clock, options);
  notifier.notify(built());
  notifier.flush();
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(clock.totalSlept(), std::chrono::seconds(7));
  EXPECT_EQ(notifier.sent(), 1u);
}

// A dead Slack never blocks the caller: notify() returns at once, failures are counted, and a
// full queue drops new notifications instead of growing.
TEST(AsyncNotifier, OutageNeverBlocksCaller) {
  std::mutex gate;
  gate.lock();  // the sender blocks until the test releases it
  auto transport = std::make_shared<FunctionTransport>([&](const http::Request&) {
    std::lock_guard wait(gate);
    return Result<http::Response>(http::Response{503, {}, "down"});
  });
  FakeClock clock;
  AsyncNotifierOptions options;
  options.max_queue = 2;
  options.retry.random = [] { return 0.0; };
  AsyncNotifier notifier(makeSlackSender({.transport = transport,
                                          .channels = {"C1"},
                                          .token = [] { return Result<std::string>("xoxb-t"); }})
                             .value(),
                         clock, options);
  for (int i = 0; i < 6; ++i) {
    notifier.notify(built());  // returns although the sender is stuck
  }
  gate.unlock();
  notifier.flush();
  EXPECT_GE(notifier.dropped(), 3u);
  EXPECT_EQ(notifier.sent(), 0u);
  EXPECT_EQ(notifier.failed() + notifier.dropped(), 6u);
}

// A token that cannot be read is a delivery failure, not a crash, and nothing is posted.
TEST(SlackSender, MissingTokenSendsNothing) {
  auto transport =
      std::make_shared<FunctionTransport>([](const http::Request&) { return okReply(); });
  auto sender =
      makeSlackSender({.transport = transport,
                       .channels = {"C1"},
                       .token =
                           [] {
                             return Result<std::string>(fail(
                                 ErrorCode::NotFound, "secret ci/slack-token has no key token"));
                           }})
          .value();
  auto s = sender->send(built());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::NotFound);
  EXPECT_TRUE(transport->requests().empty());
  EXPECT_FALSE(makeSlackSender({.transport = transport,
                                .channels = {},
                                .token = [] { return Result<std::string>("x"); }})
                   .has_value());
}

}  // namespace
}  // namespace opsy::notify

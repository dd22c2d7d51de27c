#include "opsy/notify/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace opsy::notify {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// No notifier block, null or an empty one configures nothing.
TEST(ParseNotifierConfig, AbsentOrEmptyConfiguresNothing) {
  for (const char* json : {"null", "{}"}) {
    auto c = parseNotifierConfig(json);
    ASSERT_TRUE(c.has_value()) << json << ": " << c.error().toString();
    EXPECT_FALSE(c->configured()) << json;
  }
}

// Every destination is read, and may be combined with the others.
TEST(ParseNotifierConfig, ReadsEveryDestinationTogether) {
  auto c = parseNotifierConfig(R"({
    "slack": {"channelIDs": ["C1", "C2"], "secret": "slack"},
    "sns": {"topicArn": "arn:aws:sns:eu-west-1:123456789012:opsy-events"},
    "ses": {"from": "Opsy <opsy@example.com>", "to": ["ops@example.com"],
            "region": "us-east-1", "configurationSet": "ops"},
    "discord": {"secret": "discord"},
    "webhook": {"url": "https://hooks.example.com/opsy?team=a", "secret": "hook"},
    "unknownField": true
  })");
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  ASSERT_TRUE(c->slack && c->sns && c->ses && c->discord && c->webhook);
  EXPECT_THAT(c->slack->channel_ids, ElementsAre("C1", "C2"));
  EXPECT_EQ(c->slack->secret, "slack");
  EXPECT_EQ(c->sns->topic_arn, "arn:aws:sns:eu-west-1:123456789012:opsy-events");
  EXPECT_EQ(c->sns->region, "eu-west-1");
  EXPECT_EQ(c->ses->from, "Opsy <opsy@example.com>");
  EXPECT_THAT(c->ses->to, ElementsAre("ops@example.com"));
  EXPECT_EQ(c->ses->region, "us-east-1");
  EXPECT_EQ(c->ses->configuration_set, "ops");
  EXPECT_EQ(c->discord->secret, "discord");
  EXPECT_EQ(c->webhook->url, "https://hooks.example.com/opsy?team=a");
  EXPECT_EQ(c->webhook->secret, "hook");
}

// The SNS region comes from the topic ARN, including other partitions.
TEST(ParseNotifierConfig, SnsRegionComesFromTheArn) {
  auto c =
      parseNotifierConfig(R"({"sns":{"topicArn":"arn:aws-cn:sns:cn-north-1:123456789012:t"}})");
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_EQ(c->sns->region, "cn-north-1");
}

// A webhook without a signing Secret is valid: it is sent unsigned.
TEST(ParseNotifierConfig, WebhookSecretIsOptional) {
  auto c = parseNotifierConfig(R"({"webhook":{"url":"http://10.0.0.1:8080/hook"}})");
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_TRUE(c->webhook->secret.empty());
}

struct BadCase {
  const char* name;
  const char* json;
  const char* error;  // must appear in the message: the field path and the reason
};

class ParseNotifierConfigRefuses : public ::testing::TestWithParam<BadCase> {};

// Bad input is refused with an error naming the field, never defaulted.
TEST_P(ParseNotifierConfigRefuses, NamingTheField) {
  auto c = parseNotifierConfig(GetParam().json);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::InvalidArgument);
  EXPECT_THAT(c.error().message, HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseNotifierConfigRefuses,
    ::testing::Values(
        BadCase{"NotAnObject", R"([1])", "spec.notifier: must be an object"},
        BadCase{"SlackNotAnObject", R"({"slack":"C1"})", "spec.notifier.slack: must be an object"},
        BadCase{"SlackNoChannels", R"({"slack":{"channelIDs":[],"secret":"s"}})",
                "spec.notifier.slack.channelIDs: needs at least one entry"},
        BadCase{"SlackEmptyChannel", R"({"slack":{"channelIDs":[""],"secret":"s"}})",
                "spec.notifier.slack.channelIDs[0]: must be a non-empty string"},
        BadCase{"SlackNoSecret", R"({"slack":{"channelIDs":["C1"]}})",
                "spec.notifier.slack.secret: is required"},
        BadCase{"SnsNoTopic", R"({"sns":{}})", "spec.notifier.sns.topicArn: is required"},
        BadCase{"SnsNotAnArn", R"({"sns":{"topicArn":"opsy-events"}})",
                "spec.notifier.sns.topicArn: \"opsy-events\" is not an SNS topic ARN"},
        BadCase{"SnsQueueArn", R"({"sns":{"topicArn":"arn:aws:sqs:eu-west-1:123456789012:q"}})",
                "is not an SNS topic ARN"},
        BadCase{"SnsFifo", R"({"sns":{"topicArn":"arn:aws:sns:eu-west-1:123456789012:t.fifo"}})",
                "FIFO topics are not supported"},
        BadCase{"SesNoFrom", R"({"ses":{"to":["a@example.com"]}})",
                "spec.notifier.ses.from: is required"},
        BadCase{"SesBadFrom", R"({"ses":{"from":"opsy","to":["a@example.com"]}})",
                "spec.notifier.ses.from: \"opsy\" is not an e-mail address"},
        BadCase{"SesHeaderInjection",
                R"({"ses":{"from":"a@example.com","to":["b@example.com\r\nBcc: x@evil.test"]}})",
                "spec.notifier.ses.to[0]: must not contain a line break"},
        BadCase{"SesNoRecipients", R"({"ses":{"from":"a@example.com","to":[]}})",
                "spec.notifier.ses.to: needs at least one entry"},
        BadCase{"SesBadRegion",
                R"({"ses":{"from":"a@example.com","to":["b@example.com"],"region":"Ireland"}})",
                "spec.notifier.ses.region: \"Ireland\" is not an AWS region"},
        BadCase{"DiscordNoSecret", R"({"discord":{}})",
                "spec.notifier.discord.secret: is required"},
        BadCase{"WebhookNoUrl", R"({"webhook":{}})", "spec.notifier.webhook.url: is required"},
        BadCase{"WebhookNotHttp", R"({"webhook":{"url":"ftp://example.com/x"}})",
                "spec.notifier.webhook.url: must be an http:// or https:// URL"},
        BadCase{"WebhookNoHost", R"({"webhook":{"url":"https:///x"}})",
                "spec.notifier.webhook.url: must be an http:// or https:// URL"},
        BadCase{"WebhookSecretNotString", R"({"webhook":{"url":"https://a.b","secret":3}})",
                "spec.notifier.webhook.secret: must be a string"}),
    [](const ::testing::TestParamInfo<BadCase>& p) { return std::string(p.param.name); });

// Too many SES recipients is refused before SES would refuse every message.
TEST(ParseNotifierConfig, SesRecipientLimit) {
  std::string to;
  for (int i = 0; i < 51; ++i) {
    to += (i ? "," : "") + std::string("\"u") + std::to_string(i) + "@example.com\"";
  }
  auto c = parseNotifierConfig(R"({"ses":{"from":"a@example.com","to":[)" + to + "]}}");
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("spec.notifier.ses.to: SES takes at most 50"));
}

// Errors name the path the caller gives (the controllers pass spec.notifier).
TEST(ParseNotifierConfig, ErrorsUseTheGivenPath) {
  auto c = parseNotifierConfig(R"({"sns":{}})", "x.n");
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("x.n.sns.topicArn"));
}

}  // namespace
}  // namespace opsy::notify

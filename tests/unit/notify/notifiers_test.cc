#include "opsy/notify/notifiers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "mocks/aws_mocks.h"
#include "mocks/kube_client_mock.h"
#include "opsy/core/fake_clock.h"
#include "opsy/kube/objects.h"
#include "support/function_transport.h"

namespace opsy::notify {
namespace {

using ::testing::_;
using ::testing::Invoke;
using ::testing::Return;

kube::Object secret(const std::string& name, const std::string& key, const std::string& value) {
  kube::Secret s;
  s.metadata.ns = "ops";
  s.metadata.name = name;
  s.type = "Opaque";
  s.data[key] = value;
  return s.toObject();
}

std::string authorization(const http::Request& r) {
  return std::string(http::findHeader(r.headers, "Authorization").value_or(""));
}

NotifierConfig slackOnly(std::vector<std::string> channels = {"C0123"}) {
  return {.slack = SlackDestination{.channel_ids = std::move(channels), .secret = "slack"}};
}

class NotifiersTest : public ::testing::Test {
 protected:
  NotifiersOptions options() {
    return {
        .secrets = &secrets_,
        .transport = slack_,
        .clock = &clock_,
        .slack_api_url = "http://slack.invalid/api",
        .sns = [this](std::string_view region) -> Result<aws::SnsApiPtr> {
          sns_regions_.emplace_back(region);
          return sns_;
        },
        .ses = [this](std::string_view region) -> Result<aws::SesApiPtr> {
          ses_regions_.emplace_back(region);
          return ses_;
        },
        .async = {.observer =
                      [this](std::string_view sender, Delivery d) {
                        std::lock_guard lock(mu_);
                        outcomes_.push_back(std::string(sender) + ":" + std::string(toString(d)));
                      }},
        // The receivers here are plain-http stand-ins; the admin's allow list admits them.
        .destinations = {.allowed_hosts = {"*.invalid"}}};
  }

  std::vector<std::string> outcomes() {
    std::lock_guard lock(mu_);
    return outcomes_;
  }

  kube::MockObjectReader secrets_;
  std::shared_ptr<opsy::testing::FunctionTransport> slack_ =
      std::make_shared<opsy::testing::FunctionTransport>([](const http::Request&) {
        return http::Response{200, {}, R"({"ok":true,"ts":"1.2"})"};
      });
  std::shared_ptr<aws::MockSnsApi> sns_ = std::make_shared<aws::MockSnsApi>();
  std::shared_ptr<aws::MockSesApi> ses_ = std::make_shared<aws::MockSesApi>();
  std::vector<std::string> sns_regions_;
  std::vector<std::string> ses_regions_;
  FakeClock clock_;
  std::mutex mu_;
  std::vector<std::string> outcomes_;
};

// The Slack token is read from the Secret at each send, so a rotated token is used without a
// restart.
TEST_F(NotifiersTest, ReadsTheSlackTokenAtEverySend) {
  EXPECT_CALL(secrets_, get(_, std::string_view("ops"), std::string_view("slack")))
      .WillOnce(Return(secret("slack", "token", "xoxb-first")))
      .WillOnce(Return(secret("slack", "token", "xoxb-second")));
  Notifiers notifiers(options());

  NotifierPtr n = notifiers.notifierFor("ops", slackOnly(), "eu-west-1");
  ASSERT_NE(n, nullptr);
  n->notify({.title = "Rollout started", .object = "ops/roll"});
  notifiers.flush();
  n->notify({.title = "Rollout finished", .object = "ops/roll"});
  notifiers.flush();

  auto requests = slack_->requests();
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(authorization(requests[0]), "Bearer xoxb-first");
  EXPECT_EQ(authorization(requests[1]), "Bearer xoxb-second");
}

// Resources naming the same destination share one queue; another channel list or namespace is
// another destination.
TEST_F(NotifiersTest, OneQueuePerDestination) {
  Notifiers notifiers(options());
  NotifierPtr a = notifiers.notifierFor("ops", slackOnly(), "eu-west-1");
  EXPECT_EQ(notifiers.notifierFor("ops", slackOnly(), "us-east-1"), a);
  EXPECT_NE(notifiers.notifierFor("ops", slackOnly({"C0456"}), "eu-west-1"), a);
  EXPECT_NE(notifiers.notifierFor("dev", slackOnly(), "eu-west-1"), a);
}

// Nothing configured means no notifier at all.
TEST_F(NotifiersTest, NothingConfiguredIsNull) {
  Notifiers notifiers(options());
  EXPECT_EQ(notifiers.notifierFor("ops", {}, "eu-west-1"), nullptr);
}

// One notification reaches every configured destination once, with the same delivery id; SNS
// uses the topic's region and SES the resource's when it names none; Discord and the webhook
// read their Secrets from the resource's namespace.
TEST_F(NotifiersTest, FansOutToEveryDestination) {
  EXPECT_CALL(secrets_, get(_, std::string_view("ops"), std::string_view("slack")))
      .WillOnce(Return(secret("slack", "token", "xoxb-1")));
  EXPECT_CALL(secrets_, get(_, std::string_view("ops"), std::string_view("discord")))
      .WillOnce(Return(secret("discord", "webhookURL", "http://discord.invalid/api/webhooks/1/t")));
  EXPECT_CALL(secrets_, get(_, std::string_view("ops"), std::string_view("hook")))
      .WillOnce(Return(secret("hook", "signingKey", "k3y")));
  std::string sns_message;
  EXPECT_CALL(*sns_, publish(_)).WillOnce(Invoke([&](const aws::PublishInput& in) {
    sns_message = in.message;
    return Result<std::string>("m-1");
  }));
  std::vector<std::string> ses_to;
  EXPECT_CALL(*ses_, sendEmail(_)).WillOnce(Invoke([&](const aws::SendEmailInput& in) {
    ses_to = in.to;
    return Result<std::string>("e-1");
  }));
  NotifierConfig config = slackOnly();
  config.sns =
      SnsDestination{.topic_arn = "arn:aws:sns:ap-south-1:123456789012:t", .region = "ap-south-1"};
  config.ses = SesDestination{.from = "opsy@example.com", .to = {"ops@example.com"}};
  config.discord = DiscordDestination{.secret = "discord"};
  config.webhook = WebhookDestination{.url = "http://hooks.invalid/opsy", .secret = "hook"};
  Notifiers notifiers(options());

  notifiers.notifierFor("ops", config, "eu-west-1")
      ->notify({.title = "Build succeeded", .kind = "PackerBuilder", .object = "ops/al2023"});
  notifiers.flush();

  std::vector<std::string> urls;
  std::string signature;
  for (const http::Request& r : slack_->requests()) {
    urls.push_back(r.url);
    if (r.url == "http://hooks.invalid/opsy") {
      signature = std::string(http::findHeader(r.headers, "X-Opsy-Signature-256").value_or(""));
    }
  }
  EXPECT_THAT(urls,
              ::testing::UnorderedElementsAre("http://slack.invalid/api/chat.postMessage",
                                              "http://discord.invalid/api/webhooks/1/t?wait=true",
                                              "http://hooks.invalid/opsy"));
  EXPECT_THAT(signature, ::testing::StartsWith("sha256="));
  EXPECT_THAT(sns_message, ::testing::HasSubstr("PackerBuilder: ops/al2023"));
  EXPECT_THAT(ses_to, ::testing::ElementsAre("ops@example.com"));
  EXPECT_THAT(sns_regions_, ::testing::ElementsAre("ap-south-1"));
  EXPECT_THAT(ses_regions_, ::testing::ElementsAre("eu-west-1"));
  EXPECT_THAT(outcomes(), ::testing::UnorderedElementsAre("slack:sent", "sns:sent", "ses:sent",
                                                          "discord:sent", "webhook:sent"));
}

// Webhook and Discord URLs come from resources: by default only public https destinations are
// reached. A refused webhook URL is named for the resource's status; nothing is sent to either.
TEST_F(NotifiersTest, DestinationsThePolicyRefusesAreNamedAndNeverContacted) {
  EXPECT_CALL(secrets_, get(_, std::string_view("ops"), std::string_view("discord")))
      .WillOnce(Return(secret("discord", "webhookURL", "https://[fd00:ec2::254]/latest")));
  NotifiersOptions o = options();
  o.destinations = {};
  NotifierConfig config;
  config.webhook = WebhookDestination{.url = "http://169.254.169.254/latest/meta-data/iam/"};
  config.discord = DiscordDestination{.secret = "discord"};
  Notifiers notifiers(std::move(o));

  std::optional<std::string> why = notifiers.refusal(config);
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, ::testing::HasSubstr("spec.notifier.webhook.url"));
  EXPECT_THAT(*why, ::testing::HasSubstr("169.254.169.254"));
  EXPECT_THAT(*why, ::testing::HasSubstr("--notification-allowed-hosts"));

  notifiers.notifierFor("ops", config, "eu-west-1")->notify({.title = "Build succeeded"});
  notifiers.flush();
  EXPECT_TRUE(slack_->requests().empty());
  EXPECT_THAT(outcomes(), ::testing::UnorderedElementsAre("discord:failed", "webhook:failed"));
  EXPECT_EQ(notifiers.refusal(slackOnly()), std::nullopt);
}

// A public-looking name is resolved before each send and every address judged: one that points at
// the metadata service is refused without contact (also when it did not a moment before: DNS
// rebinding), and an accepted one is the address the request is pinned to.
TEST_F(NotifiersTest, NamesAreResolvedJudgedAndPinnedAtEverySend) {
  std::mutex mu;
  std::vector<std::string> answer = {"93.184.216.34"};
  NotifiersOptions o = options();
  o.destinations = {};
  o.resolver = [&](const std::string& host) -> Result<std::vector<std::string>> {
    EXPECT_EQ(host, "hooks.example.com");
    std::lock_guard lock(mu);
    return answer;
  };
  NotifierConfig config;
  config.webhook = WebhookDestination{.url = "https://hooks.example.com/opsy"};
  Notifiers notifiers(std::move(o));
  EXPECT_EQ(notifiers.refusal(config), std::nullopt);

  notifiers.notifierFor("ops", config, "eu-west-1")->notify({.title = "Build succeeded"});
  notifiers.flush();
  ASSERT_EQ(slack_->requests().size(), 1u);
  EXPECT_EQ(slack_->requests()[0].connect_address, std::optional<std::string>("93.184.216.34"));

  {
    std::lock_guard lock(mu);
    answer = {"93.184.216.34", "169.254.169.254"};
  }
  notifiers.notifierFor("ops", config, "eu-west-1")->notify({.title = "Build succeeded again"});
  notifiers.flush();
  EXPECT_EQ(slack_->requests().size(), 1u) << "a refused name was contacted";
  EXPECT_THAT(outcomes(), ::testing::ElementsAre("webhook:sent", "webhook:failed"));
}

// A destination that hangs neither blocks notify() nor delays the other destinations.
TEST_F(NotifiersTest, AHungDestinationDelaysNoOther) {
  EXPECT_CALL(secrets_, get(_, _, _)).WillRepeatedly(Return(secret("slack", "token", "xoxb-1")));
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> publishing{0};
  EXPECT_CALL(*sns_, publish(_)).WillRepeatedly(Invoke([&](const aws::PublishInput&) {
    ++publishing;
    released.wait();
    return Result<std::string>("m");
  }));
  NotifierConfig config = slackOnly();
  config.sns =
      SnsDestination{.topic_arn = "arn:aws:sns:eu-west-1:123456789012:t", .region = "eu-west-1"};
  Notifiers notifiers(options());
  NotifierPtr n = notifiers.notifierFor("ops", config, "eu-west-1");

  for (int i = 0; i < 3; ++i) {
    n->notify({.title = "Build started", .object = "ops/al2023"});  // returns at once
  }
  // Slack delivers all three while SNS is stuck on the first.
  for (int i = 0; i < 2000 && (slack_->requests().size() < 3 || publishing.load() == 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(slack_->requests().size(), 3U);
  EXPECT_EQ(publishing.load(), 1);
  release.set_value();
  notifiers.flush();
  EXPECT_EQ(publishing.load(), 3);
}

// A Secret without the expected key fails that destination's delivery (counted, logged) and
// sends nothing; the reconcile that notified never sees it.
TEST_F(NotifiersTest, MissingSecretKeyFailsOnlyThatDelivery) {
  EXPECT_CALL(secrets_, get(_, std::string_view("ops"), std::string_view("slack")))
      .WillRepeatedly(Return(secret("slack", "not-token", "x")));
  Notifiers notifiers(options());
  notifiers.notifierFor("ops", slackOnly(), "eu-west-1")->notify({.title = "Build failed"});
  notifiers.flush();
  EXPECT_TRUE(slack_->requests().empty());
  EXPECT_THAT(outcomes(), ::testing::ElementsAre("slack:failed"));
}

// Without an AWS client factory, SNS deliveries fail instead of crashing.
TEST_F(NotifiersTest, NoAwsClientsFailsAwsDeliveries) {
  NotifiersOptions o = options();
  o.sns = nullptr;
  Notifiers notifiers(o);
  NotifierConfig config{.sns = SnsDestination{.topic_arn = "arn:aws:sns:eu-west-1:1:t"}};
  notifiers.notifierFor("ops", config, "eu-west-1")->notify({.title = "x"});
  notifiers.flush();
  EXPECT_THAT(outcomes(), ::testing::ElementsAre("sns:failed"));
}

}  // namespace
}  // namespace opsy::notify

// The SNS and SES senders against the fake AWS: real clients, real wire formats, SigV4 checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "opsy/aws/credentials.h"
#include "opsy/core/fake_clock.h"
#include "opsy/http/curl_transport.h"
#include "opsy/notify/format.h"
#include "opsy/notify/ses.h"
#include "opsy/notify/sns.h"
#include "support/fake_aws.h"
#include "support/loopback_server.h"

namespace opsy::notify {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

constexpr char kTopic[] = "arn:aws:sns:eu-west-1:123456789012:opsy-events";

Notification buildFailed() {
  return {.title = "Build failed",
          .kind = "PackerBuilder",
          .object = "ci/al2023",
          .state = "Failed",
          .severity = Severity::Error,
          .fields = {{"Base AMI", "ami-0abc"}, {"Job", "al2023-7f3a"}},
          .message = "packer build exited 1: <timeout> & retrying"};
}

class AwsSendersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    ASSERT_TRUE(fake_.start().has_value());
    fake_.addSnsTopic(kTopic);
    fake_.addSesIdentity("example.com");
  }

  aws::ClientOptions options(const std::string& region) {
    auto transport = http::makeCurlTransport({});
    EXPECT_TRUE(transport.has_value());
    aws::ClientOptions o;
    o.region = region;
    o.transport = *transport;
    o.credentials = aws::makeStaticProvider(
        {std::string(testing::kFakeAccessKey), std::string(testing::kFakeSecretKey), "", {}});
    o.endpoint_url = fake_.endpoint();
    o.clock = clock_;
    o.retry.max_attempts = 1;
    return o;
  }

  std::function<Result<aws::SnsApiPtr>()> sns() {
    return [this] { return aws::makeSnsClient(options("eu-west-1")); };
  }
  std::function<Result<aws::SesApiPtr>()> ses() {
    return [this] { return aws::makeSesClient(options("eu-west-1")); };
  }

  // The fake checks signature times against the same clock the clients sign with.
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  testing::FakeAws fake_{{.clock = clock_}};
};

// SNS gets one Publish to the topic with an ASCII subject and the fields in the message.
TEST_F(AwsSendersTest, SnsPublishesToTheTopic) {
  auto sender = makeSnsSender({.client = sns(), .topic_arn = kTopic});
  ASSERT_TRUE(sender.has_value());
  Status sent = (*sender)->send(buildFailed());
  ASSERT_TRUE(sent.has_value()) << sent.error().toString();

  auto messages = fake_.snsMessages();
  ASSERT_EQ(messages.size(), 1U);
  EXPECT_EQ(messages[0].topic_arn, kTopic);
  EXPECT_EQ(messages[0].subject, "Build failed: ci/al2023");
  EXPECT_THAT(messages[0].message, HasSubstr("PackerBuilder: ci/al2023\n"));
  EXPECT_THAT(messages[0].message, HasSubstr("Base AMI: ami-0abc\n"));
  EXPECT_THAT(messages[0].message, HasSubstr("packer build exited 1"));
}

// A topic that does not exist is a typed, non-retryable error, not a crash or a silent drop.
TEST_F(AwsSendersTest, SnsUnknownTopicIsNotFound) {
  auto sender =
      makeSnsSender({.client = sns(), .topic_arn = "arn:aws:sns:eu-west-1:123456789012:gone"});
  Status sent = (*sender)->send(buildFailed());
  ASSERT_FALSE(sent.has_value());
  EXPECT_EQ(sent.error().code, ErrorCode::NotFound);
  EXPECT_FALSE(isRetryable(sent.error()));
}

// SNS throttling reaches the notifier's retry loop as Throttled.
TEST_F(AwsSendersTest, SnsThrottlingIsThrottled) {
  fake_.addFault({.service = "sns", .kind = testing::FaultKind::Throttle, .count = 1});
  auto sender = makeSnsSender({.client = sns(), .topic_arn = kTopic});
  Status sent = (*sender)->send(buildFailed());
  ASSERT_FALSE(sent.has_value());
  EXPECT_TRUE(isThrottling(sent.error())) << sent.error().toString();
  EXPECT_TRUE((*sender)->send(buildFailed()).has_value());
}

// Subjects are what SNS accepts: ASCII, one line, under 100 characters; attributes carry the
// kind, object, severity and state for subscription filter policies.
TEST(SnsPublishInput, SubjectIsAsciiOneLineUnder100AndAttributesFilterable) {
  Notification n = buildFailed();
  n.title = "Build failed \xe2\x9c\x97 on\nnode " + std::string(200, 'x');
  aws::PublishInput in = snsPublishInput(n, kTopic);
  EXPECT_LT(in.subject.size(), 100U);
  for (char c : in.subject) {
    EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << static_cast<int>(c);
  }
  EXPECT_THAT(in.attributes, ElementsAre(Pair("kind", "PackerBuilder"), Pair("object", "ci/al2023"),
                                         Pair("severity", "error"), Pair("state", "Failed")));
}

// SES gets one SendEmail from the verified sender to every recipient, subject, text and HTML.
TEST_F(AwsSendersTest, SesSendsOneEmailToEveryRecipient) {
  auto sender = makeSesSender({.client = ses(),
                               .from = "opsy@example.com",
                               .to = {"ops@example.com", "oncall@example.com"}});
  ASSERT_TRUE(sender.has_value());
  Status sent = (*sender)->send(buildFailed());
  ASSERT_TRUE(sent.has_value()) << sent.error().toString();

  auto emails = fake_.sesEmails();
  ASSERT_EQ(emails.size(), 1U);
  EXPECT_EQ(emails[0].from, "opsy@example.com");
  EXPECT_THAT(emails[0].to, ElementsAre("ops@example.com", "oncall@example.com"));
  EXPECT_EQ(emails[0].subject, "Build failed: ci/al2023");
  EXPECT_THAT(emails[0].text, HasSubstr("State: Failed\n"));
  EXPECT_THAT(emails[0].html, HasSubstr("<td>ami-0abc</td>"));
}

// Text from the resource is escaped in the HTML part, so it cannot inject markup.
TEST(SesEmail, HtmlEscapesResourceText) {
  aws::SendEmailInput in = sesEmail(buildFailed(), {.from = "a@example.com", .to = {"b@x.io"}});
  EXPECT_THAT(in.html_body, HasSubstr("&lt;timeout&gt; &amp; retrying"));
  EXPECT_THAT(in.html_body, Not(HasSubstr("<timeout>")));
}

// A sender SES has not verified is refused with SES's error, not retried forever.
TEST_F(AwsSendersTest, SesUnverifiedSenderIsRefused) {
  auto sender = makeSesSender({.client = ses(), .from = "opsy@evil.org", .to = {"a@example.com"}});
  Status sent = (*sender)->send(buildFailed());
  ASSERT_FALSE(sent.has_value());
  EXPECT_FALSE(isRetryable(sent.error())) << sent.error().toString();
  EXPECT_TRUE(fake_.sesEmails().empty());
}

// A client that cannot be built (no credentials yet) fails that delivery only.
TEST(AwsSenders, ClientErrorsFailTheDelivery) {
  auto sender = makeSnsSender({.client = []() -> Result<aws::SnsApiPtr> {
                                 return fail(ErrorCode::Unauthenticated, "no credentials");
                               },
                               .topic_arn = kTopic});
  Status sent = (*sender)->send(buildFailed());
  ASSERT_FALSE(sent.has_value());
  EXPECT_EQ(sent.error().code, ErrorCode::Unauthenticated);
}

// A body and subject of plain text: every field on its own line, the message last.
TEST(PlainTextBody, ListsFieldsThenTheMessage) {
  EXPECT_EQ(plainTextBody(buildFailed()),
            "Build failed\n\nPackerBuilder: ci/al2023\nState: Failed\nBase AMI: ami-0abc\n"
            "Job: al2023-7f3a\n\npacker build exited 1: <timeout> & retrying\n");
  EXPECT_EQ(subjectLine(buildFailed(), 10), "Build f...");
}

}  // namespace
}  // namespace opsy::notify

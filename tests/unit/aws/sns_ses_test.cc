#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "aws_test_util.h"
#include "opsy/aws/ses.h"
#include "opsy/aws/sns.h"

namespace opsy::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// SNS Publish sends topic, message, subject and string attributes, and returns the message id.
TEST(Sns, PublishEncodes) {
  ClientHarness h;
  h.transport->expect("POST", "https://sns.eu-west-1.amazonaws.com/")
      .reply(200,
             "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult>"
             "<MessageId>msg-1</MessageId></PublishResult></PublishResponse>");
  auto sns = makeSnsClient(h.options());
  ASSERT_TRUE(sns.has_value());
  PublishInput in;
  in.topic_arn = "arn:aws:sns:eu-west-1:1:opsy";
  in.message = "AMI ami-1 built";
  in.subject = "opsy";
  in.attributes = {{"cluster", "prod"}};
  auto id = (*sns)->publish(in);
  ASSERT_TRUE(id.has_value()) << id.error().toString();
  EXPECT_EQ(*id, "msg-1");
  http::Request sent = h.transport->lastRequest();
  EXPECT_THAT(formPairs(sent.body),
              ElementsAre(Pair("Action", "Publish"), Pair("Version", "2010-03-31"),
                          Pair("TopicArn", "arn:aws:sns:eu-west-1:1:opsy"),
                          Pair("Message", "AMI ami-1 built"), Pair("Subject", "opsy"),
                          Pair("MessageAttributes.entry.1.Name", "cluster"),
                          Pair("MessageAttributes.entry.1.Value.DataType", "String"),
                          Pair("MessageAttributes.entry.1.Value.StringValue", "prod")));
  EXPECT_THAT(std::string(http::findHeader(sent.headers, "Authorization").value_or("")),
              HasSubstr("/eu-west-1/sns/aws4_request"));
}

// A missing topic is NotFound from the awsQuery error.
TEST(Sns, NotFoundTopic) {
  ClientHarness h;
  h.transport->reply(404,
                     "<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code>"
                     "<Message>Topic does not exist</Message></Error><RequestId>r</RequestId>"
                     "</ErrorResponse>");
  PublishInput in;
  in.topic_arn = "arn:aws:sns:eu-west-1:1:gone";
  in.message = "m";
  EXPECT_EQ((*makeSnsClient(h.options()))->publish(in).error().code, ErrorCode::NotFound);
}

// SES v2 SendEmail posts JSON to /v2/email/outbound-emails on the email host, signed as "ses".
TEST(Ses, SendEmailEncodes) {
  ClientHarness h;
  h.transport->expect("POST", "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails")
      .reply(200, R"({"MessageId":"ses-msg-1"})");
  auto ses = makeSesClient(h.options());
  ASSERT_TRUE(ses.has_value());
  SendEmailInput in;
  in.from = "opsy@example.com";
  in.to = {"team@example.com"};
  in.subject = "AMI built";
  in.text_body = "ami-1 is active";
  auto id = (*ses)->sendEmail(in);
  ASSERT_TRUE(id.has_value()) << id.error().toString();
  EXPECT_EQ(*id, "ses-msg-1");
  http::Request sent = h.transport->lastRequest();
  EXPECT_EQ(
      sent.body,
      R"({"FromEmailAddress":"opsy@example.com","Destination":{"ToAddresses":)"
      R"(["team@example.com"]},"Content":{"Simple":{"Subject":{"Data":"AMI built",)"
      R"("Charset":"UTF-8"},"Body":{"Text":{"Data":"ami-1 is active","Charset":"UTF-8"}}}}})");
  EXPECT_THAT(std::string(http::findHeader(sent.headers, "Authorization").value_or("")),
              HasSubstr("/eu-west-1/ses/aws4_request"));
}

// SES REST-JSON errors carry their code in X-Amzn-ErrorType.
TEST(Ses, ErrorIsTyped) {
  ClientHarness h;
  h.transport->reply(400, R"({"message":"Email address is not verified."})",
                     {{"X-Amzn-ErrorType", "MessageRejected"}, {"x-amzn-RequestId", "ses-r"}});
  SendEmailInput in;
  in.from = "opsy@example.com";
  in.to = {"t@example.com"};
  in.text_body = "x";
  auto id = (*makeSesClient(h.options()))->sendEmail(in);
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().provider_code, "MessageRejected");
  EXPECT_EQ(id.error().request_id, "ses-r");
  EXPECT_EQ(id.error().http_status, 400);
}

}  // namespace
}  // namespace opsy::aws

#include "opsy/aws/sts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aws_test_util.h"

namespace opsy::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr const char* kAssumeResponse = R"(<AssumeRoleWithWebIdentityResponse>
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:opsy:controller</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/opsy/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <Credentials><SessionToken>sts-session-token</SessionToken><SecretAccessKey>sts-secret-key</SecretAccessKey>
      <Expiration>2026-11-21T06:35:00Z</Expiration><AccessKeyId>ASIASTS</AccessKeyId></Credentials>
    <Provider>arn:aws:iam::1:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/X</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";

AssumeRoleWithWebIdentityInput assumeInput() {
  AssumeRoleWithWebIdentityInput in;
  in.role_arn = "arn:aws:iam::1:role/opsy";
  in.role_session_name = "opsy-session";
  in.web_identity_token = "jwt";
  return in;
}

// AssumeRoleWithWebIdentity is sent unsigned and parses credentials and the assumed role.
TEST(Sts, AssumeRoleWithWebIdentityIsUnsigned) {
  ClientHarness h;
  h.transport->expect("POST", "https://sts.eu-west-1.amazonaws.com/").reply(200, kAssumeResponse);
  ClientOptions o = h.options();
  o.credentials = nullptr;
  auto sts = makeStsClient(o);
  ASSERT_TRUE(sts.has_value());
  auto role = (*sts)->assumeRoleWithWebIdentity(assumeInput());
  ASSERT_TRUE(role.has_value()) << role.error().toString();
  EXPECT_EQ(role->credentials.access_key_id, "ASIASTS");
  EXPECT_EQ(role->credentials.expiration, at("2026-11-21T06:35:00Z"));
  EXPECT_EQ(role->assumed_role_arn, "arn:aws:sts::1:assumed-role/opsy/s");
  EXPECT_EQ(role->subject_from_web_identity_token, "system:serviceaccount:opsy:controller");
  http::Request sent = h.transport->lastRequest();
  EXPECT_FALSE(http::findHeader(sent.headers, "Authorization").has_value());
  EXPECT_THAT(
      formPairs(sent.body),
      ElementsAre(Pair("Action", "AssumeRoleWithWebIdentity"), Pair("Version", "2011-06-15"),
                  Pair("RoleArn", "arn:aws:iam::1:role/opsy"),
                  Pair("RoleSessionName", "opsy-session"), Pair("WebIdentityToken", "jwt"),
                  Pair("DurationSeconds", "3600")));
}

// IDPCommunicationError (HTTP 400) is transient for STS and is retried.
TEST(Sts, IdpCommunicationErrorIsRetried) {
  ClientHarness h;
  h.transport->reply(400,
                     "<ErrorResponse><Error><Type>Sender</Type><Code>IDPCommunicationError</Code>"
                     "<Message>idp</Message></Error><RequestId>r</RequestId></ErrorResponse>");
  h.transport->reply(200, kAssumeResponse);
  auto sts = makeStsClient(h.options());
  ASSERT_TRUE(sts.has_value());
  EXPECT_TRUE((*sts)->assumeRoleWithWebIdentity(assumeInput()).has_value());
  EXPECT_EQ(h.transport->requests().size(), 2u);
}

// Session names outside STS's pattern are rejected before any request.
TEST(Sts, InvalidSessionNameRejected) {
  ClientHarness h;
  auto sts = makeStsClient(h.options());
  AssumeRoleWithWebIdentityInput in = assumeInput();
  in.role_session_name = "has space";
  EXPECT_EQ((*sts)->assumeRoleWithWebIdentity(in).error().code, ErrorCode::InvalidArgument);
  EXPECT_TRUE(h.transport->requests().empty());
}

// GetCallerIdentity is signed for sts and parses account, ARN and user id.
TEST(Sts, GetCallerIdentity) {
  ClientHarness h;
  h.transport->reply(200,
                     "<GetCallerIdentityResponse><GetCallerIdentityResult>"
                     "<Arn>arn:aws:iam::123456789012:user/ci</Arn><UserId>AIDA1</UserId>"
                     "<Account>123456789012</Account></GetCallerIdentityResult>"
                     "</GetCallerIdentityResponse>");
  auto sts = makeStsClient(h.options());
  auto me = (*sts)->getCallerIdentity();
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->account, "123456789012");
  EXPECT_EQ(me->arn, "arn:aws:iam::123456789012:user/ci");
  http::Request sent = h.transport->lastRequest();
  EXPECT_EQ(sent.body, "Action=GetCallerIdentity&Version=2011-06-15");
  EXPECT_THAT(std::string(http::findHeader(sent.headers, "Authorization").value_or("")),
              HasSubstr("/eu-west-1/sts/aws4_request"));
}

}  // namespace
}  // namespace opsy::aws

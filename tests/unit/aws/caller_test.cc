#include "aws/caller.h"

#include <gtest/gtest.h>

#include "aws_test_util.h"
#include "opsy/aws/ec2.h"

namespace opsy::aws {
namespace {

std::string ec2Error(const std::string& code) {
  return "<Response><Errors><Error><Code>" + code +
         "</Code><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>";
}

// HTTP dates are IMF-fixdate; anything else is rejected.
TEST(ParseHttpDate, ImfFixdate) {
  EXPECT_EQ(parseHttpDate("Sat, 21 Nov 2026 05:45:00 GMT"), at("2026-11-21T05:45:00Z"));
  EXPECT_FALSE(parseHttpDate("2026-11-21T05:45:00Z").has_value());
  EXPECT_FALSE(parseHttpDate("Sat, 21 Nov 2026 05:45:00 GMT trailing").has_value());
}

// A skew error with a server Date far from our clock re-signs with the server's time, once,
// without a backoff sleep; later calls keep the correction.
TEST(ClockSkew, CorrectsAndResendsOnce) {
  ClientHarness h;
  h.transport->reply(400, ec2Error("RequestExpired"), {{"Date", "Sat, 21 Nov 2026 05:45:00 GMT"}});
  h.transport->reply(200, "<R><return>true</return></R>");
  h.transport->reply(200, "<R><return>true</return></R>");
  auto ec2 = makeEc2Client(h.options());
  ASSERT_TRUE((*ec2)->deleteSecurityGroup("sg-1").has_value());
  ASSERT_TRUE((*ec2)->deleteSecurityGroup("sg-2").has_value());
  auto requests = h.transport->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(http::findHeader(requests[0].headers, "x-amz-date"), "20261121T053500Z");
  EXPECT_EQ(http::findHeader(requests[1].headers, "x-amz-date"), "20261121T054500Z");
  EXPECT_EQ(http::findHeader(requests[2].headers, "x-amz-date"), "20261121T054500Z");
  EXPECT_EQ(h.clock->totalSlept(), std::chrono::milliseconds(0));
}

// The same error with a server Date close to our clock is a real authentication failure.
TEST(ClockSkew, SmallDifferenceIsNotSkew) {
  ClientHarness h;
  h.transport->reply(403, ec2Error("AuthFailure"), {{"Date", "Sat, 21 Nov 2026 05:36:00 GMT"}});
  auto ec2 = makeEc2Client(h.options());
  auto st = (*ec2)->deleteSecurityGroup("sg-1");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::PermissionDenied);
  EXPECT_EQ(h.transport->requests().size(), 1u);
}

// A failed call names itself as IAM spells the permission it needs, so a denial can say which
// action to allow.
TEST(CallerErrors, NameTheIamAction) {
  ClientHarness h;
  h.transport->reply(403, ec2Error("UnauthorizedOperation"));
  auto ec2 = makeEc2Client(h.options());
  auto st = (*ec2)->deleteSecurityGroup("sg-1");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::PermissionDenied);
  EXPECT_EQ(st.error().action, "ec2:DeleteSecurityGroup");
}

// A 404 without an AWS error code is something on the path (a wrong endpoint override, a proxy):
// retried like an outage, never read as "the resource is gone", and the message names the
// endpoint that answered.
TEST(CallerErrors, BareNotFoundIsAnEndpointProblemRetried) {
  ClientHarness h;
  for (int i = 0; i < 3; ++i) {
    h.transport->reply(404, "404 page not found\n");
  }
  auto ec2 = makeEc2Client(h.options());
  auto st = (*ec2)->deleteSecurityGroup("sg-1");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::Unavailable);
  EXPECT_GT(h.transport->requests().size(), 1u) << "not retried";
  EXPECT_NE(st.error().message.find("HTTP 404 without an AWS error code"), std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("://"), std::string::npos) << st.error().message;
}

// Returns "KEY1", "KEY2", ... as the access key id, a new one after each invalidate().
class RotatingProvider : public CredentialsProvider {
 public:
  Result<Credentials> credentials() override {
    ++fetches;
    Credentials c;
    c.access_key_id = "ASIAKEY" + std::to_string(generation);
    c.secret_access_key = "secret";
    c.session_token = "token";
    return c;
  }
  std::string name() const override { return "rotating"; }
  void invalidate() override { ++generation; }
  int generation = 1;
  int fetches = 0;
};

// ExpiredToken on cached temporary credentials drops them and signs once more with fresh ones,
// at once; the new ones are used from then on.
TEST(ExpiredCredentials, AreDroppedAndTheCallIsSignedAgainWithNewOnes) {
  ClientHarness h;
  auto rotating = std::make_shared<RotatingProvider>();
  ClientOptions o = h.options();
  o.credentials = makeCachingProvider(rotating, h.clock);
  h.transport->reply(400, ec2Error("ExpiredToken"));
  h.transport->reply(200, "<R><return>true</return></R>");
  h.transport->reply(200, "<R><return>true</return></R>");
  auto ec2 = makeEc2Client(o);
  ASSERT_TRUE((*ec2)->deleteSecurityGroup("sg-1").has_value());
  ASSERT_TRUE((*ec2)->deleteSecurityGroup("sg-2").has_value());
  auto requests = h.transport->requests();
  ASSERT_EQ(requests.size(), 3u);
  auto key = [](const http::Request& r) {
    return std::string(http::findHeader(r.headers, "Authorization").value_or(""));
  };
  EXPECT_NE(key(requests[0]).find("Credential=ASIAKEY1/"), std::string::npos);
  EXPECT_NE(key(requests[1]).find("Credential=ASIAKEY2/"), std::string::npos);
  EXPECT_NE(key(requests[2]).find("Credential=ASIAKEY2/"), std::string::npos);
  EXPECT_EQ(rotating->fetches, 2) << "cached between calls";
  EXPECT_EQ(h.clock->totalSlept(), std::chrono::milliseconds(0));
}

// Refused again with the new credentials: the error stands, with no loop of re-fetches.
TEST(ExpiredCredentials, AreReFetchedOncePerCall) {
  ClientHarness h;
  auto rotating = std::make_shared<RotatingProvider>();
  ClientOptions o = h.options();
  o.credentials = makeCachingProvider(rotating, h.clock);
  h.transport->reply(403, ec2Error("InvalidClientTokenId"));
  h.transport->reply(403, ec2Error("InvalidClientTokenId"));
  auto ec2 = makeEc2Client(o);
  auto st = (*ec2)->deleteSecurityGroup("sg-1");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().provider_code, "InvalidClientTokenId");
  EXPECT_EQ(h.transport->requests().size(), 2u);
}

}  // namespace
}  // namespace opsy::aws

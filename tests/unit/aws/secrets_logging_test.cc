#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "aws_test_util.h"
#include "opsy/aws/credentials.h"
#include "opsy/aws/ec2.h"
#include "opsy/core/log.h"

namespace opsy::aws {
namespace {

constexpr const char* kSecretKey = "IrsaSecretAccessKeyValue0123456789abcdef";
constexpr const char* kSessionToken = "IrsaSessionTokenValue//////////wEaCXVzZXhhbXBsZQ==";
constexpr const char* kWebIdentityToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcHN5In0.c2lnbmF0dXJl";

class SecretsLoggingTest : public testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    log::setup(log::Options{log::Format::Text, spdlog::level::trace});
    log::setSinkForTest(sink_);
  }
  void TearDown() override {
    log::setSinkForTest(nullptr);
    log::setup(log::Options{});
  }
  std::string output() {
    sink_->flush();
    return out_.str();
  }
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// A full IRSA exchange plus a signed EC2 call, logged at trace level, writes no secret key,
// session token, web identity token or Authorization value; and the scrubber never had to act,
// so nothing secret was handed to the logger in the first place.
TEST_F(SecretsLoggingTest, FullSignedCallLogsNoSecrets) {
  std::string token_file =
      (std::filesystem::temp_directory_path() / ("opsy-irsa-" + std::to_string(::getpid())))
          .string();
  std::ofstream(token_file) << kWebIdentityToken;
  ClientHarness h;
  h.transport->reply(200, std::string("<AssumeRoleWithWebIdentityResponse>"
                                      "<AssumeRoleWithWebIdentityResult><Credentials>"
                                      "<AccessKeyId>ASIAIRSAEXAMPLE</AccessKeyId>"
                                      "<SecretAccessKey>") +
                              kSecretKey + "</SecretAccessKey><SessionToken>" + kSessionToken +
                              "</SessionToken><Expiration>2026-11-21T06:35:00Z</Expiration>"
                              "</Credentials></AssumeRoleWithWebIdentityResult>"
                              "</AssumeRoleWithWebIdentityResponse>");
  h.transport->reply(503,
                     "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
                     "<Message>slow down</Message></Error></Errors>"
                     "<RequestID>r1</RequestID></Response>");
  h.transport->reply(200, "<DescribeImagesResponse><imagesSet/></DescribeImagesResponse>",
                     {{"x-amzn-RequestId", "r2"}});
  auto env =
      std::map<std::string, std::string>{{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/opsy"},
                                         {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file},
                                         {"AWS_REGION", "eu-west-1"},
                                         {"AWS_EC2_METADATA_DISABLED", "true"}};
  ClientOptions o = h.options(env);
  o.credentials = makeDefaultCredentialsChain(mapEnv(env), h.transport, h.clock);
  auto ec2 = makeEc2Client(o);
  ASSERT_TRUE(ec2.has_value());
  ASSERT_TRUE((*ec2)->describeImages({}).has_value());
  std::filesystem::remove(token_file);

  auto requests = h.transport->requests();
  ASSERT_EQ(requests.size(), 3u);
  std::string authorization(http::findHeader(requests[2].headers, "Authorization").value());
  std::string signature = authorization.substr(authorization.find("Signature=") + 10);

  std::string out = output();
  EXPECT_NE(out.find("DescribeImages"), std::string::npos) << "nothing was logged";
  EXPECT_NE(out.find("aws_request_id=r2"), std::string::npos) << out;
  for (const std::string& secret : {std::string(kSecretKey), std::string(kSessionToken),
                                    std::string(kWebIdentityToken), authorization, signature}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << "leaked: " << secret << "\n" << out;
  }
  EXPECT_EQ(out.find("[redacted]"), std::string::npos) << out;
}

}  // namespace
}  // namespace opsy::aws

#include "opsy/core/log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

namespace opsy::log {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    setSinkForTest(sink_);
  }
  void TearDown() override {
    setSinkForTest(nullptr);
    setup(Options{});
  }
  std::string output() {
    sink_->flush();
    return out_.str();
  }
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// kv() renders pairs in order and quotes values that would be ambiguous.
TEST(Kv, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(kv("object", "ci/base", "attempt", 2, "ok", true), "object=ci/base attempt=2 ok=true");
  EXPECT_EQ(kv("error", "no such \"group\"", "empty", ""), R"(error="no such \"group\"" empty="")");
  EXPECT_EQ(kv("secret", Secret{"hunter22"}), "secret=[redacted]");
}

// Known credential shapes are masked wherever they appear in a line.
TEST(Scrub, MasksCredentialPatterns) {
  const char* inputs[] = {
      "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request",
      "authorization=Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig",
      "X-Amz-Security-Token: FQoGZXIvYXdzEBYaDEXAMPLETOKEN",
      "url=https://sts.amazonaws.com/?X-Amz-Signature=0123456789abcdef0123456789abcdef&x=1",
      R"({"SecretAccessKey":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"})",
      "slack token xoxb-1234-5678-abcdefghijklmnop",
      "token=k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8",
      "aws_session_token = IQoJb3JpZ2luX2VjEXAMPLE",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
  };
  const char* secrets[] = {
      "AKIDEXAMPLE/20150830", "eyJhbGciOiJSUzI1NiJ9",    "FQoGZXIvYXdzEBYaDEXAMPLETOKEN",
      "0123456789abcdef0123", "wJalrXUtnFEMI",           "xoxb-1234",
      "k8s-aws-v1.aHR0",      "IQoJb3JpZ2luX2VjEXAMPLE", "MIIEowIBAAKCAQEA"};
  for (size_t i = 0; i < std::size(inputs); ++i) {
    std::string out = scrub(inputs[i]);
    EXPECT_EQ(out.find(secrets[i]), std::string::npos) << out;
    EXPECT_NE(out.find("[redacted]"), std::string::npos) << out;
  }
}

// A registered secret is masked even in free text that matches no pattern.
TEST(Scrub, MasksRegisteredSecrets) {
  registerSecret("Zq9PlainLookingValue");
  EXPECT_EQ(scrub("value is Zq9PlainLookingValue!"), "value is [redacted]!");
  registerSecret("abc");  // too short to mask safely
  EXPECT_EQ(scrub("abc"), "abc");
}

// Every logger's output, at every level, passes through the scrubber.
TEST_F(LogTest, LoggerOutputIsScrubbed) {
  setup(Options{Format::Text, spdlog::level::trace});
  setSinkForTest(sink_);
  registerSecret("TopSecretSessionTokenValue");
  auto logger = get("test.scrub");
  logger->trace("header dump {}",
                kv("authorization", "AWS4-HMAC-SHA256 Signature=abcdef0123456789abcdef"));
  logger->error("failed {}", kv("detail", "token TopSecretSessionTokenValue leaked"));
  std::string out = output();
  EXPECT_EQ(out.find("abcdef0123456789"), std::string::npos) << out;
  EXPECT_EQ(out.find("TopSecretSessionTokenValue"), std::string::npos) << out;
  EXPECT_NE(out.find("test.scrub"), std::string::npos) << out;
}

// JSON output is one object per line with the message text and each pair as its own field.
TEST_F(LogTest, JsonFormatSplitsPairsIntoFields) {
  setup(Options{Format::Json, spdlog::level::info});
  setSinkForTest(sink_);
  get("test.json")->info("reconcile done {}", kv("object", "ci/base", "error", "a \"b\" c"));
  std::string out = output();
  EXPECT_NE(out.find(R"("level":"info")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("logger":"test.json")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("msg":"reconcile done")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("object":"ci/base")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("error":"a \"b\" c")"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

// The level set at start-up filters every logger, including ones created before.
TEST_F(LogTest, LevelAppliesToExistingLoggers) {
  auto logger = get("test.level");
  setup(Options{Format::Text, spdlog::level::warn});
  setSinkForTest(sink_);
  logger->info("hidden");
  logger->warn("shown");
  std::string out = output();
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("shown"), std::string::npos);
}

// Flag values are parsed strictly.
TEST(LogOptions, ParseFormatAndLevel) {
  EXPECT_EQ(parseFormat("json").value(), Format::Json);
  EXPECT_EQ(parseFormat("text").value(), Format::Text);
  EXPECT_FALSE(parseFormat("yaml").has_value());
  EXPECT_EQ(parseLevel("debug").value(), spdlog::level::debug);
  EXPECT_EQ(parseLevel("warning").value(), spdlog::level::warn);
  EXPECT_NE(parseLevel("loud").error().message.find("loud"), std::string::npos);
}

}  // namespace
}  // namespace opsy::log

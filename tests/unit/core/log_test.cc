#include "opsy/core/log.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <string>
#include <vector>

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
  std::vector<std::string> lines() {
    std::vector<std::string> result;
    std::istringstream in(output());
    for (std::string line; std::getline(in, line);) {
      result.push_back(line);
    }
    return result;
  }
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// kv() keeps each pair as data, in order; only the value's text form is computed up front.
TEST(Kv, BuildsFieldsInOrder) {
  EXPECT_EQ(kv("object", "ci/base", "attempt", 2, "ok", true),
            (Fields{{"object", "ci/base"}, {"attempt", "2"}, {"ok", "true"}}));
  EXPECT_EQ(kv("secret", Secret{"hunter22"}), (Fields{{"secret", "[redacted]"}}));
  EXPECT_EQ(kv("secret", Secret{"hunter22"}).front().value.find("hunter22"), std::string::npos);
  Fields listed = {{"object", "ci/base"}, {"attempt", 2}};
  EXPECT_EQ(listed, kv("object", "ci/base", "attempt", 2));
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

// A value of any length after a keyword is scanned in linear time: a megabyte after "token=" or
// "authorization:" (an error body a proxy can send) is masked, not a stack overflow.
TEST(Scrub, HugeValuesAfterKeywordsAreMaskedWithoutCrashing) {
  const std::string huge(1 << 20, 'a');
  for (const std::string& prefix :
       {std::string("token="), std::string("authorization: "), std::string(R"({"password":")")}) {
    std::string out = scrub(prefix + huge + " tail");
    EXPECT_LT(out.size(), 100U) << prefix;
    EXPECT_NE(out.find("[redacted]"), std::string::npos) << prefix;
  }
  EXPECT_EQ(scrub(std::string(1 << 20, '{')).size(), size_t{1} << 20);
}

// Masking a header value keeps the rest of the line, so a JSON line stays valid.
TEST(Scrub, HeaderValueInJsonKeepsTheRestOfTheLine) {
  EXPECT_EQ(scrub(R"({"authorization":"AWS4-HMAC-SHA256 Credential=AKID/x, Signature=ab","n":1})"),
            R"({"authorization":"[redacted]","n":1})");
  EXPECT_EQ(scrub("Authorization: Bearer abc.def\nnext line"),
            "Authorization: [redacted]\nnext line");
}

// Kubernetes tokens (JWTs) and passwords inside URLs are masked wherever they appear.
TEST(Scrub, JwtsAndUrlPasswordsAreMasked) {
  EXPECT_EQ(scrub("got eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here"),
            "got [redacted] here");
  EXPECT_EQ(scrub("clone https://bot:ghp_s3cr3tValue@github.com/o/r.git failed"),
            "clone https://bot:[redacted]@github.com/o/r.git failed");
  EXPECT_EQ(scrub("see https://github.com/o/r.git"), "see https://github.com/o/r.git");
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
  logger.trace("header dump",
               kv("authorization", "AWS4-HMAC-SHA256 Signature=abcdef0123456789abcdef"));
  logger.error("failed", kv("detail", "token TopSecretSessionTokenValue leaked"));
  std::string out = output();
  EXPECT_EQ(out.find("abcdef0123456789"), std::string::npos) << out;
  EXPECT_EQ(out.find("TopSecretSessionTokenValue"), std::string::npos) << out;
  EXPECT_NE(out.find("test.scrub"), std::string::npos) << out;
}

// Many large fields share one line's budget: the line stays within 16 KiB and one JSON object.
TEST_F(LogTest, ALineOfManyLargeFieldsIsCappedAndStaysJson) {
  setup(Options{Format::Json, spdlog::level::info});
  setSinkForTest(sink_);
  Fields fields;
  for (int i = 0; i < 10; ++i) {
    fields.push_back(kv("field" + std::to_string(i), std::string(20000, '\x01')).front());
  }
  get("test.bounded").warn(std::string(50000, 'm'), fields);
  std::string out = output();
  EXPECT_LE(out.size(), 16u * 1024 + 1);
  rapidjson::Document doc;
  doc.Parse(out.c_str());
  EXPECT_FALSE(doc.HasParseError()) << out.substr(0, 200);
  EXPECT_TRUE(doc.HasMember("field9")) << "every field keeps its key";
}

// A huge message or field (an error body) is cut to a bounded size and says so; the JSON line
// stays one valid object.
TEST_F(LogTest, HugeFieldsAreTruncated) {
  setup(Options{Format::Json, spdlog::level::info});
  setSinkForTest(sink_);
  get("test.bounded").warn("call failed", kv("error", std::string(100000, 'x')));
  std::string out = output();
  EXPECT_LT(out.size(), 10000U);
  // At most 8 KiB including the marker.
  EXPECT_NE(out.find(std::string(8165, 'x') + "...[truncated 91835 bytes]\""), std::string::npos)
      << out.substr(0, 200);
  rapidjson::Document doc;
  doc.Parse(out.c_str());
  EXPECT_FALSE(doc.HasParseError()) << out.substr(0, 200);
}

// JSON output is one object per line with the message text and each pair as its own field.
TEST_F(LogTest, JsonFormatSplitsPairsIntoFields) {
  setup(Options{Format::Json, spdlog::level::info});
  setSinkForTest(sink_);
  get("test.json").info("reconcile done", kv("object", "ci/base", "error", "a \"b\" c"));
  std::string out = output();
  EXPECT_NE(out.find(R"("level":"info")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("logger":"test.json")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("msg":"reconcile done")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("object":"ci/base")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("error":"a \"b\" c")"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

// Text output is the constant message followed by every pair, ambiguous values quoted.
TEST_F(LogTest, TextFormatPrintsEveryPairAfterTheMessage) {
  get("test.text")
      .info("reconcile done", kv("object", "ci/base", "attempt", 2, "ok", true, "error",
                                 "no such \"group\"", "empty", ""));
  auto got = lines();
  ASSERT_EQ(got.size(), 1u) << output();
  EXPECT_NE(got[0].find(" info test.text reconcile done object=ci/base attempt=2 ok=true "
                        R"(error="no such \"group\"" empty="")"),
            std::string::npos)
      << got[0];
  EXPECT_TRUE(got[0].ends_with(R"(empty="")")) << got[0];
}

// Every pair reaches the JSON line as a string member of a valid object, quotes and newlines
// included, whatever the message text says.
TEST_F(LogTest, JsonLineIsValidJsonWithEveryPair) {
  setup(Options{Format::Json, spdlog::level::info});
  setSinkForTest(sink_);
  get("test.json")
      .warn("informer started",
            kv("resource", "packerbuilders", "namespace", "", "note",
               "line one\nline \"two\"\ttab\\end", "count", 3, "msg", "collides"));
  auto got = lines();
  ASSERT_EQ(got.size(), 1u) << output();
  rapidjson::Document doc;
  doc.Parse(got[0].c_str(), got[0].size());
  ASSERT_FALSE(doc.HasParseError()) << got[0];
  ASSERT_TRUE(doc.IsObject()) << got[0];
  auto str = [&](const char* key) -> std::string {
    if (!doc.HasMember(key) || !doc[key].IsString()) {
      return "<missing>";
    }
    return std::string(doc[key].GetString(), doc[key].GetStringLength());
  };
  EXPECT_EQ(str("msg"), "informer started");
  EXPECT_EQ(str("level"), "warning");
  EXPECT_EQ(str("logger"), "test.json");
  EXPECT_EQ(str("resource"), "packerbuilders");
  EXPECT_EQ(str("namespace"), "");
  EXPECT_EQ(str("note"), "line one\nline \"two\"\ttab\\end");
  EXPECT_EQ(str("count"), "3");
  EXPECT_EQ(str("field.msg"), "collides");  // kept, not dropped, under a name that cannot clash
  EXPECT_EQ(got[0].find('\n'), std::string::npos);
}

// A pair whose value has quotes or newlines stays on one text line and reads back unambiguously.
TEST_F(LogTest, TextFormatEscapesQuotesAndNewlines) {
  get("test.text").info("lease write failed", kv("error", "bad \"lease\"\nsecond line\\x"));
  auto got = lines();
  ASSERT_EQ(got.size(), 1u) << output();
  EXPECT_TRUE(got[0].ends_with(R"(lease write failed error="bad \"lease\"\nsecond line\\x")"))
      << got[0];
}

// The message is never a format string: braces print as they are, and no pair is lost to them.
TEST_F(LogTest, MessageWithBracesIsPrintedAsIs) {
  get("test.text").info("template {} kept {0}", kv("object", "ci/base"));
  setup(Options{Format::Json, spdlog::level::info});
  setSinkForTest(sink_);
  get("test.text").info("template {} kept {0}", kv("object", "ci/base"));
  auto got = lines();
  ASSERT_EQ(got.size(), 2u) << output();
  EXPECT_TRUE(got[0].ends_with("template {} kept {0} object=ci/base")) << got[0];
  rapidjson::Document doc;
  doc.Parse(got[1].c_str(), got[1].size());
  ASSERT_FALSE(doc.HasParseError()) << got[1];
  EXPECT_STREQ(doc["msg"].GetString(), "template {} kept {0}");
  EXPECT_STREQ(doc["object"].GetString(), "ci/base");
}

// A message without fields is a line of its own in both formats.
TEST_F(LogTest, MessageWithoutFields) {
  get("test.text").warn("manager run twice");
  setup(Options{Format::Json, spdlog::level::info});
  setSinkForTest(sink_);
  get("test.text").warn("manager run twice");
  auto got = lines();
  ASSERT_EQ(got.size(), 2u) << output();
  EXPECT_TRUE(got[0].ends_with(" warning test.text manager run twice")) << got[0];
  rapidjson::Document doc;
  doc.Parse(got[1].c_str(), got[1].size());
  ASSERT_FALSE(doc.HasParseError()) << got[1];
  EXPECT_EQ(doc.MemberCount(), 4u) << got[1];
}

// Pairs in JSON output are scrubbed too.
TEST_F(LogTest, JsonOutputIsScrubbed) {
  setup(Options{Format::Json, spdlog::level::info});
  setSinkForTest(sink_);
  registerSecret("AnotherSecretSessionToken");
  get("test.scrub").error("failed", kv("detail", "got AnotherSecretSessionToken back"));
  std::string out = output();
  EXPECT_EQ(out.find("AnotherSecretSessionToken"), std::string::npos) << out;
  EXPECT_NE(out.find("[redacted]"), std::string::npos) << out;
}

// The level set at start-up filters every logger, including ones created before.
TEST_F(LogTest, LevelAppliesToExistingLoggers) {
  auto logger = get("test.level");
  setup(Options{Format::Text, spdlog::level::warn});
  setSinkForTest(sink_);
  logger.info("hidden");
  logger.warn("shown");
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

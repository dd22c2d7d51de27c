#include "opsy/aws/sigv4.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "opsy/core/time_format.h"

namespace opsy::aws {
namespace {

namespace fs = std::filesystem;

const fs::path kSuiteDir = fs::path(OPSY_TEST_DATA_DIR) / "sigv4";

std::optional<std::string> readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct SuiteCase {
  std::string name;
  http::Request request;
  Credentials credentials;
  std::string region;
  std::string service;
  TimePoint time;
  std::chrono::seconds expires{0};
  SignOptions options;
};

// request.txt is an HTTP/1.1 message: "METHOD path HTTP/1.1", headers (lines starting with
// whitespace continue the previous value), an empty line, the body.
http::Request parseRequestFile(const std::string& text) {
  http::Request req;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  size_t first_space = line.find(' ');
  size_t version = line.rfind(" HTTP/");
  req.method = line.substr(0, first_space);
  std::string path = line.substr(first_space + 1, version - first_space - 1);
  std::string host;
  while (std::getline(in, line) && !line.empty()) {
    if ((line[0] == ' ' || line[0] == '\t') && !req.headers.empty()) {
      req.headers.back().second += "\n" + line;
      continue;
    }
    size_t colon = line.find(':');
    req.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    if (req.headers.back().first == "Host") {
      host = req.headers.back().second;
    }
  }
  std::string body;
  std::getline(in, body, '\0');
  req.body = body;
  req.url = "https://" + host + path;
  return req;
}

SuiteCase loadCase(const std::string& name) {
  SuiteCase c;
  c.name = name;
  c.request = parseRequestFile(readFile(kSuiteDir / name / "request.txt").value());
  rapidjson::Document doc;
  doc.Parse(readFile(kSuiteDir / name / "context.json").value().c_str());
  const auto& creds = doc["credentials"];
  c.credentials.access_key_id = creds["access_key_id"].GetString();
  c.credentials.secret_access_key = creds["secret_access_key"].GetString();
  if (creds.HasMember("token")) {
    c.credentials.session_token = creds["token"].GetString();
  }
  c.region = doc["region"].GetString();
  c.service = doc["service"].GetString();
  c.time = parseRfc3339(doc["timestamp"].GetString()).value();
  c.expires = std::chrono::seconds(doc["expiration_in_seconds"].GetInt());
  c.options.normalize_path = doc["normalize"].GetBool();
  c.options.content_sha256_header = doc["sign_body"].GetBool();
  c.options.omit_session_token =
      doc.HasMember("omit_session_token") && doc["omit_session_token"].GetBool();
  return c;
}

std::vector<std::string> allCases() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kSuiteDir)) {
    if (entry.is_directory() && fs::exists(entry.path() / "context.json")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Credentials testCredentials() {
  Credentials c;
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = "secret-key-1";
  return c;
}

http::Request makeRequest(std::string method, std::string url) {
  http::Request r;
  r.method = std::move(method);
  r.url = std::move(url);
  return r;
}

class SigV4Suite : public testing::TestWithParam<std::string> {};

// Header signing reproduces the suite's canonical request, string to sign and signature.
TEST_P(SigV4Suite, HeaderSigningMatchesVectors) {
  SuiteCase c = loadCase(GetParam());
  http::Request req = c.request;
  auto parts = signRequest(req, c.credentials, c.region, c.service, c.time, c.options);
  ASSERT_TRUE(parts.has_value()) << parts.error().toString();
  EXPECT_EQ(parts->canonical_request,
            readFile(kSuiteDir / c.name / "header-canonical-request.txt").value());
  EXPECT_EQ(parts->string_to_sign,
            readFile(kSuiteDir / c.name / "header-string-to-sign.txt").value());
  EXPECT_EQ(parts->signature, readFile(kSuiteDir / c.name / "header-signature.txt").value());
  auto auth = http::findHeader(req.headers, "Authorization");
  ASSERT_TRUE(auth.has_value());
  EXPECT_NE(auth->find("Signature=" + parts->signature), std::string_view::npos);
}

// Query presigning reproduces the suite's vectors wherever the case provides them.
TEST_P(SigV4Suite, QueryPresigningMatchesVectors) {
  SuiteCase c = loadCase(GetParam());
  auto expected_canonical = readFile(kSuiteDir / c.name / "query-canonical-request.txt");
  if (!expected_canonical) {
    GTEST_SKIP() << "case has no query vectors";
  }
  auto presigned =
      presignUrl(c.request, c.credentials, c.region, c.service, c.time, c.expires, c.options);
  ASSERT_TRUE(presigned.has_value()) << presigned.error().toString();
  EXPECT_EQ(presigned->parts.canonical_request, *expected_canonical);
  EXPECT_EQ(presigned->parts.string_to_sign,
            readFile(kSuiteDir / c.name / "query-string-to-sign.txt").value());
  EXPECT_EQ(presigned->parts.signature,
            readFile(kSuiteDir / c.name / "query-signature.txt").value());
  EXPECT_NE(presigned->url.find("X-Amz-Signature=" + presigned->parts.signature),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AwsSigningTestSuiteV4, SigV4Suite, testing::ValuesIn(allCases()),
                         [](const testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// Every case of the public v4 suite is present, so a lost data file cannot shrink the suite.
TEST(SigV4SuiteData, HasAllThirtyEightCases) {
  EXPECT_EQ(allCases().size(), 38u);
}

// Signing replaces an earlier signature instead of stacking a second Authorization header.
TEST(SigV4, ResigningReplacesPreviousSignature) {
  Credentials creds = testCredentials();
  http::Request req = makeRequest("GET", "https://ec2.us-east-1.amazonaws.com/");
  TimePoint t = parseRfc3339("2026-01-01T00:00:00Z").value();
  ASSERT_TRUE(signRequest(req, creds, "us-east-1", "ec2", t).has_value());
  ASSERT_TRUE(signRequest(req, creds, "us-east-1", "ec2", t + std::chrono::seconds(5)));
  int auth_headers = 0;
  int date_headers = 0;
  for (const auto& [name, value] : req.headers) {
    auth_headers += name == "Authorization" ? 1 : 0;
    date_headers += name == "x-amz-date" ? 1 : 0;
  }
  EXPECT_EQ(auth_headers, 1);
  EXPECT_EQ(date_headers, 1);
}

// User-Agent, Expect and hop-by-hop headers are never signed; a proxy may change them.
TEST(SigV4, DoesNotSignVolatileHeaders) {
  Credentials creds = testCredentials();
  http::Request req = makeRequest("POST", "https://ec2.us-east-1.amazonaws.com/");
  req.headers = {
      {"User-Agent", "opsy/1"},      {"Expect", "100-continue"},
      {"Connection", "keep-alive"},  {"Transfer-Encoding", "chunked"},
      {"X-Amzn-Trace-Id", "Root=1"}, {"Content-Type", "application/x-www-form-urlencoded"}};
  auto parts =
      signRequest(req, creds, "us-east-1", "ec2", parseRfc3339("2026-01-01T00:00:00Z").value());
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->signed_headers, "content-type;host;x-amz-date");
}

// Header values are checked for whitespace eight bytes at a time; a tab, CR/LF or space run is
// found wherever it sits in a long value (and collapsed), while bytes above 0x7f (UTF-8) and
// other printable bytes are not mistaken for it. Repeated names are joined in the order sent,
// and upper-case names are signed lower case.
TEST(SigV4, CanonicalHeadersCollapseWhitespaceAnywhereInLongValues) {
  const std::string long_plain(40, 'T');
  http::Request req = makeRequest("POST", "https://ec2.us-east-1.amazonaws.com/a/b-c_d.e~f/");
  req.headers = {{"X-Long", long_plain + "\t\t " + long_plain.substr(0, 9) + "\r\n  end  "},
                 {"X-Utf8", "caf\xc3\xa9-\xe2\x82\xac-0123456789-!~"},
                 {"X-Repeat", "one"},
                 {"HOST", "ec2.us-east-1.amazonaws.com"},
                 {"x-repeat", "  two  "},
                 {"X-Edge", std::string(15, 'a') + " "}};
  std::string signed_headers;
  std::string canonical = canonicalRequest(req, "UNSIGNED", true, &signed_headers);
  EXPECT_EQ(canonical,
            "POST\n/a/b-c_d.e~f/\n\n"
            "host:ec2.us-east-1.amazonaws.com\n"
            "x-edge:" +
                std::string(15, 'a') +
                "\n"
                "x-long:" +
                long_plain + " " + long_plain.substr(0, 9) +
                " end\n"
                "x-repeat:one,two\n"
                "x-utf8:caf\xc3\xa9-\xe2\x82\xac-0123456789-!~\n\n"
                "host;x-edge;x-long;x-repeat;x-utf8\nUNSIGNED");
  EXPECT_EQ(signed_headers, "host;x-edge;x-long;x-repeat;x-utf8");
}

// A path that normalising and encoding leave as it is is signed as sent; one with dot segments,
// repeated slashes or characters to encode is still rewritten.
TEST(SigV4, CanonicalUriRewritesOnlyWhatNeedsIt) {
  EXPECT_EQ(canonicalUri("/", true), "/");
  EXPECT_EQ(canonicalUri("/2015-03-31/functions/f/invocations", true),
            "/2015-03-31/functions/f/invocations");
  EXPECT_EQ(canonicalUri("/a/./b/../c", true), "/a/c");
  EXPECT_EQ(canonicalUri("/a//b/", true), "/a/b/");
  EXPECT_EQ(canonicalUri("/a//b/", false), "/a//b/");
  EXPECT_EQ(canonicalUri("/a/.", true), "/a");
  EXPECT_EQ(canonicalUri("/a/..", true), "/");
  EXPECT_EQ(canonicalUri("/a b/c:d", true), "/a%20b/c%3Ad");
  EXPECT_EQ(canonicalUri("/a/.hidden/b", true), "/a/.hidden/b");
}

// Without credentials there is nothing to sign with: the call fails instead of going unsigned.
// The derived key is kept per (secret, date, region, service): each of those changing gives the
// key the four HMACs of the specification give, never a kept one of another secret or day. The
// expected keys are derived here step by step, as the specification writes them.
TEST(SigV4, KeptSigningKeysFollowSecretDateRegionAndService) {
  auto derive = [](const std::string& secret, const std::string& date, const std::string& region,
                   const std::string& service) {
    return hmacSha256(hmacSha256(hmacSha256(hmacSha256("AWS4" + secret, date), region), service),
                      "aws4_request");
  };
  const TimePoint day1 = parseRfc3339("2026-12-01T23:59:59Z").value();
  const TimePoint day2 = parseRfc3339("2026-12-02T00:00:00Z").value();
  for (int round = 0; round < 2; ++round) {  // the second round reads what the first kept
    EXPECT_EQ(signingKey("secret-a", day1, "us-west-2", "ec2"),
              derive("secret-a", "20261201", "us-west-2", "ec2"));
    EXPECT_EQ(signingKey("secret-b", day1, "us-west-2", "ec2"),
              derive("secret-b", "20261201", "us-west-2", "ec2"));
    EXPECT_EQ(signingKey("secret-a", day2, "us-west-2", "ec2"),
              derive("secret-a", "20261202", "us-west-2", "ec2"));
    EXPECT_EQ(signingKey("secret-a", day1, "eu-west-1", "ec2"),
              derive("secret-a", "20261201", "eu-west-1", "ec2"));
    EXPECT_EQ(signingKey("secret-a", day1, "us-west-2", "eks"),
              derive("secret-a", "20261201", "us-west-2", "eks"));
  }
  // More combinations than are kept: the oldest is derived again, still right.
  for (int i = 0; i < 40; ++i) {
    const std::string region = "region-" + std::to_string(i);
    EXPECT_EQ(signingKey("secret-a", day1, region, "ec2"),
              derive("secret-a", "20261201", region, "ec2"));
  }
  EXPECT_EQ(signingKey("secret-a", day1, "us-west-2", "ec2"),
            derive("secret-a", "20261201", "us-west-2", "ec2"));
}

// HMAC-SHA256 agrees with RFC 4231's test cases, including a key longer than the block.
TEST(SigV4, HmacSha256MatchesRfc4231) {
  auto hex = [](const std::string& raw) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0xf]);
    }
    return out;
  };
  EXPECT_EQ(hex(hmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hex(hmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(hmacSha256(std::string(131, '\xaa'),
                           "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(SigV4, EmptyCredentialsAreRejected) {
  http::Request req = makeRequest("GET", "https://sts.amazonaws.com/");
  auto parts = signRequest(req, Credentials{}, "us-east-1", "sts", TimePoint{});
  ASSERT_FALSE(parts.has_value());
  EXPECT_EQ(parts.error().code, ErrorCode::Unauthenticated);
}

// A presigned EKS token URL signs the x-k8s-aws-id header and carries the session token.
TEST(SigV4, PresignSignsExtraHeadersAndToken) {
  Credentials creds = testCredentials();
  creds.session_token = "session/token+1";
  http::Request req = makeRequest(
      "GET", "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
  req.headers = {{"x-k8s-aws-id", "prod"}};
  auto url = presignUrl(req, creds, "eu-west-1", "sts",
                        parseRfc3339("2026-01-01T00:00:00Z").value(), std::chrono::seconds(60));
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->parts.signed_headers, "host;x-k8s-aws-id");
  EXPECT_NE(url->url.find("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"), std::string::npos);
  EXPECT_NE(url->url.find("X-Amz-Security-Token=session%2Ftoken%2B1"), std::string::npos);
  EXPECT_EQ(url->url.rfind("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&", 0),
            0u);
}

}  // namespace
}  // namespace opsy::aws

namespace opsy::aws {
namespace {

// A realistic EC2 DescribeImages POST with a session token and a User-Agent signs exactly as
// botocore does (fixture recorded by tests/data/sigv4/botocore_ec2_describe_images.py).
TEST(SigV4, MatchesBotocoreForEc2DescribeImagesWithSessionToken) {
  rapidjson::Document doc;
  doc.Parse(readFile(kSuiteDir / "botocore_ec2_describe_images.json").value().c_str());
  ASSERT_FALSE(doc.HasParseError());
  Credentials creds;
  creds.access_key_id = doc["access_key_id"].GetString();
  creds.secret_access_key = doc["secret_access_key"].GetString();
  creds.session_token = doc["session_token"].GetString();
  http::Request req = makeRequest(doc["method"].GetString(), doc["url"].GetString());
  req.body = doc["body"].GetString();
  for (const auto& h : doc["headers"].GetObject()) {
    req.headers.emplace_back(h.name.GetString(), h.value.GetString());
  }
  auto parts = signRequest(req, creds, doc["region"].GetString(), doc["service"].GetString(),
                           parseRfc3339(doc["timestamp"].GetString()).value());
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->canonical_request, doc["canonical_request"].GetString());
  EXPECT_EQ(parts->string_to_sign, doc["string_to_sign"].GetString());
  EXPECT_EQ(parts->signature, doc["signature"].GetString());
}

}  // namespace
}  // namespace opsy::aws

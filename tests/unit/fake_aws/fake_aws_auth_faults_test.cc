#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "unit/fake_aws/fake_aws_test_util.h"

namespace opsy::testing {
namespace {

struct AuthCase {
  std::string name;
  std::string service;
  SignSpec spec;  // service empty = unsigned
  int status;
  std::string code;
};

class AuthTest : public FakeAwsTest {
 protected:
  // Sends a harmless call of `service` and returns (status, error code) from its own format.
  std::pair<int, std::string> call(const std::string& service, const SignSpec& spec) {
    if (service == "eks") {
      aws_->addCluster({.name = "prod"});
      auto res = send({"GET", "/clusters/prod/node-groups", "", "", {}}, spec);
      std::string type = res->get_header_value("X-Amzn-ErrorType");
      return {res->status, type.substr(0, type.find(':'))};
    }
    std::string body = service == "ec2" ? "Action=DescribeKeyPairs&Version=2016-11-15"
                       : service == "autoscaling"
                           ? "Action=DescribeAutoScalingGroups&Version=2011-01-01"
                       : service == "sts" ? "Action=GetCallerIdentity&Version=2011-06-15"
                                          : "Action=Publish&Version=2010-03-31";
    auto res = send({"POST", "/", body, "application/x-www-form-urlencoded", {}}, spec);
    return {res->status, xmlText(res->body, "Code")};
  }
};

TimePoint at(const char* text) {
  return parseRfc3339(text).value();
}

// Every auth failure maps to the code and status the real service uses, in its own format.
TEST_F(AuthTest, AuthFailuresUseEachServicesRealCodes) {
  SignSpec unknown{.access_key = "AKIDUNKNOWN"};
  SignSpec bad_secret{.secret_key = "not-the-secret"};
  SignSpec skewed{.when = at("2026-03-01T12:05:01Z")};
  SignSpec wrong_token{.session_token = "tok"};
  std::vector<AuthCase> cases = {
      {"ec2 missing", "ec2", {}, 400, "MissingParameter"},
      {"ec2 unknown key", "ec2", unknown, 401, "AuthFailure"},
      {"ec2 bad signature", "ec2", bad_secret, 401, "AuthFailure"},
      {"ec2 skew", "ec2", skewed, 400, "RequestExpired"},
      {"ec2 token on permanent key", "ec2", wrong_token, 401, "AuthFailure"},
      {"asg missing", "autoscaling", {}, 403, "MissingAuthenticationToken"},
      {"asg unknown key", "autoscaling", unknown, 403, "InvalidClientTokenId"},
      {"asg bad signature", "autoscaling", bad_secret, 403, "SignatureDoesNotMatch"},
      {"asg skew", "autoscaling", skewed, 403, "SignatureDoesNotMatch"},
      {"sts missing", "sts", {}, 403, "MissingAuthenticationToken"},
      {"sts bad signature", "sts", bad_secret, 403, "SignatureDoesNotMatch"},
      {"sns unknown key", "sns", unknown, 403, "InvalidClientTokenId"},
      {"eks missing", "eks", {}, 403, "MissingAuthenticationTokenException"},
      {"eks unknown key", "eks", unknown, 403, "UnrecognizedClientException"},
      {"eks bad signature", "eks", bad_secret, 403, "InvalidSignatureException"},
      {"eks skew", "eks", skewed, 403, "InvalidSignatureException"},
  };
  for (auto c : cases) {
    if (c.spec.access_key != std::string(kFakeAccessKey) || !c.spec.session_token.empty() ||
        c.spec.secret_key != std::string(kFakeSecretKey) || c.spec.when) {
      c.spec.service = c.service;
    }
    auto [status, code] = call(c.service, c.spec);
    EXPECT_EQ(status, c.status) << c.name;
    EXPECT_EQ(code, c.code) << c.name;
  }
  // A correctly signed request four minutes off is still accepted.
  EXPECT_EQ(call("ec2", SignSpec{.service = "ec2", .when = at("2026-03-01T11:56:00Z")}).first, 200);
}

// An Authorization header that does not parse is IncompleteSignature (EKS: ...Exception).
TEST_F(AuthTest, MalformedAuthorizationIsIncompleteSignature) {
  aws_->addCluster({.name = "prod"});
  httplib::Headers h = {{"Host", host()},
                        {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE"},
                        {"X-Amz-Date", formatAmzDate(clock_->now())}};
  auto res = client_->Post("/", h, "Action=DescribeKeyPairs&Version=2016-11-15",
                           "application/x-www-form-urlencoded");
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "IncompleteSignature");
  res = client_->Post("/", h, "Action=DescribeAutoScalingGroups&Version=2011-01-01",
                      "application/x-www-form-urlencoded");
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(xmlText(res->body, "Code"), "IncompleteSignature");
  res = client_->Get("/clusters/prod/node-groups", h);
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(res->get_header_value("X-Amzn-ErrorType").substr(0, 28),
            "IncompleteSignatureException");
}

// A request whose scope names another region is rejected when the fake pins a region.
TEST(FakeAwsRegion, ScopeRegionMustMatch) {
  auto clock = std::make_shared<FakeClock>(parseRfc3339("2026-03-01T12:00:00Z").value());
  FakeAws aws({.clock = clock, .region = "eu-west-1"});
  ASSERT_TRUE(aws.start());
  httplib::Client client("127.0.0.1", aws.port());
  std::string host = "127.0.0.1:" + std::to_string(aws.port());
  SentRequest r{"POST",
                "/",
                "Action=GetCallerIdentity&Version=2011-06-15",
                "application/x-www-form-urlencoded",
                {}};
  signInto(r, host, {.service = "sts"}, clock->now());
  auto res = client.Post("/", r.headers, r.body, r.content_type.c_str());
  EXPECT_EQ(res->status, 403);
  EXPECT_NE(res->body.find("SignatureDoesNotMatch"), std::string::npos);
  aws.stop();
}

// Throttling and 5xx faults answer with each service's real code and status, then retire.
TEST_F(FakeAwsTest, InjectedFaultsUseRealCodes) {
  aws_->addCluster({.name = "prod"});
  struct Case {
    std::string service;
    FaultKind kind;
    int status;
    std::string code;
  };
  std::vector<Case> cases = {
      {"ec2", FaultKind::Throttle, 503, "RequestLimitExceeded"},
      {"ec2", FaultKind::ServerError, 500, "InternalError"},
      {"ec2", FaultKind::Unavailable, 503, "Unavailable"},
      {"autoscaling", FaultKind::Throttle, 400, "Throttling"},
      {"autoscaling", FaultKind::ServerError, 500, "InternalFailure"},
      {"sts", FaultKind::Throttle, 400, "Throttling"},
      {"sns", FaultKind::Throttle, 429, "Throttled"},
      {"eks", FaultKind::Throttle, 400, "InvalidRequestException"},
      {"eks", FaultKind::ServerError, 500, "ServerException"},
      {"eks", FaultKind::Unavailable, 503, "ServiceUnavailableException"},
  };
  for (const auto& c : cases) {
    aws_->addFault({.service = c.service, .kind = c.kind, .count = 1});
    std::string code;
    int status = 0;
    if (c.service == "eks") {
      auto res = eksGet("/clusters/prod/node-groups");
      status = res->status;
      std::string type = res->get_header_value("X-Amzn-ErrorType");
      code = type.substr(0, type.find(':'));
    } else {
      std::string body = c.service == "ec2" ? "Action=DescribeKeyPairs&Version=2016-11-15"
                         : c.service == "autoscaling"
                             ? "Action=DescribeAutoScalingGroups&Version=2011-01-01"
                         : c.service == "sts" ? "Action=GetCallerIdentity&Version=2011-06-15"
                                              : "Action=Publish&Version=2010-03-31";
      auto res = query(c.service, body);
      status = res->status;
      code = xmlText(res->body, "Code");
    }
    EXPECT_EQ(status, c.status) << c.service << " " << c.code;
    EXPECT_EQ(code, c.code) << c.service;
  }
  // Each rule fired once and retired.
  EXPECT_EQ(ec2("Action=DescribeKeyPairs")->status, 200);
}

// "Next N calls fail" rules are scoped to an operation, and the call log records them.
TEST_F(FakeAwsTest, NextNCallsFailForOneOperation) {
  aws_->addFault(
      {.service = "ec2", .operation = "DescribeImages", .kind = FaultKind::Throttle, .count = 2});
  EXPECT_EQ(ec2("Action=DescribeImages")->status, 503);
  EXPECT_EQ(ec2("Action=DescribeKeyPairs")->status, 200);
  EXPECT_EQ(ec2("Action=DescribeImages")->status, 503);
  EXPECT_EQ(ec2("Action=DescribeImages")->status, 200);
  auto calls = aws_->calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].error_code, "RequestLimitExceeded");
  EXPECT_EQ(calls[1].operation, "DescribeKeyPairs");
  EXPECT_EQ(aws_->callCount("ec2", "DescribeImages"), 3);
}

// A rate-based fault with a fixed seed fails a deterministic share of calls.
TEST(FakeAwsFaults, RateFaultsAreDeterministicForASeed) {
  auto run = [](uint64_t seed) {
    auto clock = std::make_shared<FakeClock>(parseRfc3339("2026-03-01T12:00:00Z").value());
    FakeAws aws({.clock = clock, .seed = seed});
    EXPECT_TRUE(aws.start());
    aws.addFault({.service = "ec2", .kind = FaultKind::ServerError, .rate = 0.5});
    httplib::Client client("127.0.0.1", aws.port());
    std::string host = "127.0.0.1:" + std::to_string(aws.port());
    std::string pattern;
    for (int i = 0; i < 20; ++i) {
      SentRequest r{"POST",
                    "/",
                    "Action=DescribeKeyPairs&Version=2016-11-15",
                    "application/x-www-form-urlencoded",
                    {}};
      signInto(r, host, {.service = "ec2"}, clock->now());
      pattern +=
          client.Post("/", r.headers, r.body, r.content_type.c_str())->status == 200 ? '.' : 'x';
    }
    aws.stop();
    return pattern;
  };
  std::string a = run(7);
  EXPECT_EQ(a, run(7));
  EXPECT_NE(a.find('x'), std::string::npos);
  EXPECT_NE(a.find('.'), std::string::npos);
}

// A dropped connection gives the client no response at all; latency delays but answers.
TEST_F(FakeAwsTest, DropAndLatencyFaults) {
  aws_->addFault({.service = "ec2", .kind = FaultKind::Drop, .count = 1});
  auto res = ec2("Action=DescribeKeyPairs");
  EXPECT_FALSE(res);
  aws_->addFault({.service = "ec2",
                  .kind = FaultKind::Latency,
                  .count = 1,
                  .latency = std::chrono::milliseconds(200)});
  auto start = std::chrono::steady_clock::now();
  res = ec2("Action=DescribeKeyPairs");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
}

// Faults and auto-completion can come from a seed; /_fake/seed applies one to a running server
// and /_fake/state shows the result.
TEST_F(FakeAwsTest, SeedFaultsAndAdminEndpoints) {
  ASSERT_TRUE(
      aws_->loadSeed("faults: [{service: ec2, operation: DescribeKeyPairs, kind: throttle, "
                     "count: 1}]"));
  EXPECT_EQ(ec2("Action=DescribeKeyPairs")->status, 503);
  EXPECT_EQ(ec2("Action=DescribeKeyPairs")->status, 200);
  EXPECT_FALSE(aws_->loadSeed("faults: [{kind: explode}]"));
  httplib::Headers h = {{"Host", host()}};
  auto res =
      client_->Post("/_fake/seed", h, "images: [{id: ami-0123456789abcdef0, name: via-admin}]",
                    "application/yaml");
  ASSERT_EQ(res->status, 204) << res->body;
  res = client_->Get("/_fake/state", h);
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("\"name\":\"via-admin\""), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("\"code\":\"RequestLimitExceeded\""), std::string::npos);
  EXPECT_EQ(aws_->callCount("ec2", ""), 2);  // admin paths are not AWS calls
}

// The example seed shipped for the demo stays loadable.
TEST(FakeAwsSeed, ExampleSeedLoads) {
  std::ifstream in(std::string(OPSY_TEST_DATA_DIR) + "/fake_aws/example-seed.yaml");
  std::stringstream text;
  text << in.rdbuf();
  FakeAws aws;
  auto st = aws.loadSeed(text.str());
  ASSERT_TRUE(st) << st.error().toString();
  EXPECT_EQ(aws.nodegroup("demo", "workers")->asg_names,
            std::vector<std::string>{"eks-workers-0a1b2c3d"});
  EXPECT_EQ(aws.autoScalingGroup("demo-self-managed")->tags.size(), 1u);
}

// The seed document loads every kind of resource.
TEST(FakeAwsSeed, LoadsYamlSeed) {
  FakeAws aws;
  auto st = aws.loadSeed(R"(
images:
  - {id: ami-0123456789abcdef0, name: base, owner: "602401143452", public: true,
     tags: {status: active}, snapshotIds: [snap-0123456789abcdef0]}
launchTemplates:
  - {id: lt-0123456789abcdef0, name: nodes, versions: [{imageId: ami-0123456789abcdef0}]}
nodegroups:
  - {cluster: prod, name: ng-a, launchTemplate: {id: lt-0123456789abcdef0, version: "1"},
     asgNames: [asg-a], scaling: {min: 1, max: 4, desired: 2}}
autoScalingGroups:
  - {name: asg-a, tags: {team: a}}
securityGroups: [{id: sg-0123456789abcdef0, name: g}]
keyPairs: [{id: key-0123456789abcdef0, name: k}]
)");
  ASSERT_TRUE(st) << st.error().toString();
  EXPECT_EQ(aws.image("ami-0123456789abcdef0")->tags.at("status"), "active");
  EXPECT_EQ(aws.launchTemplate("nodes")->versions.size(), 1u);
  EXPECT_EQ(aws.nodegroup("prod", "ng-a")->scaling.max_size, 4);
  EXPECT_TRUE(aws.autoScalingGroup("asg-a"));
  EXPECT_EQ(aws.securityGroups().size(), 1u);
  EXPECT_EQ(aws.keyPairs().size(), 1u);
  EXPECT_FALSE(aws.loadSeed("images: [ {id: [unclosed"));
}

}  // namespace
}  // namespace opsy::testing

#include "opsy/aws/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"
#include "support/scripted_transport.h"

namespace opsy::aws {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// A scratch directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("opsy-aws-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary | std::ios::trunc) << content;
    return (path_ / name).string();
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TimePoint at(const char* rfc3339) {
  return parseRfc3339(rfc3339).value();
}

constexpr const char* kStsResponse =
    R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAWEBIDENTITY1</AccessKeyId>
      <SecretAccessKey>web-identity-secret-1</SecretAccessKey>
      <SessionToken>web-identity-session-token-1</SessionToken>
      <Expiration>2026-01-01T01:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/opsy/s</Arn></AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";

// Environment keys are used as they are, with the optional session token.
TEST(EnvironmentProvider, ReadsKeysAndSessionToken) {
  auto p = makeEnvironmentProvider(mapEnv({{"AWS_ACCESS_KEY_ID", "AKIAENV"},
                                           {"AWS_SECRET_ACCESS_KEY", "env-secret-key"},
                                           {"AWS_SESSION_TOKEN", "env-session-token"}}));
  auto c = p->credentials();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->access_key_id, "AKIAENV");
  EXPECT_EQ(c->secret_access_key, "env-secret-key");
  EXPECT_EQ(c->session_token, "env-session-token");
}

// No variables means "not configured" (NotFound), so a chain moves on.
TEST(EnvironmentProvider, UnsetIsNotFound) {
  auto c = makeEnvironmentProvider(mapEnv({}))->credentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::NotFound);
}

// Half a key pair is a configuration mistake, not an absent source.
TEST(EnvironmentProvider, HalfConfiguredIsAnError) {
  auto c = makeEnvironmentProvider(mapEnv({{"AWS_ACCESS_KEY_ID", "AKIAENV"}}))->credentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::FailedPrecondition);
}

// AWS_PROFILE selects a [name] section of the credentials file.
TEST(ProfileProvider, ReadsNamedProfileFromCredentialsFile) {
  TempDir dir;
  std::string creds = dir.write("credentials",
                                "[default]\naws_access_key_id = AKIADEFAULT\n"
                                "aws_secret_access_key = default-secret\n"
                                "# comment\n[ci]\naws_access_key_id=AKIACI\n"
                                "aws_secret_access_key = ci-secret-key\n"
                                "aws_session_token = ci-session-token\n");
  auto c = makeProfileProvider(mapEnv({{"AWS_SHARED_CREDENTIALS_FILE", creds},
                                       {"AWS_CONFIG_FILE", dir.write("config", "")},
                                       {"AWS_PROFILE", "ci"}}))
               ->credentials();
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_EQ(c->access_key_id, "AKIACI");
  EXPECT_EQ(c->secret_access_key, "ci-secret-key");
  EXPECT_EQ(c->session_token, "ci-session-token");
}

// In the config file a named profile is a [profile name] section.
TEST(ProfileProvider, ReadsProfileSectionFromConfigFile) {
  TempDir dir;
  std::string config =
      dir.write("config",
                "[profile ops]\nregion = eu-west-1\n"
                "aws_access_key_id = AKIAOPS\naws_secret_access_key = ops-secret\n");
  auto c =
      makeProfileProvider(mapEnv({{"AWS_SHARED_CREDENTIALS_FILE", dir.write("credentials", "")},
                                  {"AWS_CONFIG_FILE", config},
                                  {"AWS_PROFILE", "ops"}}))
          ->credentials();
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_EQ(c->access_key_id, "AKIAOPS");
}

// Without AWS_PROFILE or HOME the default profile is simply absent (NotFound); a profile asked
// for by name that does not exist is an error the chain must not skip.
TEST(ProfileProvider, MissingProfileIsNotFoundUnlessNamed) {
  TempDir dir;
  auto env = std::map<std::string, std::string>{
      {"AWS_SHARED_CREDENTIALS_FILE", dir.write("credentials", "[other]\n")},
      {"AWS_CONFIG_FILE", dir.write("config", "")}};
  EXPECT_EQ(makeProfileProvider(mapEnv(env))->credentials().error().code, ErrorCode::NotFound);
  env["AWS_PROFILE"] = "missing";
  EXPECT_EQ(makeProfileProvider(mapEnv(env))->credentials().error().code,
            ErrorCode::FailedPrecondition);
}

// IRSA sends an unsigned AssumeRoleWithWebIdentity with the token file's content to regional STS.
TEST(WebIdentityProvider, ExchangesTokenFileWithUnsignedSts) {
  TempDir dir;
  auto transport = std::make_shared<test::ScriptedTransport>();
  transport->expect("POST", "https://sts.eu-west-1.amazonaws.com/").reply(200, kStsResponse);
  auto clock = std::make_shared<FakeClock>(at("2026-01-01T00:00:00Z"));
  auto p = makeWebIdentityProvider(
      mapEnv({{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/opsy"},
              {"AWS_WEB_IDENTITY_TOKEN_FILE", dir.write("token", "jwt-token-one\n")},
              {"AWS_ROLE_SESSION_NAME", "opsy-test"},
              {"AWS_REGION", "eu-west-1"}}),
      transport, clock);
  auto c = p->credentials();
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_EQ(c->access_key_id, "ASIAWEBIDENTITY1");
  EXPECT_EQ(c->session_token, "web-identity-session-token-1");
  EXPECT_EQ(c->expiration, at("2026-01-01T01:00:00Z"));
  http::Request sent = transport->lastRequest();
  EXPECT_EQ(sent.body,
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
            "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fopsy&RoleSessionName=opsy-test"
            "&WebIdentityToken=jwt-token-one&DurationSeconds=3600");
  EXPECT_FALSE(http::findHeader(sent.headers, "Authorization").has_value());
}

// The kubelet rotates the projected token: each refresh reads the file again and sends the new one.
TEST(WebIdentityProvider, RereadsRotatedTokenOnEveryRefresh) {
  TempDir dir;
  std::string token_file = dir.write("token", "jwt-token-one");
  auto transport = std::make_shared<test::ScriptedTransport>();
  transport->reply(200, kStsResponse);
  transport->reply(200, kStsResponse);
  auto clock = std::make_shared<FakeClock>(at("2026-01-01T00:00:00Z"));
  auto p = makeCachingProvider(
      makeWebIdentityProvider(mapEnv({{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/opsy"},
                                      {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file},
                                      {"AWS_REGION", "us-east-1"}}),
                              transport, clock),
      clock);
  ASSERT_TRUE(p->credentials().has_value());
  dir.write("token", "jwt-token-two");
  clock->advance(std::chrono::minutes(56));  // within 5 minutes of the 01:00 expiry
  ASSERT_TRUE(p->credentials().has_value());
  auto requests = transport->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0].body, HasSubstr("WebIdentityToken=jwt-token-one"));
  EXPECT_THAT(requests[1].body, HasSubstr("WebIdentityToken=jwt-token-two"));
}

// Without any region the global STS endpoint is used (still unsigned).
TEST(WebIdentityProvider, NoRegionUsesGlobalEndpoint) {
  TempDir dir;
  auto transport = std::make_shared<test::ScriptedTransport>();
  transport->expect("POST", "https://sts.amazonaws.com/").reply(200, kStsResponse);
  auto p = makeWebIdentityProvider(mapEnv({{"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"},
                                           {"AWS_WEB_IDENTITY_TOKEN_FILE", dir.write("t", "tok")}}),
                                   transport, std::make_shared<FakeClock>());
  auto c = p->credentials();
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_THAT(transport->lastRequest().body, HasSubstr("RoleSessionName=opsy-"));
}

// An STS error keeps its code, status and request id for the operator to act on.
TEST(WebIdentityProvider, StsErrorIsTyped) {
  TempDir dir;
  auto transport = std::make_shared<test::ScriptedTransport>();
  transport->reply(400,
                   "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                   "<Message>bad audience</Message></Error><RequestId>rid-9</RequestId>"
                   "</ErrorResponse>");
  auto p = makeWebIdentityProvider(mapEnv({{"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"},
                                           {"AWS_WEB_IDENTITY_TOKEN_FILE", dir.write("token", "t")},
                                           {"AWS_REGION", "us-east-1"}}),
                                   transport, std::make_shared<FakeClock>());
  auto c = p->credentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::Unauthenticated);
  EXPECT_EQ(c.error().provider_code, "InvalidIdentityToken");
  EXPECT_EQ(c.error().request_id, "rid-9");
}

constexpr const char* kContainerJson =
    R"({"AccessKeyId":"ASIAPODID","SecretAccessKey":"pod-identity-secret","Token":"pod-identity-token","Expiration":"2026-01-01T06:00:00Z","AccountId":"123456789012"})";

// Pod Identity: GET the full URI with the token file's content as Authorization.
TEST(ContainerProvider, SendsTokenFileAsAuthorization) {
  TempDir dir;
  auto transport = std::make_shared<test::ScriptedTransport>();
  transport->expect("GET", "http://127.0.0.1:8099/v1/credentials").reply(200, kContainerJson);
  auto p = makeContainerProvider(
      mapEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/v1/credentials"},
              {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", dir.write("token", "pod-token-abc\n")},
              {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored-env-token"}}),
      transport);
  auto c = p->credentials();
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_EQ(c->access_key_id, "ASIAPODID");
  EXPECT_EQ(c->session_token, "pod-identity-token");
  EXPECT_EQ(c->expiration, at("2026-01-01T06:00:00Z"));
  EXPECT_EQ(http::findHeader(transport->lastRequest().headers, "Authorization"), "pod-token-abc");
}

// The ECS relative URI is appended to the fixed task-metadata address.
TEST(ContainerProvider, RelativeUriUsesEcsAddress) {
  auto transport = std::make_shared<test::ScriptedTransport>();
  transport->expect("GET", "http://169.254.170.2/v2/credentials/abc").reply(200, kContainerJson);
  auto c =
      makeContainerProvider(
          mapEnv({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"}}), transport)
          ->credentials();
  EXPECT_TRUE(c.has_value());
}

// Only loopback and the documented link-local addresses may receive the authorization token.
TEST(ContainerProvider, RejectsDisallowedHost) {
  auto transport = std::make_shared<test::ScriptedTransport>();
  auto c = makeContainerProvider(
               mapEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://evil.example.com/creds"}}),
               transport)
               ->credentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::FailedPrecondition);
  EXPECT_TRUE(transport->requests().empty());
}

// A token with CR or LF could inject headers, so it is refused before any request.
TEST(ContainerProvider, RejectsTokenWithLineBreak) {
  auto transport = std::make_shared<test::ScriptedTransport>();
  auto c = makeContainerProvider(
               mapEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/creds"},
                       {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "abc\r\nX-Evil: 1"}}),
               transport)
               ->credentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_TRUE(transport->requests().empty());
}

constexpr const char* kImdsJson =
    R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS","SecretAccessKey":"imds-secret-key","Token":"imds-session-token","Expiration":"2026-01-01T06:00:00Z"})";

// IMDSv2: PUT a session token, then read the role name and its credentials with that token.
TEST(ImdsProvider, UsesSessionTokenForRoleAndCredentials) {
  auto transport = std::make_shared<test::ScriptedTransport>();
  transport->expect("PUT", "http://127.0.0.1:1338/latest/api/token").reply(200, "imds-token-xyz");
  transport->expect("GET", "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/")
      .reply(200, "node-role\n");
  transport
      ->expect("GET", "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/node-role")
      .reply(200, kImdsJson);
  auto c = makeImdsProvider(
               mapEnv({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338/"}}), transport)
               ->credentials();
  ASSERT_TRUE(c.has_value()) << c.error().toString();
  EXPECT_EQ(c->access_key_id, "ASIAIMDS");
  auto requests = transport->requests();
  EXPECT_EQ(http::findHeader(requests[0].headers, "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
  EXPECT_EQ(http::findHeader(requests[1].headers, "X-aws-ec2-metadata-token"), "imds-token-xyz");
  EXPECT_EQ(http::findHeader(requests[2].headers, "X-aws-ec2-metadata-token"), "imds-token-xyz");
}

// AWS_EC2_METADATA_DISABLED=true means IMDS is never contacted.
TEST(ImdsProvider, DisabledByEnvironment) {
  auto transport = std::make_shared<test::ScriptedTransport>();
  auto c =
      makeImdsProvider(mapEnv({{"AWS_EC2_METADATA_DISABLED", "true"}}), transport)->credentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::NotFound);
  EXPECT_TRUE(transport->requests().empty());
}

// The first provider that yields wins; nothing after it is asked.
TEST(ChainProvider, FirstConfiguredProviderWins) {
  auto transport = std::make_shared<test::ScriptedTransport>();
  auto chain =
      makeChainProvider({makeEnvironmentProvider(mapEnv({})),
                         makeEnvironmentProvider(mapEnv({{"AWS_ACCESS_KEY_ID", "AKIASECOND"},
                                                         {"AWS_SECRET_ACCESS_KEY", "second-key"}})),
                         makeImdsProvider(mapEnv({}), transport)});
  auto c = chain->credentials();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->access_key_id, "AKIASECOND");
  EXPECT_TRUE(transport->requests().empty());
}

// When nothing yields, the error names every provider tried and why it failed.
TEST(ChainProvider, FinalErrorListsEveryProvider) {
  auto chain = makeChainProvider(
      {makeEnvironmentProvider(mapEnv({})),
       makeContainerProvider(mapEnv({}), std::make_shared<test::ScriptedTransport>()),
       makeImdsProvider(mapEnv({{"AWS_EC2_METADATA_DISABLED", "true"}}),
                        std::make_shared<test::ScriptedTransport>())});
  auto c = chain->credentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::Unauthenticated);
  EXPECT_THAT(c.error().message, HasSubstr("environment: AWS_ACCESS_KEY_ID is not set"));
  EXPECT_THAT(c.error().message, HasSubstr("container: AWS_CONTAINER_CREDENTIALS_FULL_URI"));
  EXPECT_THAT(c.error().message, HasSubstr("imds: disabled by AWS_EC2_METADATA_DISABLED"));
}

// A configured source that fails stops the chain rather than silently using another identity.
TEST(ChainProvider, ConfiguredFailureStopsTheChain) {
  auto transport = std::make_shared<test::ScriptedTransport>();
  transport->reply(500, "");
  auto imds = std::make_shared<test::ScriptedTransport>();
  auto chain = makeChainProvider(
      {makeContainerProvider(mapEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/c"}}),
                             transport),
       makeImdsProvider(mapEnv({}), imds)});
  auto c = chain->credentials();
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::Unavailable);
  EXPECT_TRUE(imds->requests().empty());
}

// Counts calls and hands out credentials expiring at a fixed offset from the fake clock.
class CountingProvider : public CredentialsProvider {
 public:
  CountingProvider(ClockPtr clock, Duration lifetime) : clock_(clock), lifetime_(lifetime) {}
  Result<Credentials> credentials() override {
    ++calls;
    if (fail_next) {
      return fail(ErrorCode::Unavailable, "sts down");
    }
    Credentials c;
    c.access_key_id = "ASIA" + std::to_string(calls);
    c.secret_access_key = "secret-" + std::to_string(calls);
    c.expiration = clock_->now() + lifetime_;
    return c;
  }
  std::string name() const override { return "counting"; }
  int calls = 0;
  bool fail_next = false;

 private:
  ClockPtr clock_;
  Duration lifetime_;
};

// Cached credentials are reused until they are within 5 minutes of expiry, then refreshed.
TEST(CachingProvider, RefreshesFiveMinutesBeforeExpiry) {
  auto clock = std::make_shared<FakeClock>(at("2026-01-01T00:00:00Z"));
  auto inner = std::make_shared<CountingProvider>(clock, std::chrono::hours(1));
  auto p = makeCachingProvider(inner, clock);
  EXPECT_EQ(p->credentials()->access_key_id, "ASIA1");
  clock->advance(std::chrono::minutes(54));
  EXPECT_EQ(p->credentials()->access_key_id, "ASIA1");
  clock->advance(std::chrono::minutes(1) + std::chrono::seconds(1));
  EXPECT_EQ(p->credentials()->access_key_id, "ASIA2");
  EXPECT_EQ(inner->calls, 2);
}

// A failed refresh keeps serving credentials that have not actually expired yet.
TEST(CachingProvider, FailedRefreshKeepsStillValidCredentials) {
  auto clock = std::make_shared<FakeClock>(at("2026-01-01T00:00:00Z"));
  auto inner = std::make_shared<CountingProvider>(clock, std::chrono::hours(1));
  auto p = makeCachingProvider(inner, clock);
  ASSERT_TRUE(p->credentials().has_value());
  inner->fail_next = true;
  clock->advance(std::chrono::minutes(58));
  EXPECT_EQ(p->credentials()->access_key_id, "ASIA1");
  clock->advance(std::chrono::minutes(3));
  EXPECT_FALSE(p->credentials().has_value());
}

// Concurrent callers of the cache trigger a single fetch.
TEST(CachingProvider, ThreadSafeSingleFetch) {
  auto clock = std::make_shared<FakeClock>(at("2026-01-01T00:00:00Z"));
  auto inner = std::make_shared<CountingProvider>(clock, std::chrono::hours(1));
  auto p = makeCachingProvider(inner, clock);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] { EXPECT_TRUE(p->credentials().has_value()); });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(inner->calls, 1);
}

}  // namespace
}  // namespace opsy::aws

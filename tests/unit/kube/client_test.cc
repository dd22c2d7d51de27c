#include "opsy/kube/client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "mocks/kube_client_mock.h"
#include "opsy/core/fake_clock.h"
#include "opsy/kube/objects.h"
#include "support/kube_scripted_transport.h"

namespace opsy::kube {
namespace {

constexpr const char* kServer = "https://k8s.test:6443";

std::string status(int code, const std::string& reason, const std::string& message,
                   const std::string& details = "") {
  return R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":")" + message +
         R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) +
         (details.empty() ? "" : R"(,"details":)" + details) + "}";
}

class CountingTokens : public CredentialSource {
 public:
  Result<Credential> credential() override {
    Credential c;
    c.token = "token-" + std::to_string(generation_);
    return c;
  }
  void invalidate() override { ++generation_; }
  int generation_ = 1;
};

class ClientTest : public ::testing::Test {
 protected:
  ClientTest() {
    RestConfig cfg;
    cfg.server = std::string(kServer) + "/";
    cfg.credentials = tokens_;
    ClientOptions options;
    options.retry.random = [] { return 0.0; };
    client_ = makeClient(cfg, transport_, clock_, options);
  }

  std::shared_ptr<ScriptedTransport> transport_ = std::make_shared<ScriptedTransport>();
  std::shared_ptr<CountingTokens> tokens_ = std::make_shared<CountingTokens>();
  FakeClock clock_;
  ClientPtr client_;
};

// Paths follow the core (/api) and named-group (/apis) layouts, with namespace and subresource.
TEST(ResourcePath, CoreAndGroupLayouts) {
  Resource cr{"ami.refresh.ops", "v1alpha1", "packerbuilders", "PackerBuilder", true};
  Resource nodes{"", "v1", "nodes", "Node", false};
  struct Case {
    std::string got;
    std::string want;
  } cases[] = {
      {resourcePath(resources::pods(), "ci", "p1"), "/api/v1/namespaces/ci/pods/p1"},
      {resourcePath(resources::pods(), "", ""), "/api/v1/pods"},
      {resourcePath(resources::jobs(), "ci", "b", "status"),
       "/apis/batch/v1/namespaces/ci/jobs/b/status"},
      {resourcePath(cr, "team", ""),
       "/apis/ami.refresh.ops/v1alpha1/namespaces/team/packerbuilders"},
      {resourcePath(nodes, "ignored", "n1"), "/api/v1/nodes/n1"},
      {resourcePath(resources::leases(), "kube-system", "opsy"),
       "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/opsy"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.got, c.want);
  }
}

// get sends an authenticated GET to the object's path and decodes the reply.
TEST_F(ClientTest, GetSendsBearerTokenAndDecodes) {
  transport_->reply(
      "GET", "/api/v1/namespaces/ci/pods/p1",
      ScriptedReply::ok(
          R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1",)"
          R"("namespace":"ci","resourceVersion":"12"},"status":{"phase":"Running"}})"));
  auto obj = client_->get(resources::pods(), "ci", "p1");
  ASSERT_TRUE(obj.has_value()) << obj.error().toString();
  EXPECT_EQ(obj->metadata.resource_version, "12");
  EXPECT_EQ(obj->getString("/status/phase"), "Running");
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].request.method, "GET");
  EXPECT_EQ(reqs[0].request.url, "https://k8s.test:6443/api/v1/namespaces/ci/pods/p1");
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer token-1");
  EXPECT_EQ(reqs[0].header("Accept"), "application/json");
}

// list follows continue tokens, returns every item, and reports the collection's resourceVersion.
TEST_F(ClientTest, ListFollowsContinueTokens) {
  transport_->reply(
      "GET", "/apis/batch/v1/namespaces/ci/jobs",
      ScriptedReply::ok(R"({"kind":"JobList","metadata":{"resourceVersion":"100",)"
                        R"("continue":"tok 1"},"items":[{"metadata":{"name":"a"}}]})"));
  transport_->reply(
      "GET", "/apis/batch/v1/namespaces/ci/jobs",
      ScriptedReply::ok(R"({"kind":"JobList","metadata":{"resourceVersion":"100"},)"
                        R"("items":[{"metadata":{"name":"b"}},{"metadata":{"name":"c"}}]})"));
  ListOptions options;
  options.label_selector = "app=packer,tier in (a,b)";
  options.page_size = 1;
  auto list = client_->list(resources::jobs(), "ci", options);
  ASSERT_TRUE(list.has_value()) << list.error().toString();
  ASSERT_EQ(list->items.size(), 3u);
  EXPECT_EQ(list->items[2].metadata.name, "c");
  EXPECT_EQ(list->items[0].kind, "Job");
  EXPECT_EQ(list->items[0].api_version, "batch/v1");
  EXPECT_EQ(list->resource_version, "100");
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].query.at("labelSelector"), "app=packer,tier in (a,b)");
  EXPECT_EQ(reqs[0].query.at("limit"), "1");
  EXPECT_EQ(reqs[0].query.count("continue"), 0u);
  EXPECT_EQ(reqs[1].query.at("continue"), "tok 1");
  EXPECT_NE(reqs[0].request.url.find("labelSelector=app%3Dpacker%2Ctier%20in%20%28a%2Cb%29"),
            std::string::npos);
}

// Fields this code does not model survive get -> modify -> update unchanged.
TEST_F(ClientTest, UnknownFieldsSurviveGetModifyUpdate) {
  transport_->reply(
      "GET", "/apis/batch/v1/namespaces/ci/jobs/j",
      ScriptedReply::ok(
          R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","namespace":"ci",)"
          R"("resourceVersion":"7","managedFields":[{"manager":"x"}]},)"
          R"("spec":{"backoffLimit":2,"podFailurePolicy":{"rules":[{"action":"Ignore"}]},)"
          R"("template":{"spec":{"restartPolicy":"Never"}}},"futureField":{"a":[1,2]}})"));
  transport_->reply(
      "PUT", "/apis/batch/v1/namespaces/ci/jobs/j",
      ScriptedReply::ok(R"({"metadata":{"name":"j","namespace":"ci","resourceVersion":"8"}})"));
  auto job = getTyped<Job>(*client_, "ci", "j");
  ASSERT_TRUE(job.has_value()) << job.error().toString();
  job->metadata.labels["owner"] = "opsy";
  job->backoff_limit = 4;
  auto stored = updateTyped(*client_, *job);
  ASSERT_TRUE(stored.has_value()) << stored.error().toString();
  EXPECT_EQ(stored->metadata.resource_version, "8");

  auto put = transport_->requests().back();
  EXPECT_EQ(put.request.method, "PUT");
  EXPECT_EQ(put.header("Content-Type"), "application/json");
  auto sent = Object::parse(put.request.body);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->metadata.resource_version, "7");
  EXPECT_EQ(sent->metadata.labels.at("owner"), "opsy");
  EXPECT_EQ(sent->getInt("/spec/backoffLimit"), 4);
  EXPECT_EQ(sent->getString("/spec/podFailurePolicy/rules/0/action"), "Ignore");
  EXPECT_EQ(sent->getString("/spec/template/spec/restartPolicy"), "Never");
  EXPECT_EQ(sent->getJson("/futureField"), R"({"a":[1,2]})");
  EXPECT_EQ(sent->getString("/metadata/managedFields/0/manager"), "x");
}

// A stale resourceVersion on update comes back as Conflict with the reason and audit id kept.
TEST_F(ClientTest, UpdateConflictIsConflict) {
  transport_->reply(
      "PUT", "/api/v1/namespaces/ci/secrets/s",
      ScriptedReply::withStatus(409, status(409, "Conflict", "the object has been modified"),
                                {{"Audit-Id", "audit-123"}}));
  Object obj(resources::secrets(), "ci", "s");
  obj.metadata.resource_version = "3";
  auto r = client_->update(resources::secrets(), obj, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Conflict);
  EXPECT_EQ(r.error().provider_code, "Conflict");
  EXPECT_EQ(r.error().request_id, "audit-123");
  EXPECT_EQ(r.error().http_status, 409);
  EXPECT_NE(r.error().message.find("update secrets ci/s"), std::string::npos);
  EXPECT_EQ(transport_->requests().size(), 1u);
}

// Status bodies map to canonical codes by reason, falling back to the HTTP status.
TEST_F(ClientTest, StatusReasonsMapToErrorCodes) {
  struct Case {
    int http;
    std::string reason;
    ErrorCode want;
  } cases[] = {
      {404, "NotFound", ErrorCode::NotFound},
      {409, "AlreadyExists", ErrorCode::AlreadyExists},
      {409, "Conflict", ErrorCode::Conflict},
      {422, "Invalid", ErrorCode::InvalidArgument},
      {400, "BadRequest", ErrorCode::InvalidArgument},
      {403, "Forbidden", ErrorCode::PermissionDenied},
      {410, "Expired", ErrorCode::Gone},
      {410, "Gone", ErrorCode::Gone},
      {504, "Timeout", ErrorCode::Unavailable},
      {500, "ServerTimeout", ErrorCode::Unavailable},
      {503, "", ErrorCode::Unavailable},
      {404, "", ErrorCode::NotFound},
      {418, "", ErrorCode::Internal},
  };
  for (const auto& c : cases) {
    ScriptedTransport t;
    t.reply("PATCH", "/api/v1/namespaces/ci/pods/p",
            ScriptedReply::withStatus(c.http,
                                      c.reason.empty() ? "oops" : status(c.http, c.reason, "m")));
    RestConfig cfg;
    cfg.server = kServer;
    auto client =
        makeClient(cfg, std::shared_ptr<ScriptedTransport>(&t, [](ScriptedTransport*) {}), clock_);
    auto r = client->patch(resources::pods(), "ci", "p", PatchType::Merge, "{}", {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, c.want) << c.http << " " << c.reason;
    EXPECT_EQ(r.error().provider_code, c.reason);
  }
}

// An Invalid status keeps each cause's field path in the message.
TEST_F(ClientTest, InvalidKeepsCauseFields) {
  transport_->reply(
      "POST", "/apis/batch/v1/namespaces/ci/jobs",
      ScriptedReply::withStatus(
          422, status(422, "Invalid", "Job.batch \\\"x\\\" is invalid",
                      R"({"causes":[{"reason":"FieldValueRequired","message":"Required value",)"
                      R"("field":"spec.template.spec.containers"}]})")));
  auto r = client_->create(resources::jobs(), Object(resources::jobs(), "ci", "x"), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(r.error().message.find("spec.template.spec.containers: Required value"),
            std::string::npos)
      << r.error().message;
}

// A 429 becomes Throttled with the server's Retry-After, and reads retry it after that delay.
TEST_F(ClientTest, ReadRetriesThrottleHonouringRetryAfter) {
  transport_->reply("GET", "/api/v1/namespaces/ci/pods/p",
                    ScriptedReply::withStatus(429, status(429, "TooManyRequests", "slow down"),
                                              {{"Retry-After", "3"}}));
  transport_->reply("GET", "/api/v1/namespaces/ci/pods/p",
                    ScriptedReply::withStatus(503, status(503, "ServiceUnavailable", "busy")));
  transport_->reply("GET", "/api/v1/namespaces/ci/pods/p",
                    ScriptedReply::ok(R"({"metadata":{"name":"p"}})"));
  auto r = client_->get(resources::pods(), "ci", "p");
  ASSERT_TRUE(r.has_value()) << r.error().toString();
  EXPECT_EQ(transport_->requests().size(), 3u);
  EXPECT_GE(clock_.totalSlept(), std::chrono::seconds(3));
}

// The error of a throttled call carries retry_after so callers can requeue sensibly.
TEST_F(ClientTest, ThrottledErrorCarriesRetryAfter) {
  for (int i = 0; i < 3; ++i) {
    transport_->reply("GET", "/api/v1/namespaces/ci/pods/p",
                      ScriptedReply::withStatus(429, status(429, "TooManyRequests", "slow down"),
                                                {{"Retry-After", "7"}}));
  }
  auto r = client_->get(resources::pods(), "ci", "p");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Throttled);
  EXPECT_EQ(r.error().retry_after, std::chrono::seconds(7));
}

// A create that fails with 5xx is not retried: the object may have been created.
TEST_F(ClientTest, CreateIsNotRetriedOnServerError) {
  transport_->reply("POST", "/apis/batch/v1/namespaces/ci/jobs",
                    ScriptedReply::withStatus(503, status(503, "ServiceUnavailable", "busy")));
  transport_->reply("POST", "/apis/batch/v1/namespaces/ci/jobs",
                    ScriptedReply::ok(R"({"metadata":{"name":"x"}})"));
  auto r = client_->create(resources::jobs(), Object(resources::jobs(), "ci", "x"), {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(transport_->requests().size(), 1u);
}

// A create answered 429 was never acted on, so it is retried.
TEST_F(ClientTest, CreateIsRetriedOnThrottle) {
  transport_->reply("POST", "/apis/batch/v1/namespaces/ci/jobs",
                    ScriptedReply::withStatus(429, status(429, "TooManyRequests", "slow")));
  transport_->reply("POST", "/apis/batch/v1/namespaces/ci/jobs",
                    ScriptedReply::ok(R"({"metadata":{"name":"x","uid":"u1"}})"));
  WriteOptions options;
  options.field_manager = "opsy";
  auto r = client_->create(resources::jobs(), Object(resources::jobs(), "ci", "x"), options);
  ASSERT_TRUE(r.has_value()) << r.error().toString();
  EXPECT_EQ(r->metadata.uid, "u1");
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].query.at("fieldManager"), "opsy");
  auto sent = Object::parse(reqs[0].request.body);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->api_version, "batch/v1");
  EXPECT_EQ(sent->kind, "Job");
  EXPECT_EQ(sent->metadata.ns, "ci");
}

// An Eviction is created as the pod's subresource, not in a collection of its own.
TEST_F(ClientTest, CreateSubresourcePostsToTheObjectsSubresource) {
  transport_->reply(
      "POST", "/api/v1/namespaces/shop/pods/web-1/eviction",
      ScriptedReply::withStatus(
          201, R"({"kind":"Status","apiVersion":"v1","status":"Success","code":201})"));
  Object eviction(resources::pods(), "shop", "web-1");
  eviction.api_version = "policy/v1";
  eviction.kind = "Eviction";
  auto r = client_->create(resources::pods(), eviction, {.subresource = "eviction"});
  ASSERT_TRUE(r.has_value()) << r.error().toString();
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  auto sent = Object::parse(reqs[0].request.body);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->kind, "Eviction");
  EXPECT_EQ(sent->api_version, "policy/v1");
  EXPECT_EQ(sent->metadata.name, "web-1");
}

// A PodDisruptionBudget's refusal is a 429 too, but retrying it at once cannot help: it comes
// back at once as FailedPrecondition, naming the budget, while plain throttling is retried.
TEST_F(ClientTest, EvictionRefusedByADisruptionBudgetIsNotRetried) {
  const std::string refusal = status(
      429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
      R"({"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web needs 1 healthy pods and has 1 currently"}]})");
  transport_->reply("POST", "/api/v1/namespaces/shop/pods/web-1/eviction",
                    ScriptedReply::withStatus(429, refusal));
  auto r = client_->create(resources::pods(), Object(resources::pods(), "shop", "web-1"),
                           {.subresource = "eviction"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::FailedPrecondition);
  EXPECT_EQ(r.error().provider_code, "TooManyRequests");
  EXPECT_NE(r.error().message.find("The disruption budget web needs 1 healthy pods"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(transport_->requests().size(), 1u);
}

// A 401 drops the cached credential and the request is repeated once with a fresh one.
TEST_F(ClientTest, UnauthorizedRefreshesCredentialOnce) {
  transport_->reply("GET", "/api/v1/namespaces/ci/pods/p",
                    ScriptedReply::withStatus(401, status(401, "Unauthorized", "expired")));
  transport_->reply("GET", "/api/v1/namespaces/ci/pods/p",
                    ScriptedReply::ok(R"({"metadata":{"name":"p"}})"));
  auto r = client_->get(resources::pods(), "ci", "p");
  ASSERT_TRUE(r.has_value()) << r.error().toString();
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer token-1");
  EXPECT_EQ(reqs[1].header("Authorization"), "Bearer token-2");
}

// How many times a header appears (names compare case-insensitively).
int headerCount(const RecordedRequest& r, std::string_view name) {
  int n = 0;
  for (const auto& [key, value] : r.request.headers) {
    (void)value;
    n += std::equal(key.begin(), key.end(), name.begin(), name.end(),
                    [](char a, char b) {
                      return std::tolower(static_cast<unsigned char>(a)) ==
                             std::tolower(static_cast<unsigned char>(b));
                    })
             ? 1
             : 0;
  }
  return n;
}

// A pod log is a GET of .../pods/{pod}/log with the options as query parameters, asking for text
// and carrying the token exactly once; the body comes back verbatim.
TEST_F(ClientTest, PodLogSendsOptionsAsQueryAndAcceptsText) {
  transport_->reply("GET", "/api/v1/namespaces/ci/pods/pb-j1-x/log",
                    ScriptedReply::ok("1,b,artifact,0,id,us-west-2:ami-0abc\n{\"not json\n"));
  auto text = client_->podLog(
      "ci", "pb-j1-x", {.container = "packer-build", .tail_lines = 2000, .limit_bytes = 1048576});
  ASSERT_TRUE(text.has_value()) << text.error().toString();
  EXPECT_EQ(*text, "1,b,artifact,0,id,us-west-2:ami-0abc\n{\"not json\n");
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].request.method, "GET");
  EXPECT_EQ(reqs[0].request.url,
            "https://k8s.test:6443/api/v1/namespaces/ci/pods/pb-j1-x/log"
            "?container=packer-build&tailLines=2000&limitBytes=1048576");
  EXPECT_EQ(headerCount(reqs[0], "Accept"), 1);
  EXPECT_EQ(reqs[0].header("Accept"), "text/plain");
  EXPECT_EQ(headerCount(reqs[0], "Authorization"), 1);
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer token-1");
}

// Options left unset are not sent: the server's defaults (the only container, the whole log).
TEST_F(ClientTest, PodLogWithoutOptionsSendsNoQuery) {
  transport_->reply("GET", "/api/v1/namespaces/ci/pods/p/log", ScriptedReply::ok(""));
  auto text = client_->podLog("ci", "p", {});
  ASSERT_TRUE(text.has_value()) << text.error().toString();
  EXPECT_EQ(*text, "");
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(reqs[0].query.empty());
}

// A pod log's failures map like every other call's: a missing pod is NotFound, a container not
// started InvalidArgument, RBAC PermissionDenied (none retried); a server error is retried, then
// Unavailable. Messages name the pod and container.
TEST_F(ClientTest, PodLogErrorsMapLikeEveryCall) {
  struct Case {
    int http;
    std::string reason;
    ErrorCode want;
    size_t attempts;
  } cases[] = {
      {404, "NotFound", ErrorCode::NotFound, 1},
      {400, "BadRequest", ErrorCode::InvalidArgument, 1},
      {403, "Forbidden", ErrorCode::PermissionDenied, 1},
      {500, "InternalError", ErrorCode::Unavailable, 3},
  };
  for (const auto& c : cases) {
    auto t = std::make_shared<ScriptedTransport>();
    for (int i = 0; i < 3; ++i) {
      t->reply("GET", "/api/v1/namespaces/ci/pods/p/log",
               ScriptedReply::withStatus(c.http, status(c.http, c.reason, "refused")));
    }
    RestConfig cfg;
    cfg.server = kServer;
    ClientOptions options;
    options.retry.random = [] { return 0.0; };
    auto client = makeClient(cfg, t, clock_, options);
    auto r = client->podLog("ci", "p", {.container = "packer-build"});
    ASSERT_FALSE(r.has_value()) << c.http;
    EXPECT_EQ(r.error().code, c.want) << c.http;
    EXPECT_EQ(r.error().http_status, c.http);
    EXPECT_EQ(r.error().provider_code, c.reason);
    EXPECT_NE(r.error().message.find("get pods ci/p log container packer-build: refused"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(t->requests().size(), c.attempts) << c.http;
  }
}

// A 401 on a pod log drops the cached credential and repeats once with a fresh one, as for every
// call; a second 401 is Unauthenticated.
TEST_F(ClientTest, PodLogUnauthorizedRefreshesCredentialOnce) {
  for (int i = 0; i < 2; ++i) {
    transport_->reply("GET", "/api/v1/namespaces/ci/pods/p/log",
                      ScriptedReply::withStatus(401, status(401, "Unauthorized", "expired")));
  }
  auto r = client_->podLog("ci", "p", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Unauthenticated);
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer token-1");
  EXPECT_EQ(reqs[1].header("Authorization"), "Bearer token-2");
}

// A pod log is a read: 429 (after the server's Retry-After) and 5xx are retried.
TEST_F(ClientTest, PodLogRetriesThrottleAndServerErrors) {
  const std::string path = "/api/v1/namespaces/ci/pods/p/log";
  transport_->reply("GET", path,
                    ScriptedReply::withStatus(429, status(429, "TooManyRequests", "slow down"),
                                              {{"Retry-After", "3"}}));
  transport_->reply("GET", path,
                    ScriptedReply::withStatus(503, status(503, "ServiceUnavailable", "busy")));
  transport_->reply("GET", path, ScriptedReply::ok("done\n"));
  auto r = client_->podLog("ci", "p", {});
  ASSERT_TRUE(r.has_value()) << r.error().toString();
  EXPECT_EQ(*r, "done\n");
  EXPECT_EQ(transport_->requests().size(), 3u);
  EXPECT_GE(clock_.totalSlept(), std::chrono::seconds(3));
}

// Without a credential source no Authorization header is sent.
TEST_F(ClientTest, NoCredentialsSendNoAuthorization) {
  transport_->reply("GET", "/api/v1/namespaces/ci/pods/p/log", ScriptedReply::ok(""));
  RestConfig cfg;
  cfg.server = kServer;
  auto client = makeClient(cfg, transport_, clock_);
  ASSERT_TRUE(client->podLog("ci", "p", {}).has_value());
  EXPECT_EQ(headerCount(transport_->requests().at(0), "Authorization"), 0);
}

class FixedCredential : public CredentialSource {
 public:
  explicit FixedCredential(Credential c) : credential_(std::move(c)) {}
  Result<Credential> credential() override { return credential_; }
  Credential credential_;
};

// A credential the client cannot send (a token with a line break) is an Unauthenticated error
// before anything is sent, never a request without it.
TEST_F(ClientTest, UnsendableCredentialIsRefusedBeforeSending) {
  Credential split_token;
  split_token.token = "abc\r\nX-Injected: 1";
  RestConfig cfg;
  cfg.server = kServer;
  cfg.credentials = std::make_shared<FixedCredential>(split_token);
  auto client = makeClient(cfg, transport_, clock_);
  auto r = client->podLog("ci", "p", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Unauthenticated);
  EXPECT_EQ(r.error().message.find("abc"), std::string::npos) << r.error().message;
  EXPECT_TRUE(transport_->requests().empty());
}

// A client certificate from an exec plugin goes with every request (it rotates with the
// credential, so the transport's fixed TLS identity cannot carry it); with it a token too.
TEST_F(ClientTest, ExecClientCertificateGoesWithEachRequest) {
  Credential cert_only;
  cert_only.client_certificate_pem = "CERT";
  cert_only.client_key_pem = "KEY";
  Credential both = cert_only;
  both.token = "plugin-token";
  for (const Credential& c : {cert_only, both}) {
    transport_->reply("GET", "/api/v1/namespaces/ci/pods/p/log", ScriptedReply::ok("line\n"));
    RestConfig cfg;
    cfg.server = kServer;
    cfg.credentials = std::make_shared<FixedCredential>(c);
    auto client = makeClient(cfg, transport_, clock_);
    ASSERT_TRUE(client->podLog("ci", "p", {}).has_value());
    const http::Request sent = transport_->requests().back().request;
    ASSERT_TRUE(sent.client_certificate.has_value());
    EXPECT_EQ(sent.client_certificate->cert_pem, "CERT");
    EXPECT_EQ(sent.client_certificate->key_pem, "KEY");
    EXPECT_EQ(transport_->requests().back().header("Authorization"),
              c.token.empty() ? "" : "Bearer plugin-token");
  }
}

// Credentials never travel in clear text: a token for an http:// server is refused before
// anything is sent, with an error naming the server; the loopback allowance lets a development
// server on 127.0.0.1 have it, and still refuses any other http:// host.
TEST_F(ClientTest, TokenOverPlainHttpIsRefusedUnlessLoopbackIsAllowed) {
  struct Case {
    std::string server;
    bool allow_loopback;
    bool sent;
  };
  for (const Case& c : std::vector<Case>{{"http://10.0.0.1:8080", false, false},
                                         {"http://127.0.0.1:8080", false, false},
                                         {"http://127.0.0.1:8080", true, true},
                                         {"http://[::1]:8080", true, true},
                                         {"http://localhost:8080", true, true},
                                         {"http://10.0.0.1:8080", true, false},
                                         {"http://localhost.example.com", true, false},
                                         {"https://10.0.0.1:6443", false, true}}) {
    auto t = std::make_shared<ScriptedTransport>();
    t->reply("GET", "/api/v1/namespaces/ci/pods/p/log", ScriptedReply::ok(""));
    RestConfig cfg;
    cfg.server = c.server;
    cfg.credentials = staticTokenSource("secret-token");
    ClientOptions options;
    options.allow_http_credentials_on_loopback = c.allow_loopback;
    auto client = makeClient(cfg, t, clock_, options);
    auto r = client->podLog("ci", "p", {});
    EXPECT_EQ(r.has_value(), c.sent) << c.server;
    EXPECT_EQ(t->requests().size(), c.sent ? 1u : 0u) << c.server;
    if (!c.sent) {
      EXPECT_EQ(r.error().code, ErrorCode::FailedPrecondition);
      EXPECT_NE(r.error().message.find(c.server), std::string::npos) << r.error().message;
      EXPECT_NE(r.error().message.find("clear text"), std::string::npos) << r.error().message;
      EXPECT_EQ(r.error().message.find("secret-token"), std::string::npos) << r.error().message;
    }
  }
}

// Without credentials plain HTTP is fine anywhere: there is nothing to leak.
TEST_F(ClientTest, PlainHttpWithoutCredentialsIsAllowed) {
  transport_->reply("GET", "/api/v1/namespaces/ci/pods/p/log", ScriptedReply::ok(""));
  RestConfig cfg;
  cfg.server = "http://10.0.0.1:8080";
  auto client = makeClient(cfg, transport_, clock_);
  EXPECT_TRUE(client->podLog("ci", "p", {}).has_value());
}

// Reconcilers can depend on one role and be tested with its mock; typed helpers decode through it.
TEST(ClientRoles, TypedHelpersWorkThroughRoleMocks) {
  using ::testing::_;
  using ::testing::Return;
  ::testing::StrictMock<MockObjectReader> reader;
  auto job = Object::parse(R"({"metadata":{"name":"j","namespace":"ci"},"status":{"failed":3}})");
  ASSERT_TRUE(job.has_value());
  EXPECT_CALL(reader, get(_, "ci", "j")).WillOnce(Return(*job));
  EXPECT_CALL(reader, get(_, "ci", "gone"))
      .WillOnce(Return(Result<Object>(fail(ErrorCode::NotFound, "jobs ci/gone not found"))));
  auto typed = getTyped<Job>(reader, "ci", "j");
  ASSERT_TRUE(typed.has_value());
  EXPECT_EQ(typed->failed, 3);
  auto missing = getTyped<Job>(reader, "ci", "gone");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
}

// Server-side apply of an object read from the server drops managedFields from the body.
TEST(ClientRoles, ApplyStripsManagedFields) {
  using ::testing::_;
  using ::testing::Eq;
  using ::testing::Return;
  ::testing::StrictMock<MockObjectWriter> writer;
  auto obj =
      Object::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c",)"
                    R"("namespace":"ci","managedFields":[{"manager":"m"}]},"data":{"k":"v"}})");
  ASSERT_TRUE(obj.has_value());
  std::string body;
  PatchOptions seen;
  EXPECT_CALL(writer, patch(_, Eq("ci"), Eq("c"), PatchType::Apply, _, _))
      .WillOnce([&](const Resource&, std::string_view, std::string_view, PatchType,
                    std::string_view b, const PatchOptions& o) {
        body = std::string(b);
        seen = o;
        return Result<Object>(*obj);
      });
  Resource configmaps{"", "v1", "configmaps", "ConfigMap", true};
  ASSERT_TRUE(apply(writer, configmaps, *obj, "opsy", true));
  auto sent = Object::parse(body);
  ASSERT_TRUE(sent.has_value());
  EXPECT_FALSE(sent->getJson("/metadata/managedFields").has_value());
  EXPECT_EQ(sent->getString("/data/k"), "v");
  EXPECT_EQ(seen.field_manager, "opsy");
  EXPECT_TRUE(seen.force);
}

// Patches carry their content type; apply needs a field manager and sends force.
TEST_F(ClientTest, PatchContentTypesAndApply) {
  const std::string path = "/apis/batch/v1/namespaces/ci/jobs/j";
  for (int i = 0; i < 3; ++i) {
    transport_->reply("PATCH", path, ScriptedReply::ok(R"({"metadata":{"name":"j"}})"));
  }
  ASSERT_TRUE(client_->patch(resources::jobs(), "ci", "j", PatchType::Merge,
                             R"({"spec":{"suspend":true}})", {}));
  ASSERT_TRUE(client_->patch(resources::jobs(), "ci", "j", PatchType::Json,
                             R"([{"op":"replace","path":"/spec/suspend","value":true}])", {}));
  auto missing = client_->patch(resources::jobs(), "ci", "j", PatchType::Apply, "{}", {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::InvalidArgument);
  Object obj(resources::jobs(), "ci", "j");
  ASSERT_TRUE(apply(*client_, resources::jobs(), obj, "opsy-builder", true));

  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].header("Content-Type"), "application/merge-patch+json");
  EXPECT_EQ(reqs[1].header("Content-Type"), "application/json-patch+json");
  EXPECT_EQ(reqs[2].header("Content-Type"), "application/apply-patch+yaml");
  EXPECT_EQ(reqs[2].query.at("fieldManager"), "opsy-builder");
  EXPECT_EQ(reqs[2].query.at("force"), "true");
  auto body = Object::parse(reqs[2].request.body);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(body->kind, "Job");
}

// Status writes go to the /status subresource.
TEST_F(ClientTest, StatusWritesUseSubresource) {
  Resource cr{"ami.refresh.ops", "v1alpha1", "packerbuilders", "PackerBuilder", true};
  const std::string path =
      "/apis/ami.refresh.ops/v1alpha1/namespaces/team/packerbuilders/pb/status";
  transport_->reply("PUT", path, ScriptedReply::ok(R"({"metadata":{"name":"pb"}})"));
  transport_->reply("PATCH", path, ScriptedReply::ok(R"({"metadata":{"name":"pb"}})"));
  Object obj(cr, "team", "pb");
  obj.metadata.resource_version = "4";
  ASSERT_TRUE(obj.setString("/status/state", "Building"));
  StatusWriter& writer = *client_;
  ASSERT_TRUE(writer.updateStatus(cr, obj, {}));
  ASSERT_TRUE(
      writer.patchStatus(cr, "team", "pb", PatchType::Merge, R"({"status":{"state":"Idle"}})", {}));
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].request.method, "PUT");
  EXPECT_EQ(reqs[1].request.method, "PATCH");
  auto sent = Object::parse(reqs[0].request.body);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->getString("/status/state"), "Building");
}

// Delete sends DeleteOptions with the propagation policy and preconditions.
TEST_F(ClientTest, DeleteSendsPropagationAndPreconditions) {
  transport_->reply("DELETE", "/apis/batch/v1/namespaces/ci/jobs/j",
                    ScriptedReply::ok(R"({"kind":"Status","status":"Success"})"));
  DeleteOptions options;
  options.propagation = Propagation::Background;
  options.uid = "u-1";
  options.resource_version = "9";
  ASSERT_TRUE(client_->remove(resources::jobs(), "ci", "j", options));
  auto sent = Object::parse(transport_->requests().at(0).request.body);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->kind, "DeleteOptions");
  EXPECT_EQ(sent->getString("/propagationPolicy"), "Background");
  EXPECT_EQ(sent->getString("/preconditions/uid"), "u-1");
  EXPECT_EQ(sent->getString("/preconditions/resourceVersion"), "9");
}

// A delete of a missing object is NotFound, so callers can treat it as done.
TEST_F(ClientTest, DeleteMissingIsNotFound) {
  transport_->reply(
      "DELETE", "/apis/batch/v1/namespaces/ci/jobs/j",
      ScriptedReply::withStatus(404, status(404, "NotFound", "jobs \\\"j\\\" not found")));
  auto r = client_->remove(resources::jobs(), "ci", "j", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::NotFound);
}

const char* kPodAdded =
    R"({"type":"ADDED","object":{"metadata":{"name":"a","namespace":"ci","resourceVersion":"11"}}})";
const char* kPodModified =
    R"({"type":"MODIFIED","object":{"metadata":{"name":"a","namespace":"ci","resourceVersion":"12"}}})";

// watch sends the watch parameters and delivers events decoded across chunk boundaries, skipping
// a malformed one.
TEST_F(ClientTest, WatchDeliversEventsAcrossChunks) {
  std::string body = std::string(kPodAdded) + "\n{garbage\n" + kPodModified + "\n";
  transport_->streamReply(
      "/api/v1/namespaces/ci/pods",
      ScriptedReply::chunked({body.substr(0, 17), body.substr(17, 60), body.substr(77)}));
  WatchOptions options;
  options.resource_version = "10";
  options.timeout = std::chrono::seconds(290);
  options.label_selector = "app=x";
  std::vector<std::string> seen;
  http::CancelToken cancel;
  auto st = client_->watch(
      resources::pods(), "ci", options,
      [&](WatchEvent& e) {
        seen.push_back(e.object.metadata.resource_version);
        return true;
      },
      cancel);
  ASSERT_TRUE(st.has_value()) << st.error().toString();
  EXPECT_EQ(seen, (std::vector<std::string>{"11", "12"}));
  auto req = transport_->streamRequests().at(0);
  EXPECT_EQ(req.query.at("watch"), "1");
  EXPECT_EQ(req.query.at("allowWatchBookmarks"), "true");
  EXPECT_EQ(req.query.at("resourceVersion"), "10");
  EXPECT_EQ(req.query.at("timeoutSeconds"), "290");
  EXPECT_EQ(req.query.at("labelSelector"), "app=x");
  EXPECT_EQ(req.header("Authorization"), "Bearer token-1");
}

// A watch refused with HTTP 410 reports Gone so the caller relists.
TEST_F(ClientTest, WatchHttpGoneIsGone) {
  transport_->streamReply("/api/v1/pods",
                          ScriptedReply::withStatus(410, status(410, "Expired", "too old")));
  http::CancelToken cancel;
  auto st = client_->watch(
      resources::pods(), "", {}, [](WatchEvent&) { return true; }, cancel);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::Gone);
}

// Returning false from the callback ends the watch normally; cancelling ends it as Cancelled.
TEST_F(ClientTest, WatchStopsOnCallbackAndCancel) {
  transport_->streamReply("/api/v1/pods",
                          ScriptedReply::ok(std::string(kPodAdded) + "\n" + kPodModified + "\n"));
  http::CancelToken cancel;
  int calls = 0;
  auto st = client_->watch(
      resources::pods(), "", {},
      [&](WatchEvent&) {
        ++calls;
        return false;
      },
      cancel);
  EXPECT_TRUE(st.has_value());
  EXPECT_EQ(calls, 1);

  http::CancelToken cancel2;
  std::thread stopper([&] {
    transport_->waitUntil([](const ScriptedTransport& t) { return t.openStreams() == 1; });
    cancel2.cancel();
  });
  auto held = client_->watch(
      resources::pods(), "", {}, [](WatchEvent&) { return true; }, cancel2);
  stopper.join();
  ASSERT_FALSE(held.has_value());
  EXPECT_EQ(held.error().code, ErrorCode::Cancelled);
}

}  // namespace
}  // namespace opsy::kube

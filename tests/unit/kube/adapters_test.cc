// The adapters that connect leader election, the events recorder, libcurl and metrics to the REST
// client: ClientLeaseStore, ClientEventSink, transportOptions() and ClientOptions::observer.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"
#include "opsy/kube/client.h"
#include "opsy/kube/event_sink.h"
#include "opsy/kube/lease_store.h"
#include "opsy/kube/transport.h"
#include "support/kube_scripted_transport.h"
#include "support/loopback_server.h"

namespace opsy::kube {
namespace {

constexpr const char* kLeasePath = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/ctl";

std::string statusBody(int code, const std::string& reason) {
  return R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"m","reason":")" +
         reason + R"(","code":)" + std::to_string(code) + "}";
}

class AdapterTest : public ::testing::Test {
 protected:
  AdapterTest() {
    RestConfig cfg;
    cfg.server = "https://k8s.test";
    ClientOptions options;
    options.retry.random = [] { return 0.0; };
    options.observer = [this](const RequestObservation& o) {
      observed_.push_back(
          std::string(o.verb) + " " + std::string(o.resource) + " " +
          (o.http_status == 0 ? std::string(o.error_code) : std::to_string(o.http_status)));
    };
    client_ = makeClient(cfg, transport_, clock_, options);
  }

  std::shared_ptr<ScriptedTransport> transport_ = std::make_shared<ScriptedTransport>();
  FakeClock clock_;
  ClientPtr client_;
  std::vector<std::string> observed_;
};

// A missing Lease reads as NotFound, which tells the elector to create it.
TEST_F(AdapterTest, LeaseGetMissingIsNotFound) {
  transport_->reply("GET", kLeasePath, ScriptedReply::withStatus(404, statusBody(404, "NotFound")));
  ClientLeaseStore store(client_, "ops", "ctl");
  auto got = store.get();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::NotFound);
  EXPECT_EQ(store.describe(), "ops/ctl");
}

// Create posts a Lease with the record's fields and returns the stored resourceVersion.
TEST_F(AdapterTest, LeaseCreatePostsRecord) {
  transport_->reply(
      "POST", "/apis/coordination.k8s.io/v1/namespaces/ops/leases",
      ScriptedReply::ok(R"({"metadata":{"name":"ctl","namespace":"ops","resourceVersion":"7"},)"
                        R"("spec":{"holderIdentity":"me","leaseDurationSeconds":15}})"));
  ClientLeaseStore store(client_, "ops", "ctl");
  LeaseRecord r;
  r.holder_identity = "me";
  r.lease_duration_seconds = 15;
  r.acquire_time = clock_.now();
  r.renew_time = clock_.now();
  auto stored = store.create(r);
  ASSERT_TRUE(stored) << stored.error().toString();
  EXPECT_EQ(stored->resource_version, "7");
  EXPECT_EQ(stored->holder_identity, "me");
  auto sent = Lease::fromJson(transport_->requests().at(0).request.body);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->metadata.name, "ctl");
  EXPECT_EQ(sent->holder_identity.value_or(""), "me");
  EXPECT_EQ(sent->lease_duration_seconds.value_or(0), 15);
  EXPECT_TRUE(sent->metadata.resource_version.empty());
}

// A create that lost the race is AlreadyExists, whether the server says so or sends a bare 409.
TEST_F(AdapterTest, LeaseCreateRaceIsAlreadyExists) {
  const std::string path = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";
  transport_->reply("POST", path, ScriptedReply::withStatus(409, statusBody(409, "AlreadyExists")));
  transport_->reply("POST", path, ScriptedReply::withStatus(409, statusBody(409, "Conflict")));
  ClientLeaseStore store(client_, "ops", "ctl");
  for (int i = 0; i < 2; ++i) {
    auto r = store.create(LeaseRecord{.holder_identity = "me", .lease_duration_seconds = 15});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::AlreadyExists) << i;
  }
}

// Update is a PUT carrying the record's resourceVersion on top of the Lease as last read, so
// labels and fields this code does not model survive; a stale version is Conflict.
TEST_F(AdapterTest, LeaseUpdateKeepsUnknownFieldsAndMapsConflict) {
  transport_->reply(
      "GET", kLeasePath,
      ScriptedReply::ok(R"({"metadata":{"name":"ctl","namespace":"ops","resourceVersion":"3",)"
                        R"("labels":{"team":"a"}},"spec":{"holderIdentity":"other",)"
                        R"("leaseDurationSeconds":15,"extra":"x"}})"));
  transport_->reply(
      "PUT", kLeasePath,
      ScriptedReply::ok(R"({"metadata":{"name":"ctl","namespace":"ops","resourceVersion":"4"},)"
                        R"("spec":{"holderIdentity":"me","leaseDurationSeconds":15}})"));
  transport_->reply("PUT", kLeasePath, ScriptedReply::withStatus(409, statusBody(409, "Conflict")));
  ClientLeaseStore store(client_, "ops", "ctl");
  auto current = store.get();
  ASSERT_TRUE(current);
  EXPECT_EQ(current->holder_identity, "other");
  LeaseRecord next = *current;
  next.holder_identity = "me";
  next.lease_transitions = 1;
  auto updated = store.update(next);
  ASSERT_TRUE(updated) << updated.error().toString();
  EXPECT_EQ(updated->resource_version, "4");
  auto put = Object::parse(transport_->requests().at(1).request.body);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->metadata.resource_version, "3");
  EXPECT_EQ(put->metadata.labels.at("team"), "a");
  EXPECT_EQ(put->getString("/spec/extra").value_or(""), "x");
  EXPECT_EQ(put->getString("/spec/holderIdentity").value_or(""), "me");
  EXPECT_EQ(put->getInt("/spec/leaseTransitions").value_or(0), 1);

  auto stale = store.update(next);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::Conflict);
}

// A new event is a POST of an events.k8s.io/v1 Event in the event's namespace.
TEST_F(AdapterTest, EventCreatePostsEvent) {
  transport_->reply("POST", "/apis/events.k8s.io/v1/namespaces/ci/events",
                    ScriptedReply::ok(R"({"metadata":{"name":"pb.1","namespace":"ci"}})"));
  ClientEventSink sink(client_);
  EventRecord e;
  e.name = "pb.1";
  e.ns = "ci";
  e.regarding = ObjectReference{.api_version = "ami.refresh.ops/v1alpha1",
                                .kind = "PackerBuilder",
                                .ns = "ci",
                                .name = "pb",
                                .uid = "u1"};
  e.type = EventType::Warning;
  e.reason = "BuildFailed";
  e.action = "Build";
  e.note = "packer exited with 1";
  e.event_time = clock_.now();
  e.reporting_controller = "ami.refresh.ops/packer-builder-controller";
  e.reporting_instance = "pod-1";
  ASSERT_TRUE(sink.create(e));
  auto sent = Event::fromJson(transport_->requests().at(0).request.body);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->metadata.name, "pb.1");
  EXPECT_EQ(sent->type, "Warning");
  EXPECT_EQ(sent->reason, "BuildFailed");
  EXPECT_EQ(sent->regarding.uid, "u1");
  EXPECT_EQ(sent->reporting_instance, "pod-1");
  EXPECT_TRUE(sent->event_time.has_value());
}

// A repeat merge-patches the series of the existing event; errors come back to the recorder.
TEST_F(AdapterTest, EventPatchMergesSeries) {
  const std::string path = "/apis/events.k8s.io/v1/namespaces/ci/events/pb.1";
  transport_->reply("PATCH", path, ScriptedReply::ok(R"({"metadata":{"name":"pb.1"}})"));
  transport_->reply("PATCH", path, ScriptedReply::withStatus(404, statusBody(404, "NotFound")));
  ClientEventSink sink(client_);
  EventRecordSeries series{3, clock_.now()};
  ASSERT_TRUE(sink.patch("pb.1", "ci", series));
  const RecordedRequest req = transport_->requests().at(0);
  EXPECT_EQ(req.header("Content-Type"), "application/merge-patch+json");
  auto body = Object::parse(req.request.body);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->getInt("/series/count").value_or(0), 3);
  EXPECT_EQ(body->getString("/series/lastObservedTime").value_or(""),
            formatMicroTime(clock_.now()));
  auto missing = sink.patch("pb.1", "ci", series);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
}

// Every attempt is observed with its verb, resource (with subresource) and HTTP code, and a
// transport failure with its canonical code.
TEST_F(AdapterTest, ObserverSeesEveryAttempt) {
  const std::string jobs = "/apis/batch/v1/namespaces/ci/jobs";
  transport_->reply("GET", jobs + "/j", ScriptedReply::withStatus(500, statusBody(500, "")));
  transport_->reply("GET", jobs + "/j", ScriptedReply::ok(R"({"metadata":{"name":"j"}})"));
  transport_->reply("PATCH", jobs + "/j/status", ScriptedReply::ok(R"({"metadata":{}})"));
  transport_->reply("DELETE", jobs + "/j",
                    ScriptedReply::failure(Error(ErrorCode::Unavailable, "refused")));
  ASSERT_TRUE(client_->get(resources::jobs(), "ci", "j"));
  ASSERT_TRUE(client_->patchStatus(resources::jobs(), "ci", "j", PatchType::Merge, "{}", {}));
  ASSERT_FALSE(client_->remove(resources::jobs(), "ci", "j", {}));
  EXPECT_EQ(observed_,
            (std::vector<std::string>{"get jobs 500", "get jobs 200", "patch jobs/status 200",
                                      "delete jobs Unavailable"}));
}

// A pod log read is observed like every call, as a get of the pods/log subresource.
TEST_F(AdapterTest, PodLogIsObservedAsGetOfPodsLog) {
  const std::string path = "/api/v1/namespaces/ci/pods/p/log";
  transport_->reply("GET", path, ScriptedReply::withStatus(503, statusBody(503, "")));
  transport_->reply("GET", path, ScriptedReply::ok("text"));
  ASSERT_TRUE(client_->podLog("ci", "p", {.container = "c"}));
  EXPECT_EQ(observed_, (std::vector<std::string>{"get pods/log 503", "get pods/log 200"}));
}

// A watch stopped by its caller is observed with the status the server answered, not as a
// failure.
TEST_F(AdapterTest, CancelledWatchIsObservedWithItsStatus) {
  transport_->streamReply("/apis/batch/v1/jobs", ScriptedReply::chunked({}, true));
  http::CancelToken cancel;
  std::thread canceller([&] {
    transport_->waitUntil([](const ScriptedTransport& t) { return t.openStreams() == 1; });
    cancel.cancel();
  });
  auto s = client_->watch(
      resources::jobs(), "", {}, [](WatchEvent&) { return true; }, cancel);
  canceller.join();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::Cancelled);
  EXPECT_EQ(observed_, (std::vector<std::string>{"watch jobs 200"}));
}

class RotatingTokens : public CredentialSource {
 public:
  Result<Credential> credential() override {
    if (fail_) {
      return fail(ErrorCode::Unauthenticated, "exec plugin failed");
    }
    Credential c;
    c.token = "t" + std::to_string(++calls_);
    return c;
  }
  int calls_ = 0;
  bool fail_ = false;
};

// The transport takes TLS and proxy settings from the config (inline PEM over files).
TEST(KubeTransport, OptionsFollowConfig) {
  RestConfig cfg;
  cfg.server = "https://k8s.test";
  cfg.ca_file = "/ca.crt";
  cfg.ca_pem = "CA PEM";
  cfg.client_certificate_file = "/client.crt";
  cfg.client_key_pem = "KEY PEM";
  cfg.insecure_skip_tls_verify = true;
  cfg.tls_server_name = "kubernetes.default";
  cfg.proxy_url = "http://proxy:3128";
  http::CurlTransportOptions base;
  base.user_agent = "ua";
  auto o = transportOptions(cfg, base);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->tls.ca_pem, "CA PEM");
  EXPECT_TRUE(o->tls.ca_file.empty());
  EXPECT_EQ(o->tls.client_cert_file, "/client.crt");
  EXPECT_EQ(o->tls.client_key_pem, "KEY PEM");
  EXPECT_FALSE(o->tls.verify);
  EXPECT_EQ(o->tls.server_name, "kubernetes.default");
  EXPECT_EQ(o->proxy, "http://proxy:3128");
  EXPECT_EQ(o->user_agent, "ua");
}

// Through the production transport each request carries the token exactly once, read from the
// credential source per request (a rotated token is used at once); a source that fails is an
// Unauthenticated error returned by the call, and nothing is sent.
TEST(KubeTransport, ClientAddsTheTokenOnceThroughCurl) {
  testing::clearProxyEnvironment();
  std::mutex mu;
  std::vector<std::vector<std::string>> seen;  // Authorization values per request
  auto server = std::make_unique<httplib::Server>();
  auto record = [&](const httplib::Request& req) {
    std::vector<std::string> values;
    auto [begin, end] = req.headers.equal_range("Authorization");
    for (auto it = begin; it != end; ++it) {
      values.push_back(it->second);
    }
    std::lock_guard lock(mu);
    seen.push_back(std::move(values));
  };
  server->Get("/api/v1/namespaces/ci/pods/p",
              [&](const httplib::Request& req, httplib::Response& res) {
                record(req);
                res.set_content(R"({"metadata":{"name":"p"}})", "application/json");
              });
  server->Get("/api/v1/namespaces/ci/pods/p/log",
              [&](const httplib::Request& req, httplib::Response& res) {
                record(req);
                res.set_content("line\n", "text/plain");
              });
  testing::LoopbackServer running(std::move(server));
  auto tokens = std::make_shared<RotatingTokens>();
  RestConfig cfg;
  cfg.server = running.url();
  cfg.credentials = tokens;
  auto transport = makeTransport(cfg);
  ASSERT_TRUE(transport) << transport.error().toString();
  FakeClock clock;
  ClientOptions copts;
  copts.allow_http_credentials_on_loopback = true;  // a plain HTTP server on 127.0.0.1
  ClientPtr client = makeClient(cfg, *transport, clock, copts);

  ASSERT_TRUE(client->get(resources::pods(), "ci", "p"));
  auto log = client->podLog("ci", "p", {.container = "c"});
  ASSERT_TRUE(log) << log.error().toString();
  EXPECT_EQ(*log, "line\n");
  tokens->fail_ = true;
  auto refused = client->podLog("ci", "p", {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::Unauthenticated);
  EXPECT_NE(refused.error().message.find("exec plugin failed"), std::string::npos);

  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<std::vector<std::string>>{{"Bearer t1"}, {"Bearer t2"}}));
}

// A config without a server or with an unreadable CA file
// is rejected naming where the config came from.
TEST(KubeTransport, RejectsBadConfig) {
  RestConfig cfg;
  cfg.origin = "/tmp/kubeconfig";
  EXPECT_FALSE(transportOptions(cfg));
  cfg.server = "https://k8s.test";
  auto o = transportOptions(cfg);
  ASSERT_TRUE(o);
  cfg.ca_file = "/nonexistent/ca.crt";
  auto t = makeTransport(cfg);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(t.error().message.find("/tmp/kubeconfig"), std::string::npos) << t.error().message;
}

}  // namespace
}  // namespace opsy::kube

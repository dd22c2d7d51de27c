#include "opsy/http/curl_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "opsy/core/fake_clock.h"
#include "opsy/http/retry.h"
#include "support/loopback_server.h"
#include "support/test_pki.h"
#include "unit/http/curl_test_support.h"

namespace opsy::http {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

// Proxy variables in the environment would send loopback requests elsewhere (curl proxies
// 127.0.0.1 too), so the whole binary runs without them; proxy tests set their own.
class NoProxyEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { testing::clearProxyEnvironment(); }
};
[[maybe_unused]] const auto* const kNoProxyEnvironment =
    ::testing::AddGlobalTestEnvironment(new NoProxyEnvironment);

std::string headerOr(const httplib::Request& req, const char* name, const char* fallback) {
  return req.has_header(name) ? req.get_header_value(name) : fallback;
}

class CurlTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = std::make_unique<httplib::Server>();
    server->set_keep_alive_timeout(1);
    server->new_task_queue = [] { return new httplib::ThreadPool(24); };
    auto echo = [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Echo-Method", req.method);
      res.set_header("X-Echo-Test", headerOr(req, "X-Test", "<none>"));
      res.set_header("X-Echo-Content-Type", headerOr(req, "Content-Type", "<none>"));
      res.set_header("X-Echo-Expect", headerOr(req, "Expect", "<none>"));
      res.set_header("X-Echo-Host", headerOr(req, "Host", "<none>"));
      res.set_content("body=" + req.body, "text/plain");
    };
    server->Get("/echo", echo);
    server->Post("/echo", echo);
    server->Put("/echo", echo);
    server->Patch("/echo", echo);
    server->Delete("/echo", echo);
    server->Get(R"(/status/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      res.status = std::stoi(req.matches[1]);
      if (res.status == 302) {
        res.set_header("Location", "/echo");
      }
      if (res.status == 204) {
        return;  // a 204 has no body
      }
      res.set_content("status " + std::string(req.matches[1]), "text/plain");
    });
    server->Get("/port", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.remote_port), "text/plain");
    });
    server->Get("/id", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("id=" + req.get_param_value("id"), "text/plain");
    });
    server->Get("/auth", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(headerOr(req, "Authorization", "<none>"), "text/plain");
    });
    server->Get("/agent", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(headerOr(req, "User-Agent", "<none>"), "text/plain");
    });
    server->Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      slow_gate_.waitOpen();
      res.set_content("late", "text/plain");
    });
    server->Get("/flaky", [this](const httplib::Request&, httplib::Response& res) {
      if (flaky_calls_.fetch_add(1) < 2) {
        res.status = 503;
        res.set_content("try later", "text/plain");
        return;
      }
      res.set_content("finally", "text/plain");
    });
    server_ = std::make_unique<testing::LoopbackServer>(std::move(server));
  }

  void TearDown() override { slow_gate_.open(); }

  // A transport with default options except where the test says otherwise.
  TransportPtr transport(CurlTransportOptions options = {}) {
    auto made = makeCurlTransport(std::move(options));
    EXPECT_TRUE(made.has_value()) << made.error().toString();
    return made ? *made : nullptr;
  }

  std::string url(const std::string& path) const { return server_->url(path); }

  Gate slow_gate_;
  std::atomic<int> flaky_calls_{0};
  std::unique_ptr<testing::LoopbackServer> server_;
};

struct MethodCase {
  std::string method;
  std::string body;
};

void PrintTo(const MethodCase& c, std::ostream* os) {
  *os << c.method << " with " << c.body.size() << "-byte body";
}

class CurlTransportMethodTest : public CurlTransportTest,
                                public ::testing::WithParamInterface<MethodCase> {};

// Every method reaches the server as given, with the caller's headers and body, and the response
// comes back with its status, headers (names as the server sent them) and body.
TEST_P(CurlTransportMethodTest, RoundTripsMethodHeadersAndBody) {
  const MethodCase& c = GetParam();
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  Request req = makeRequest(c.method, url("/echo"),
                            {{"X-Test", "value 1"}, {"Content-Type", "application/json"}}, c.body);
  Result<Response> resp = t->send(req);
  ASSERT_TRUE(resp.has_value()) << resp.error().toString();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "body=" + c.body);
  EXPECT_EQ(resp->header("X-Echo-Method"), c.method);
  EXPECT_EQ(resp->header("x-echo-test"), "value 1");
  EXPECT_EQ(resp->header("X-Echo-Content-Type"), "application/json");
  bool exact_name = std::any_of(resp->headers.begin(), resp->headers.end(),
                                [](const auto& h) { return h.first == "X-Echo-Method"; });
  EXPECT_TRUE(exact_name);
}

INSTANTIATE_TEST_SUITE_P(Methods, CurlTransportMethodTest,
                         ::testing::Values(MethodCase{"GET", ""}, MethodCase{"POST", "{\"a\":1}"},
                                           MethodCase{"POST", ""}, MethodCase{"PUT", "put body"},
                                           MethodCase{"PATCH", "[{\"op\":\"add\"}]"},
                                           MethodCase{"DELETE", ""},
                                           MethodCase{"DELETE", "{\"propagationPolicy\":1}"}),
                         [](const ::testing::TestParamInfo<MethodCase>& p) {
                           return p.param.method + (p.param.body.empty() ? "" : "WithBody");
                         });

// connect_address sends the connection to a checked address while the URL's name stays the Host
// (and, over TLS, the name verified); a name that resolves nowhere then still reaches the server.
// Anything but an IP literal is refused before any connection.
TEST_F(CurlTransportTest, ConnectAddressPinsTheConnectionAndKeepsTheHost) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  std::string named = url("/echo");
  named.replace(named.find("127.0.0.1"), 9, "hooks.opsy.invalid");
  ASSERT_FALSE(t->send(makeRequest("GET", named)).has_value()) << ".invalid resolved";
  Request pinned = makeRequest("GET", named);
  pinned.connect_address = "127.0.0.1";
  Result<Response> resp = t->send(pinned);
  ASSERT_TRUE(resp.has_value()) << resp.error().toString();
  EXPECT_EQ(resp->status, 200);
  EXPECT_THAT(std::string(resp->header("X-Echo-Host").value_or("")),
              ::testing::StartsWith("hooks.opsy.invalid:"));

  pinned.connect_address = "hooks.opsy.invalid";
  Result<Response> bad = t->send(pinned);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidArgument);
}

// HEAD reads the headers and no body, without waiting for the Content-Length it announces.
TEST_F(CurlTransportTest, HeadReadsNoBody) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  Result<Response> resp = t->send(makeRequest("HEAD", url("/echo")));
  ASSERT_TRUE(resp.has_value()) << resp.error().toString();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->header("X-Echo-Method"), "HEAD");
  EXPECT_EQ(resp->body, "");
}

// An HTTP error status is a response, not a transport failure; redirects are not followed.
TEST_F(CurlTransportTest, StatusCodesAreResponsesNotErrors) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  for (int status : {201, 204, 302, 400, 404, 409, 500, 503}) {
    Result<Response> resp = t->send(makeRequest("GET", url("/status/" + std::to_string(status))));
    ASSERT_TRUE(resp.has_value()) << status << ": " << resp.error().toString();
    EXPECT_EQ(resp->status, status);
    if (status != 204) {
      EXPECT_EQ(resp->body, "status " + std::to_string(status));
    }
  }
  Result<Response> redirect = t->send(makeRequest("GET", url("/status/302")));
  ASSERT_TRUE(redirect.has_value());
  EXPECT_EQ(redirect->header("Location"), "/echo");
}

// A body goes out without "Expect: 100-continue" (no extra round trip, even for large bodies)
// and without a Content-Type the caller did not set.
TEST_F(CurlTransportTest, BodyIsSentWithoutExpectOrDefaultContentType) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  std::string large(2 * 1024 * 1024, 'x');
  Result<Response> resp = t->send(makeRequest("PUT", url("/echo"), {}, large));
  ASSERT_TRUE(resp.has_value()) << resp.error().toString();
  EXPECT_EQ(resp->body.size(), large.size() + 5);
  EXPECT_EQ(resp->header("X-Echo-Expect"), "<none>");
  EXPECT_EQ(resp->header("X-Echo-Content-Type"), "<none>");
}

// A server's interim 100 Continue is not the response: the final status and headers are.
TEST_F(CurlTransportTest, InterimContinueIsNotTheResponse) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  Result<Response> resp =
      t->send(makeRequest("POST", url("/echo"), {{"Expect", "100-continue"}}, "payload"));
  ASSERT_TRUE(resp.has_value()) << resp.error().toString();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "body=payload");
  EXPECT_EQ(resp->header("X-Echo-Expect"), "100-continue");
}

// Credentials are the caller's business: a request's own Authorization header goes out as given,
// and the transport adds none of its own.
TEST_F(CurlTransportTest, AuthorizationIsOnlyTheRequestsOwn) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  auto get = [&](Headers headers = {}) {
    Result<Response> r = t->send(makeRequest("GET", url("/auth"), headers));
    return r ? r->body : r.error().toString();
  };
  EXPECT_EQ(get(), "<none>");
  EXPECT_EQ(get({{"Authorization", "Bearer token-one"}}), "Bearer token-one");
  EXPECT_EQ(get({{"Authorization", "AWS4-HMAC-SHA256 Credential=x"}}),
            "AWS4-HMAC-SHA256 Credential=x");
}

// The configured User-Agent is sent unless a request names its own.
TEST_F(CurlTransportTest, UserAgentIsSent) {
  CurlTransportOptions options;
  options.user_agent = "opsy/0.1.0";
  TransportPtr t = transport(std::move(options));
  ASSERT_NE(t, nullptr);
  Result<Response> resp = t->send(makeRequest("GET", url("/agent")));
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->body, "opsy/0.1.0");
  resp = t->send(makeRequest("GET", url("/agent"), {{"User-Agent", "custom"}}));
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->body, "custom");
}

// Sequential calls on one transport reuse one TCP connection (the server sees the same client
// port); separate transports do not share connections.
TEST_F(CurlTransportTest, SequentialCallsReuseTheConnection) {
  TransportPtr t = transport();
  TransportPtr other = transport();
  ASSERT_NE(t, nullptr);
  ASSERT_NE(other, nullptr);
  Result<Response> first = t->send(makeRequest("GET", url("/port")));
  Result<Response> second = t->send(makeRequest("GET", url("/port")));
  Result<Response> elsewhere = other->send(makeRequest("GET", url("/port")));
  ASSERT_TRUE(first && second && elsewhere);
  EXPECT_EQ(first->body, second->body);
  EXPECT_NE(first->body, elsewhere->body);
}

// A kept connection the server has since closed is replaced, not reported as a failure.
TEST_F(CurlTransportTest, ConnectionClosedWhileIdleIsReplaced) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  Result<Response> first = t->send(makeRequest("GET", url("/port")));
  std::this_thread::sleep_for(milliseconds(1600));  // past the server's 1 s keep-alive
  Result<Response> second = t->send(makeRequest("GET", url("/port")));
  ASSERT_TRUE(first.has_value()) << first.error().toString();
  ASSERT_TRUE(second.has_value()) << second.error().toString();
  EXPECT_NE(first->body, second->body);
}

// With no idle handles kept, nothing is reused: each call opens its own connection.
TEST_F(CurlTransportTest, IdleHandleCapBoundsKeptConnections) {
  CurlTransportOptions options;
  options.max_idle_handles = 0;
  TransportPtr t = transport(std::move(options));
  ASSERT_NE(t, nullptr);
  Result<Response> first = t->send(makeRequest("GET", url("/port")));
  Result<Response> second = t->send(makeRequest("GET", url("/port")));
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->body, second->body);
}

// Many threads can share one transport; every caller gets its own response.
TEST_F(CurlTransportTest, ConcurrentCallersGetTheirOwnResponses) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 50;
  std::atomic<int> correct{0};
  std::mutex failures_mu;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kCallsPerThread; ++j) {
        std::string id = std::to_string(i) + "-" + std::to_string(j);
        Result<Response> r = t->send(makeRequest("GET", url("/id?id=" + id)));
        if (r && r->status == 200 && r->body == "id=" + id) {
          ++correct;
        } else {
          std::lock_guard lock(failures_mu);
          failures.push_back(id + ": " + (r ? r->body : r.error().toString()));
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(correct.load(), kThreads * kCallsPerThread);
  EXPECT_THAT(failures, ::testing::IsEmpty());
}

// The total timeout bounds a call to a server that never answers, and a request's own timeout
// overrides the transport's.
TEST_F(CurlTransportTest, SlowServerHitsTheDeadline) {
  CurlTransportOptions options;
  options.total_timeout = milliseconds(300);
  TransportPtr short_total = transport(std::move(options));
  TransportPtr long_total = transport();
  ASSERT_NE(short_total, nullptr);
  ASSERT_NE(long_total, nullptr);

  Request slow_request = makeRequest("GET", url("/slow"));
  slow_request.timeout = milliseconds(300);
  auto start = std::chrono::steady_clock::now();
  Result<Response> by_option = short_total->send(makeRequest("GET", url("/slow")));
  Result<Response> by_request = long_total->send(slow_request);
  auto elapsed = std::chrono::steady_clock::now() - start;

  ASSERT_FALSE(by_option.has_value());
  EXPECT_EQ(by_option.error().code, ErrorCode::DeadlineExceeded) << by_option.error().toString();
  ASSERT_FALSE(by_request.has_value());
  EXPECT_EQ(by_request.error().code, ErrorCode::DeadlineExceeded);
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

// A response that stalls is abandoned after low_speed_time even with no total timeout.
TEST_F(CurlTransportTest, StalledResponseHitsTheLowSpeedLimit) {
  CurlTransportOptions options;
  options.total_timeout = Duration::zero();
  options.low_speed_time = std::chrono::seconds(1);
  TransportPtr t = transport(std::move(options));
  ASSERT_NE(t, nullptr);
  auto start = std::chrono::steady_clock::now();
  Result<Response> resp = t->send(makeRequest("GET", url("/slow")));
  ASSERT_FALSE(resp.has_value());
  EXPECT_EQ(resp.error().code, ErrorCode::DeadlineExceeded) << resp.error().toString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

// Nothing listening on the port: Unavailable, which a retry may fix.
TEST_F(CurlTransportTest, ConnectionRefusedIsUnavailable) {
  // A socket bound but not listening refuses connections for as long as the test holds it.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int port = ntohs(addr.sin_port);

  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  Result<Response> resp =
      t->send(makeRequest("GET", "http://127.0.0.1:" + std::to_string(port) + "/x?secret=1"));
  close(fd);
  ASSERT_FALSE(resp.has_value());
  EXPECT_EQ(resp.error().code, ErrorCode::Unavailable);
  EXPECT_THAT(resp.error().message, HasSubstr("GET http://127.0.0.1:"));
  EXPECT_THAT(resp.error().message, ::testing::Not(HasSubstr("secret")));
}

// A header that would split the request (CR/LF), a malformed method, or a URL that is not
// http(s) is refused before anything is sent: the transport never reads local files.
TEST_F(CurlTransportTest, MalformedRequestsAreRejected) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  Result<Response> injected =
      t->send(makeRequest("GET", url("/echo"), {{"X-Test", "a\r\nX-Evil: 1"}}));
  ASSERT_FALSE(injected.has_value());
  EXPECT_EQ(injected.error().code, ErrorCode::InvalidArgument);
  Result<Response> bad_method = t->send(makeRequest("GE T", url("/echo")));
  ASSERT_FALSE(bad_method.has_value());
  EXPECT_EQ(bad_method.error().code, ErrorCode::InvalidArgument);
  for (const char* bad_url : {"file:///etc/hostname", "ftp://127.0.0.1/", "", "http://[::1"}) {
    Result<Response> resp = t->send(makeRequest("GET", bad_url));
    ASSERT_FALSE(resp.has_value()) << bad_url;
    EXPECT_EQ(resp.error().code, ErrorCode::InvalidArgument) << resp.error().toString();
  }
}

// withRetries over the transport rides out two 503s: the caller maps 503 to Unavailable, and
// the retry policy sleeps on the injected clock between attempts.
TEST_F(CurlTransportTest, RetriesRecoverFromTransient503) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  FakeClock clock;
  RetryPolicy policy;
  policy.random = [] { return 1.0; };
  RetryQuota quota;
  int attempts = 0;
  Result<Response> resp = withRetries<Response>(policy, quota, clock, [&](int) -> Result<Response> {
    ++attempts;
    OPSY_ASSIGN_OR_RETURN(Response r, t->send(makeRequest("GET", url("/flaky"))));
    if (r.status == 503) {
      return fail(Error{ErrorCode::Unavailable, "service unavailable"}.withHttpStatus(503));
    }
    return r;
  });
  ASSERT_TRUE(resp.has_value()) << resp.error().toString();
  EXPECT_EQ(resp->body, "finally");
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(flaky_calls_.load(), 3);
  EXPECT_EQ(clock.totalSlept(), std::chrono::seconds(1) + std::chrono::seconds(2));
}

struct InvalidOptionsCase {
  std::string name;
  std::function<void(CurlTransportOptions&, const testing::LoopbackTls&)> apply;
  std::string message;
};

// Bad options fail at construction with InvalidArgument naming the problem, not at the first
// request.
TEST(CurlTransportOptionsTest, InvalidOptionsAreRejectedUpFront) {
  testing::LoopbackTls tls = testing::LoopbackTls::create();
  testing::TempDir dir;
  testing::LoopbackTls::Files files = tls.writeTo(dir);
  std::vector<InvalidOptionsCase> cases = {
      {"missing CA file", [](auto& o, auto&) { o.tls.ca_file = "/nonexistent/ca.crt"; },
       "/nonexistent/ca.crt"},
      {"CA file and PEM",
       [&](auto& o, auto& p) {
         o.tls.ca_file = files.ca_cert;
         o.tls.ca_pem = p.ca.caCertPem();
       },
       "not both"},
      {"CA PEM without a certificate", [](auto& o, auto&) { o.tls.ca_pem = "junk"; }, "CA PEM"},
      {"client cert without key",
       [](auto& o, auto& p) { o.tls.client_cert_pem = p.client.cert_pem; }, "together"},
      {"client key file missing",
       [](auto& o, auto& p) {
         o.tls.client_cert_pem = p.client.cert_pem;
         o.tls.client_key_file = "/nonexistent/client.key";
       },
       "/nonexistent/client.key"},
      {"key of another certificate",
       [](auto& o, auto& p) {
         o.tls.client_cert_pem = p.client.cert_pem;
         o.tls.client_key_pem = p.server.key_pem;
       },
       "does not match"},
      {"key that is not a key",
       [](auto& o, auto& p) {
         o.tls.client_cert_pem = p.client.cert_pem;
         o.tls.client_key_pem = p.client.cert_pem;
       },
       "private key"},
      {"zero connect timeout", [](auto& o, auto&) { o.connect_timeout = Duration::zero(); },
       "connect timeout"},
      {"negative total timeout", [](auto& o, auto&) { o.total_timeout = milliseconds(-1); },
       "negative"},
  };
  for (const InvalidOptionsCase& c : cases) {
    CurlTransportOptions options;
    c.apply(options, tls);
    Result<TransportPtr> made = makeCurlTransport(options);
    ASSERT_FALSE(made.has_value()) << c.name;
    EXPECT_EQ(made.error().code, ErrorCode::InvalidArgument) << c.name;
    EXPECT_THAT(made.error().message, HasSubstr(c.message)) << c.name;
  }
}

}  // namespace
}  // namespace opsy::http

#include <gtest/gtest.h>

#include <memory>

#include "opsy/http/curl_transport.h"
#include "support/loopback_server.h"
#include "unit/http/curl_test_support.h"

namespace opsy::http {
namespace {

// A server that answers as itself, so a test can tell a proxied request ("proxy saw ...") from
// a direct one ("origin").
std::unique_ptr<testing::LoopbackServer> startServer(const std::string& who) {
  auto server = std::make_unique<httplib::Server>();
  server->set_keep_alive_timeout(1);
  server->Get(".*", [who](const httplib::Request& req, httplib::Response& res) {
    res.set_content(who + " saw " + req.target + " host " + req.get_header_value("Host"),
                    "text/plain");
  });
  return std::make_unique<testing::LoopbackServer>(std::move(server));
}

// Proxy variables are cleared for the whole binary (see curl_transport_test.cc); each test sets
// only what it needs.
class CurlTransportProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    proxy_ = startServer("proxy");
    origin_ = startServer("origin");
  }

  std::string get(const CurlTransportOptions& options, const std::string& url) {
    Result<TransportPtr> t = makeCurlTransport(options);
    if (!t) {
      return t.error().toString();
    }
    Result<Response> r = (*t)->send(makeRequest("GET", url));
    return r ? r->body : r.error().toString();
  }

  std::unique_ptr<testing::LoopbackServer> proxy_;
  std::unique_ptr<testing::LoopbackServer> origin_;
};

// An explicit proxy receives the request in absolute form; the target host is never resolved
// locally, so a name only the proxy knows works.
TEST_F(CurlTransportProxyTest, ExplicitProxyReceivesAbsoluteUri) {
  CurlTransportOptions options;
  options.proxy = proxy_->url();
  EXPECT_EQ(get(options, "http://service.test/api/v1?watch=1"),
            "proxy saw http://service.test/api/v1?watch=1 host service.test");
}

// Without an explicit proxy, curl's http_proxy variable applies.
TEST_F(CurlTransportProxyTest, HttpProxyVariableIsHonoured) {
  ScopedEnv http_proxy("http_proxy", proxy_->url());
  EXPECT_EQ(get({}, "http://service.test/x"), "proxy saw http://service.test/x host service.test");
}

// curl (unlike Go) proxies loopback addresses too; no_proxy is what exempts them, and it applies
// to an explicit proxy as well.
TEST_F(CurlTransportProxyTest, NoProxyExemptsHosts) {
  std::string origin_url = origin_->url("/y");
  std::string origin_host = "127.0.0.1:" + std::to_string(origin_->port());
  ScopedEnv http_proxy("http_proxy", proxy_->url());
  EXPECT_EQ(get({}, origin_url), "proxy saw " + origin_url + " host " + origin_host);
  {
    ScopedEnv no_proxy("no_proxy", "127.0.0.1");
    EXPECT_EQ(get({}, origin_url), "origin saw /y host " + origin_host);
    CurlTransportOptions explicit_proxy;
    explicit_proxy.proxy = proxy_->url();
    EXPECT_EQ(get(explicit_proxy, origin_url), "origin saw /y host " + origin_host);
  }
}

// Upper-case HTTP_PROXY is ignored for http:// URLs (a CGI client could set it through the Proxy
// request header), and an explicit proxy wins over the environment.
TEST_F(CurlTransportProxyTest, UpperCaseHttpProxyIsIgnoredAndExplicitProxyWins) {
  std::string origin_url = origin_->url("/z");
  {
    ScopedEnv upper("HTTP_PROXY", proxy_->url());
    EXPECT_EQ(get({}, origin_url).rfind("origin saw /z", 0), 0u);
  }
  ScopedEnv http_proxy("http_proxy", origin_->url());
  CurlTransportOptions options;
  options.proxy = proxy_->url();
  EXPECT_EQ(get(options, "http://service.test/z").rfind("proxy saw", 0), 0u);
}

}  // namespace
}  // namespace opsy::http

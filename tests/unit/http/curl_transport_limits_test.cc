// The curl transport's bounds on what a server can make it hold or wait for: the response body
// limit (by Content-Length and as a chunked body arrives), the idle limit of a stream, and the
// TCP keepalive settings.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "opsy/http/curl_transport.h"
#include "support/child_process.h"
#include "support/loopback_server.h"
#include "unit/http/curl_test_support.h"

namespace opsy::http {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr size_t kFlood = size_t{200} << 20;
constexpr int kTrickleLines = 8;

// How much of one endless answer the server managed to send before the client hung up.
struct Flood {
  std::atomic<size_t> sent{0};
  std::atomic<bool> ended{false};
};

class CurlTransportLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    auto server = std::make_unique<httplib::Server>();
    server->set_keep_alive_timeout(1);
    // 200 MiB, chunked: the client learns the size only by reading.
    server->Get("/flood-chunked", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "application/json",
          [this](size_t, httplib::DataSink& sink) { return floodStep(chunked_, sink, true); },
          [this](bool) { chunked_.ended = true; });
    });
    // 200 MiB with a Content-Length: the client can refuse it from the head.
    server->Get("/flood-length", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider(
          kFlood, "application/json",
          [this](size_t, size_t, httplib::DataSink& sink) {
            return floodStep(sized_, sink, false);
          },
          [this](bool) { sized_.ended = true; });
    });
    // N bytes, with a Content-Length or chunked.
    server->Get(R"(/bytes/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      const size_t n = std::stoul(req.matches[1]);
      if (req.has_param("chunked")) {
        res.set_chunked_content_provider("text/plain", [n](size_t offset, httplib::DataSink& sink) {
          const std::string piece(std::min<size_t>(n - offset, 100), 'y');
          if (!piece.empty() && !sink.write(piece.data(), piece.size())) {
            return false;
          }
          if (offset + piece.size() >= n) {
            sink.done();
          }
          return true;
        });
        return;
      }
      res.set_content(std::string(n, 'y'), "text/plain");
    });
    // Headers, then nothing until the test ends: a watch whose connection went quiet.
    server->Get("/silent", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/json", [this](size_t, httplib::DataSink&) {
        std::this_thread::sleep_for(milliseconds(10));
        return !gate_.isOpen();
      });
    });
    // A line every 250 ms for two seconds: a quiet watch kept alive by bookmarks.
    server->Get("/trickle", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/json",
                                       [](size_t offset, httplib::DataSink& sink) {
                                         if (offset >= kTrickleLines * 5) {
                                           sink.done();
                                           return true;
                                         }
                                         std::this_thread::sleep_for(milliseconds(250));
                                         return sink.write("tick\n", 5);
                                       });
    });
    server_ = std::make_unique<testing::LoopbackServer>(std::move(server));
  }

  void TearDown() override { gate_.open(); }

  static bool floodStep(Flood& flood, httplib::DataSink& sink, bool chunked) {
    static const std::string block(size_t{64} << 10, 'x');
    if (flood.sent >= kFlood) {
      if (chunked) {
        sink.done();  // only reached by a client that read everything
      }
      return true;
    }
    if (!sink.write(block.data(), block.size())) {
      return false;
    }
    flood.sent += block.size();
    return true;
  }

  TransportPtr transport(CurlTransportOptions options = {}) {
    auto made = makeCurlTransport(std::move(options));
    EXPECT_TRUE(made.has_value()) << made.error().toString();
    return made ? *made : nullptr;
  }

  Gate gate_;
  Flood chunked_;
  Flood sized_;
  std::unique_ptr<testing::LoopbackServer> server_;
};

// A 200 MiB answer to send() is refused at the default 64 MiB limit, whether the server announces
// its length (refused from the head) or streams it chunked (refused as the limit is crossed):
// ResourceExhausted, not retryable, naming the URL without its query, the limit and the status;
// the transfer is aborted and the connection closed, so the server stops well short of 200 MiB.
TEST_F(CurlTransportLimitsTest, BodyOverTheLimitIsResourceExhaustedAndTheConnectionDropped) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  for (const char* path : {"/flood-length", "/flood-chunked"}) {
    Result<Response> resp = t->send(makeRequest("GET", server_->url(path) + "?token=secret"));
    ASSERT_FALSE(resp.has_value()) << path;
    const Error& e = resp.error();
    EXPECT_EQ(e.code, ErrorCode::ResourceExhausted) << e.toString();
    EXPECT_FALSE(isRetryable(e));
    EXPECT_EQ(e.http_status, 200);
    EXPECT_THAT(e.message, HasSubstr("GET " + server_->url(path) + ": response body exceeds " +
                                     std::to_string(size_t{64} << 20) + " bytes (status 200)"));
    EXPECT_THAT(e.message, ::testing::Not(HasSubstr("secret")));
  }
  for (Flood* flood : {&sized_, &chunked_}) {
    ASSERT_TRUE(testing::eventually([&] { return flood->ended.load(); }, std::chrono::seconds(20)))
        << "the server is still sending: the connection was not dropped";
    EXPECT_LT(flood->sent.load(), kFlood / 2);
  }
  // The transport is fine afterwards.
  Result<Response> next = t->send(makeRequest("GET", server_->url("/bytes/10")));
  ASSERT_TRUE(next.has_value()) << next.error().toString();
  EXPECT_EQ(next->body, std::string(10, 'y'));
}

// The limit is inclusive: a body of exactly max_response_body_bytes is read, one byte more is
// not, with or without a Content-Length.
TEST_F(CurlTransportLimitsTest, BodyAtTheLimitIsRead) {
  CurlTransportOptions options;
  options.max_response_body_bytes = 1000;
  TransportPtr t = transport(options);
  ASSERT_NE(t, nullptr);
  for (const char* query : {"", "?chunked=1"}) {
    Result<Response> at = t->send(makeRequest("GET", server_->url("/bytes/1000") + query));
    ASSERT_TRUE(at.has_value()) << query << ": " << at.error().toString();
    EXPECT_EQ(at->body.size(), 1000u);
    Result<Response> over = t->send(makeRequest("GET", server_->url("/bytes/1001") + query));
    ASSERT_FALSE(over.has_value()) << query;
    EXPECT_EQ(over.error().code, ErrorCode::ResourceExhausted) << over.error().toString();
  }
}

// stream() keeps nothing, so the body limit does not apply to it: its handler bounds what it
// keeps (the watch decoder does).
TEST_F(CurlTransportLimitsTest, StreamsAreNotBoundByTheBodyLimit) {
  CurlTransportOptions options;
  options.max_response_body_bytes = 1000;
  TransportPtr t = transport(options);
  ASSERT_NE(t, nullptr);
  size_t received = 0;
  StreamHandler handler;
  handler.on_data = [&](std::string_view chunk) {
    received += chunk.size();
    return true;
  };
  CancelToken cancel;
  Result<Response> head =
      t->stream(makeRequest("GET", server_->url("/bytes/5000?chunked=1")), handler, cancel);
  ASSERT_TRUE(head.has_value()) << head.error().toString();
  EXPECT_EQ(received, 5000u);
}

// A stream that receives nothing for its idle timeout is dropped with DeadlineExceeded saying
// how long it waited, however long the stream may last in total.
TEST_F(CurlTransportLimitsTest, SilentStreamIsDroppedAfterTheIdleTimeout) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  int chunks = 0;
  StreamHandler handler;
  handler.on_data = [&](std::string_view) {
    ++chunks;
    return true;
  };
  CancelToken cancel;
  Request req = makeRequest("GET", server_->url("/silent"));
  req.idle_timeout = milliseconds(500);
  Result<Response> head = t->stream(req, handler, cancel);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, ErrorCode::DeadlineExceeded) << head.error().toString();
  EXPECT_THAT(head.error().message, HasSubstr("nothing received for 500 ms"));
  EXPECT_EQ(chunks, 0);
}

// Data that keeps arriving keeps a stream alive past its idle timeout: every line of a stream
// twice as long as the timeout arrives, with lines four times as often as the timeout.
TEST_F(CurlTransportLimitsTest, DataKeepsAStreamAlivePastTheIdleTimeout) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  std::string body;
  StreamHandler handler;
  handler.on_data = [&](std::string_view chunk) {
    body.append(chunk);
    return true;
  };
  CancelToken cancel;
  Request req = makeRequest("GET", server_->url("/trickle"));
  req.idle_timeout = std::chrono::seconds(1);
  Result<Response> head = t->stream(req, handler, cancel);
  ASSERT_TRUE(head.has_value()) << head.error().toString();
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), kTrickleLines);
}

// TCP keepalive is on every connection; sub-second times cannot be expressed and are refused.
TEST(CurlTransportKeepaliveTest, SubSecondKeepaliveIsRefused) {
  CurlTransportOptions idle;
  idle.tcp_keepalive_idle = milliseconds(500);
  CurlTransportOptions interval;
  interval.tcp_keepalive_interval = Duration::zero();
  for (const CurlTransportOptions& o : {idle, interval}) {
    Result<TransportPtr> t = makeCurlTransport(o);
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error().code, ErrorCode::InvalidArgument);
    EXPECT_THAT(t.error().message, HasSubstr("keepalive"));
  }
  EXPECT_TRUE(makeCurlTransport({}).has_value());
}

}  // namespace
}  // namespace opsy::http

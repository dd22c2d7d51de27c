#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "opsy/http/curl_transport.h"
#include "support/loopback_server.h"
#include "unit/http/curl_test_support.h"

namespace opsy::http {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kChunks = 20;

class CurlTransportStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = std::make_unique<httplib::Server>();
    server->set_keep_alive_timeout(1);
    // A watch-like body: one event per chunk.
    server->Get("/chunks", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Stream", "events");
      res.set_chunked_content_provider("text/plain", [](size_t, httplib::DataSink& sink) {
        for (int i = 0; i < kChunks; ++i) {
          std::string line = "line-" + std::to_string(i) + "\n";
          if (!sink.write(line.data(), line.size())) {
            return false;
          }
        }
        sink.done();
        return true;
      });
    });
    // Ticks until the client goes away or the test ends.
    server->Get("/forever", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [this](size_t, httplib::DataSink& sink) {
        std::this_thread::sleep_for(milliseconds(5));
        return !gate_.isOpen() && sink.write("tick\n", 5);
      });
    });
    // Sends one line, then nothing until the test ends: a watch on a quiet cluster.
    server->Get("/silent", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain",
                                       [this](size_t offset, httplib::DataSink& sink) {
                                         if (offset == 0) {
                                           return sink.write("hello\n", 6);
                                         }
                                         std::this_thread::sleep_for(milliseconds(10));
                                         return !gate_.isOpen();
                                       });
    });
    // Sends headers, then no body for longer than the transport's total timeout and low-speed
    // time, then one chunk: a watch that is quiet for a while.
    server->Get("/pause", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [this](size_t, httplib::DataSink& sink) {
        gate_.waitOpen(milliseconds(1300));
        sink.write("late", 4);
        sink.done();
        return true;
      });
    });
    server->Get("/gone", [](const httplib::Request&, httplib::Response& res) {
      res.status = 410;
      res.set_header("X-Reason", "Expired");
    });
    server_ = std::make_unique<testing::LoopbackServer>(std::move(server));
  }

  void TearDown() override { gate_.open(); }

  TransportPtr transport(CurlTransportOptions options = {}) {
    auto made = makeCurlTransport(std::move(options));
    EXPECT_TRUE(made.has_value()) << made.error().toString();
    return made ? *made : nullptr;
  }

  Gate gate_;
  std::unique_ptr<testing::LoopbackServer> server_;
};

// Headers arrive once, before any body, and the body arrives complete and in order; the result
// is the response head with an empty body.
TEST_F(CurlTransportStreamTest, DeliversHeadersOnceThenChunksInOrder) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  std::vector<std::string> events;
  std::string body;
  StreamHandler handler;
  handler.on_headers = [&](const Response& head) {
    events.push_back("headers " + std::to_string(head.status) + " " +
                     std::string(head.header("X-Stream").value_or("?")));
  };
  handler.on_data = [&](std::string_view chunk) {
    if (events.empty() || events.back() != "data") {
      events.push_back("data");
    }
    body.append(chunk);
    return true;
  };
  CancelToken cancel;
  Result<Response> head = t->stream(makeRequest("GET", server_->url("/chunks")), handler, cancel);
  ASSERT_TRUE(head.has_value()) << head.error().toString();
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  EXPECT_THAT(events, ElementsAre("headers 200 events", "data"));
  std::string expected;
  for (int i = 0; i < kChunks; ++i) {
    expected += "line-" + std::to_string(i) + "\n";
  }
  EXPECT_EQ(body, expected);
}

// A response without a body (a watch answered 410 Gone) still reports its head once.
TEST_F(CurlTransportStreamTest, EmptyBodyStillDeliversHeaders) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  int header_calls = 0;
  int status = 0;
  StreamHandler handler;
  handler.on_headers = [&](const Response& head) {
    ++header_calls;
    status = head.status;
  };
  handler.on_data = [](std::string_view) { return true; };
  CancelToken cancel;
  Result<Response> head = t->stream(makeRequest("GET", server_->url("/gone")), handler, cancel);
  ASSERT_TRUE(head.has_value()) << head.error().toString();
  EXPECT_EQ(head->status, 410);
  EXPECT_EQ(head->header("X-Reason"), "Expired");
  EXPECT_EQ(header_calls, 1);
  EXPECT_EQ(status, 410);
}

// A handler returning false ends an endless stream cleanly: no error, and no more data.
TEST_F(CurlTransportStreamTest, HandlerStopEndsTheStreamWithoutError) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  int chunks = 0;
  StreamHandler handler;
  handler.on_data = [&](std::string_view) { return ++chunks < 3; };
  CancelToken cancel;
  Result<Response> head = t->stream(makeRequest("GET", server_->url("/forever")), handler, cancel);
  ASSERT_TRUE(head.has_value()) << head.error().toString();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(chunks, 3);
  // The transport stays usable after abandoning a connection mid-body.
  Result<Response> next = t->send(makeRequest("GET", server_->url("/gone")));
  ASSERT_TRUE(next.has_value()) << next.error().toString();
  EXPECT_EQ(next->status, 410);
}

// Cancelling while the server is silent returns Cancelled promptly (curl polls the token about
// once a second), not when the server next speaks.
TEST_F(CurlTransportStreamTest, CancelDuringSilenceReturnsCancelledPromptly) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  CancelToken cancel;
  std::mutex mu;
  std::condition_variable cv;
  bool got_first = false;
  StreamHandler handler;
  handler.on_data = [&](std::string_view) {
    std::lock_guard lock(mu);
    got_first = true;
    cv.notify_all();
    return true;
  };
  std::chrono::steady_clock::time_point cancelled_at;
  std::thread canceller([&] {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return got_first; });
    std::this_thread::sleep_for(milliseconds(100));  // let the transfer go idle
    cancelled_at = std::chrono::steady_clock::now();
    cancel.cancel();
  });
  Result<Response> head = t->stream(makeRequest("GET", server_->url("/silent")), handler, cancel);
  auto returned_at = std::chrono::steady_clock::now();
  canceller.join();
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, ErrorCode::Cancelled) << head.error().toString();
  EXPECT_TRUE(got_first);
  EXPECT_LT(returned_at - cancelled_at, std::chrono::seconds(2));
}

// A token cancelled before the call returns Cancelled without sending anything.
TEST_F(CurlTransportStreamTest, AlreadyCancelledTokenSendsNothing) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  CancelToken cancel;
  cancel.cancel();
  StreamHandler handler;
  bool called = false;
  handler.on_headers = [&](const Response&) { called = true; };
  Result<Response> head = t->stream(makeRequest("GET", server_->url("/chunks")), handler, cancel);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, ErrorCode::Cancelled);
  EXPECT_FALSE(called);
}

// Streams ignore the transport's total timeout and low-speed limit (a watch may be quiet longer
// than any request) but honour a timeout set on the request.
TEST_F(CurlTransportStreamTest, StreamsHaveNoTotalTimeoutUnlessRequested) {
  CurlTransportOptions options;
  options.total_timeout = milliseconds(200);
  options.low_speed_time = std::chrono::seconds(1);
  TransportPtr t = transport(std::move(options));
  ASSERT_NE(t, nullptr);
  std::string body;
  StreamHandler handler;
  handler.on_data = [&](std::string_view chunk) {
    body.append(chunk);
    return true;
  };
  CancelToken cancel;
  Result<Response> head = t->stream(makeRequest("GET", server_->url("/pause")), handler, cancel);
  ASSERT_TRUE(head.has_value()) << head.error().toString();
  EXPECT_EQ(body, "late");

  Request bounded = makeRequest("GET", server_->url("/silent"));
  bounded.timeout = milliseconds(300);
  head = t->stream(bounded, handler, cancel);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, ErrorCode::DeadlineExceeded) << head.error().toString();
}

// A handler that throws fails the call with Internal instead of unwinding through curl.
TEST_F(CurlTransportStreamTest, ThrowingHandlerIsAnInternalError) {
  TransportPtr t = transport();
  ASSERT_NE(t, nullptr);
  StreamHandler handler;
  handler.on_data = [](std::string_view) -> bool { throw std::runtime_error("bad event"); };
  CancelToken cancel;
  Result<Response> head = t->stream(makeRequest("GET", server_->url("/chunks")), handler, cancel);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, ErrorCode::Internal);
  EXPECT_THAT(head.error().message, HasSubstr("bad event"));
}

}  // namespace
}  // namespace opsy::http

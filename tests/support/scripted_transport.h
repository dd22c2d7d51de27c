// File: scripted_transport.h
//
// An http::Transport for unit tests that never opens a socket: the test queues the responses
// (or transport failures) it wants, in order, optionally with the method and URL each request
// must have; every request sent is recorded for assertions on the exact encoding.
//
//   ScriptedTransport t;
//   t.expect("POST", "https://ec2.us-east-1.amazonaws.com/").reply(200,
//   "<DescribeImagesResponse/>");
//   ... client.describeImages(...);
//   EXPECT_THAT(t.requests()[0].body, HasSubstr("Action=DescribeImages"));
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "opsy/http/transport.h"

namespace opsy::test {

class ScriptedTransport : public http::Transport {
 public:
  // One scripted exchange. Built by expect()/next() and completed by reply() or failWith().
  class Step {
   public:
    Step& reply(int status, std::string body = "", http::Headers headers = {});
    Step& failWith(Error error);

   private:
    friend class ScriptedTransport;
    std::optional<std::string> method_;
    std::optional<std::string> url_;  // exact URL, or a prefix when it ends with '*'
    Result<http::Response> result_ = http::Response{};
  };

  // The next request must have this method and URL (a trailing '*' matches any suffix).
  Step& expect(std::string method, std::string url);
  // The next request may be anything.
  Step& next();
  // Shorthand for next().reply(...).
  void reply(int status, std::string body = "", http::Headers headers = {});

  Result<http::Response> send(const http::Request& request) override;
  Result<http::Response> stream(const http::Request& request, const http::StreamHandler& handler,
                                const http::CancelToken& cancel) override;

  std::vector<http::Request> requests() const;
  http::Request lastRequest() const;
  size_t remaining() const;

 private:
  mutable std::mutex mu_;
  std::deque<Step> steps_;
  std::vector<http::Request> requests_;
};

}  // namespace opsy::test

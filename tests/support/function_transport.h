// File: function_transport.h
//
// An http::Transport whose answers come from a function the test writes, for clients whose
// replies depend on the request (a fake Slack that answers per channel). Requests are recorded.
//
//   FunctionTransport t([](const http::Request& r) { return http::Response{200, {}, "{}"}; });
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "opsy/http/transport.h"

namespace opsy::testing {

class FunctionTransport : public http::Transport {
 public:
  using Handler = std::function<Result<http::Response>(const http::Request&)>;

  explicit FunctionTransport(Handler handler) : handler_(std::move(handler)) {}

  Result<http::Response> send(const http::Request& request) override {
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
    }
    return handler_(request);
  }

  Result<http::Response> stream(const http::Request& request, const http::StreamHandler& handler,
                                const http::CancelToken&) override {
    OPSY_ASSIGN_OR_RETURN(http::Response resp, send(request));
    if (handler.on_headers) {
      handler.on_headers(http::Response{resp.status, resp.headers, ""});
    }
    if (handler.on_data && !resp.body.empty()) {
      handler.on_data(resp.body);
    }
    resp.body.clear();
    return resp;
  }

  std::vector<http::Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  Handler handler_;
  mutable std::mutex mu_;
  std::vector<http::Request> requests_;
};

}  // namespace opsy::testing

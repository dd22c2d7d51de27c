#include "support/scripted_transport.h"

#include <gtest/gtest.h>

namespace opsy::test {

ScriptedTransport::Step& ScriptedTransport::Step::reply(int status, std::string body,
                                                        http::Headers headers) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  result_ = std::move(r);
  return *this;
}

ScriptedTransport::Step& ScriptedTransport::Step::failWith(Error error) {
  result_ = tl::unexpected(std::move(error));
  return *this;
}

ScriptedTransport::Step& ScriptedTransport::expect(std::string method, std::string url) {
  std::lock_guard<std::mutex> lock(mu_);
  Step& s = steps_.emplace_back();
  s.method_ = std::move(method);
  s.url_ = std::move(url);
  return s;
}

ScriptedTransport::Step& ScriptedTransport::next() {
  std::lock_guard<std::mutex> lock(mu_);
  return steps_.emplace_back();
}

void ScriptedTransport::reply(int status, std::string body, http::Headers headers) {
  next().reply(status, std::move(body), std::move(headers));
}

Result<http::Response> ScriptedTransport::send(const http::Request& request) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_.push_back(request);
  if (steps_.empty()) {
    ADD_FAILURE() << "unscripted request: " << request.method << " " << request.url;
    return fail(ErrorCode::Internal, "scripted transport: no response scripted");
  }
  Step step = std::move(steps_.front());
  steps_.pop_front();
  if (step.method_ && *step.method_ != request.method) {
    ADD_FAILURE() << "expected method " << *step.method_ << ", got " << request.method;
  }
  if (step.url_) {
    const std::string& want = *step.url_;
    bool prefix = !want.empty() && want.back() == '*';
    bool match =
        prefix ? request.url.rfind(want.substr(0, want.size() - 1), 0) == 0 : request.url == want;
    if (!match) {
      ADD_FAILURE() << "expected url " << want << ", got " << request.url;
    }
  }
  return step.result_;
}

Result<http::Response> ScriptedTransport::stream(const http::Request& request,
                                                 const http::StreamHandler& handler,
                                                 const http::CancelToken& cancel) {
  if (cancel.cancelled()) {
    return fail(ErrorCode::Cancelled, "cancelled");
  }
  OPSY_ASSIGN_OR_RETURN(http::Response resp, send(request));
  if (handler.on_headers) {
    http::Response head = resp;
    head.body.clear();
    handler.on_headers(head);
  }
  if (handler.on_data && !resp.body.empty()) {
    handler.on_data(resp.body);
  }
  resp.body.clear();
  return resp;
}

std::vector<http::Request> ScriptedTransport::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

http::Request ScriptedTransport::lastRequest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.empty() ? http::Request{} : requests_.back();
}

size_t ScriptedTransport::remaining() const {
  std::lock_guard<std::mutex> lock(mu_);
  return steps_.size();
}

}  // namespace opsy::test

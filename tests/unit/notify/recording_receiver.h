// File: recording_receiver.h
//
// A loopback HTTP receiver for the Discord and webhook sender tests: it records every POST (path,
// query, headers, body) and answers from a script of replies, the last one repeating, so a test
// can say "503, then 200" and then look at exactly what arrived.
//
//   RecordingReceiver receiver({reply(503), reply(200)});
//   sender->send(n);  // to receiver.url("/hook")
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "support/loopback_server.h"

namespace opsy::notify {

struct Received {
  std::string path;
  httplib::Params params;
  httplib::Headers headers;
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);  // httplib compares header names case-insensitively
    return it == headers.end() ? std::string() : it->second;
  }
  bool hasHeader(const std::string& name) const { return headers.count(name) > 0; }
};

using Reply = std::function<void(httplib::Response&)>;

inline Reply reply(int status, std::string body = "",
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
  return [=](httplib::Response& res) {
    res.status = status;
    for (const auto& [k, v] : headers) {
      res.set_header(k, v);
    }
    if (!body.empty()) {
      res.set_content(body, "application/json");
    }
  };
}

class RecordingReceiver {
 public:
  explicit RecordingReceiver(std::vector<Reply> script = {reply(204)})
      : script_(std::move(script)) {
    auto server = std::make_unique<httplib::Server>();
    server->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      Reply answer;
      {
        std::lock_guard lock(mu_);
        received_.push_back({req.path, req.params, req.headers, req.body});
        answer = script_[std::min(received_.size(), script_.size()) - 1];
      }
      answer(res);
    });
    server_ = std::make_unique<testing::LoopbackServer>(std::move(server));
  }

  std::string url(const std::string& path) const { return server_->url(path); }

  std::vector<Received> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Reply> script_;
  std::vector<Received> received_;
  std::unique_ptr<testing::LoopbackServer> server_;  // last: stops before the rest goes
};

// curl proxies 127.0.0.1 too, so a binary using this receiver runs without proxy variables
// (registered once per binary, however many test files include this header).
class NoProxyEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { opsy::testing::clearProxyEnvironment(); }
};
[[maybe_unused]] inline ::testing::Environment* const kNoProxyEnvironment =
    ::testing::AddGlobalTestEnvironment(new NoProxyEnvironment);

}  // namespace opsy::notify

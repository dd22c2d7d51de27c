// File: curl_test_support.h
//
// Small helpers shared by the curl transport tests: an environment variable set for one scope,
// a flag that releases handlers kept waiting on purpose, and a Request builder.
//
//   ScopedEnv proxy("http_proxy", proxy_server.url());
#pragma once

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "opsy/http/transport.h"

namespace opsy::http {

// Request is an aggregate, but designated initializers that skip fields trip
// -Wmissing-field-initializers; this spells the common cases.
inline Request makeRequest(std::string method, std::string url, Headers headers = {},
                           std::string body = {}) {
  Request r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

class ScopedEnv {
 public:
  // Sets `name` to `value`, or unsets it when value is nullopt; restores the old state on exit.
  ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = getenv(name_.c_str()); old != nullptr) {
      old_ = old;
    }
    apply(value);
  }
  ~ScopedEnv() { apply(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void apply(const std::optional<std::string>& value) {
    if (value) {
      setenv(name_.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

  std::string name_;
  std::optional<std::string> old_;
};

// Lets a test handler stall until the test ends (or a safety limit passes), so server shutdown
// never waits long on it.
class Gate {
 public:
  void open() { open_.store(true); }
  void waitOpen(std::chrono::milliseconds limit = std::chrono::seconds(5)) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!open_.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  bool isOpen() const { return open_.load(); }

 private:
  std::atomic<bool> open_{false};
};

}  // namespace opsy::http

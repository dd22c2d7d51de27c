// File: loopback_server.h
//
// Runs a configured cpp-httplib server (plain or TLS) on 127.0.0.1 with a kernel-chosen port, on
// a background thread, for tests of anything that speaks HTTP. Register handlers first; the
// server stops and its thread is joined when the LoopbackServer is destroyed. Handlers that block
// must return once stop() is called, or the destructor waits for them.
//
//   auto server = std::make_unique<httplib::Server>();
//   server->Get("/ping", [](const httplib::Request&, httplib::Response& res) { ... });
//   testing::LoopbackServer running(std::move(server));
//   transport->send({.url = running.url("/ping")});
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <thread>

namespace opsy::testing {

// Unsets the proxy variables libcurl reads (http_proxy, https_proxy, all_proxy, no_proxy, in
// both cases). curl proxies 127.0.0.1 too, so a binary whose tests call loopback servers through
// libcurl should call this once before its tests run (a ::testing::Environment does it).
void clearProxyEnvironment();

class LoopbackServer {
 public:
  // Binds and starts serving; aborts when no port can be bound.
  explicit LoopbackServer(std::unique_ptr<httplib::Server> server);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>", or https for a TLS server; `host` replaces 127.0.0.1.
  std::string url(const std::string& path = "", const std::string& host = "127.0.0.1") const;
  httplib::Server& server() { return *server_; }
  // Stops accepting and waits for the serving thread; idempotent.
  void stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  bool tls_ = false;
};

}  // namespace opsy::testing

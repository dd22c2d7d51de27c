#include "support/loopback_server.h"

#include <stdlib.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace opsy::testing {

void clearProxyEnvironment() {
  for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                           "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
    unsetenv(name);
  }
}

LoopbackServer::LoopbackServer(std::unique_ptr<httplib::Server> server)
    : server_(std::move(server)) {
  // OpenSSL writes to a socket the client already closed raise SIGPIPE; a test must see a failed
  // write instead of dying.
  std::signal(SIGPIPE, SIG_IGN);
  // Responses go out as separate header and body writes; with Nagle's algorithm each would wait
  // for the client's delayed ACK, adding ~40 ms to every call.
  server_->set_tcp_nodelay(true);
  tls_ = dynamic_cast<httplib::SSLServer*>(server_.get()) != nullptr;
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) {
    std::fprintf(stderr, "loopback server: cannot bind 127.0.0.1\n");
    std::abort();
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() before the accept loop runs would be lost, and connections queue in the listen
  // backlog meanwhile anyway, so waiting here costs nothing.
  while (!server_->is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

LoopbackServer::~LoopbackServer() {
  stop();
}

std::string LoopbackServer::url(const std::string& path, const std::string& host) const {
  return std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(port_) + path;
}

void LoopbackServer::stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace opsy::testing

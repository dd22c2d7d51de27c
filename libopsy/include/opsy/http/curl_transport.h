// File: curl_transport.h
//
// The production Transport, on libcurl. One transport holds a pool of curl handles, each keeping
// its own connection cache, so sequential calls reuse TCP/TLS connections; it is safe to call from
// many threads at once. TLS verification is on unless turned off; the CA, client certificate and
// key come from files or PEM text (kubeconfig's *-data fields). Redirects are never followed, and
// only the caller's headers go out besides Host, Accept, Content-Length and User-Agent: no
// default Content-Type, no "Expect: 100-continue".
//
//   http::CurlTransportOptions options;
//   options.tls.ca_pem = cluster.certificate_authority_data;
//   OPSY_ASSIGN_OR_RETURN(http::TransportPtr transport, http::makeCurlTransport(options));
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/http/transport.h"

namespace opsy::http {

struct TlsConfig {
  // Verify the server's certificate chain and name. Off only for explicit insecure setups.
  bool verify = true;
  // Trusted CAs, from a file or PEM text (set at most one). Either replaces the system store.
  std::string ca_file;
  std::string ca_pem;
  // Client certificate and key for mutual TLS, each from a file or PEM text; both or neither.
  std::string client_cert_file;
  std::string client_cert_pem;
  std::string client_key_file;
  std::string client_key_pem;
  // kubeconfig `tls-server-name`: the name sent as SNI and verified in the server's certificate
  // instead of the URL's host. The connection still goes to the URL's host and port, and the Host
  // header still names the URL's host.
  std::string server_name;
};

struct CurlTransportOptions {
  TlsConfig tls;
  // An explicit proxy URL ("http://proxy:3128"). When empty, curl's environment variables apply:
  // http_proxy (lower case only), https_proxy / HTTPS_PROXY, all_proxy, and no_proxy / NO_PROXY.
  // Note that curl, unlike Go, proxies loopback addresses too unless no_proxy lists them, and
  // no_proxy applies to an explicit proxy as well.
  std::string proxy;
  // Time allowed to establish a connection (TCP and TLS); must be positive.
  Duration connect_timeout = std::chrono::seconds(10);
  // Whole-call limit for send(); zero means none. stream() has none unless the request sets
  // Request::timeout, which overrides this for either call.
  Duration total_timeout = std::chrono::seconds(60);
  // send() fails with DeadlineExceeded when fewer than low_speed_limit_bytes per second arrive
  // for low_speed_time. Not applied to stream(), whose servers may be quiet for long.
  long low_speed_limit_bytes = 1;
  Duration low_speed_time = std::chrono::seconds(60);
  // The longest response body send() reads. A longer one (by its Content-Length, or as it
  // arrives) aborts the transfer, closes the connection and fails with ResourceExhausted naming
  // the URL, the status and the limit, so a runaway or hostile server cannot exhaust memory.
  // stream() keeps nothing itself: its handler bounds what it keeps. Zero: no limit.
  size_t max_response_body_bytes = size_t{64} << 20;
  // TCP keepalive on every connection: the first probe after tcp_keepalive_idle without traffic,
  // then one every tcp_keepalive_interval, so a peer that vanished without a FIN or RST (a NAT or
  // load balancer that forgot the flow) breaks the connection instead of leaving it open.
  // Whole seconds, at least one.
  Duration tcp_keepalive_idle = std::chrono::seconds(30);
  Duration tcp_keepalive_interval = std::chrono::seconds(30);
  // Handles (and their open connections) kept for reuse when no call is using them.
  size_t max_idle_handles = 16;
  // Sent as User-Agent unless a request sets its own.
  std::string user_agent;
};

// Validates `options` (readable files, parseable PEM, a client key that matches its certificate,
// sane timeouts) and returns a transport; InvalidArgument names what is wrong.
[[nodiscard]] Result<TransportPtr> makeCurlTransport(CurlTransportOptions options);

}  // namespace opsy::http

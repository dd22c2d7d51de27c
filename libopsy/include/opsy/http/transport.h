// File: transport.h
//
// The seam between libopsy and the network. Everything that talks HTTP (AWS clients, the
// Kubernetes client, notifiers) takes a Transport, so tests can script responses without a
// socket and production uses the libcurl implementation (curl_transport.h).
//
// An HTTP error status is not a transport failure: send() returns the Response and the caller
// maps 4xx/5xx to its service's errors. A Result error means no usable response: connection
// refused or reset (Unavailable), timeout or a silent connection (DeadlineExceeded), TLS
// verification failure (FailedPrecondition), a body over the size limit (ResourceExhausted),
// cancellation (Cancelled).
//
//   http::Request req{.method = "GET", .url = server + "/api"};
//   OPSY_ASSIGN_OR_RETURN(http::Response resp, transport.send(req));
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup (first match).
std::optional<std::string_view> findHeader(const Headers& headers, std::string_view name);

// A TLS client certificate and its private key, as PEM text.
struct ClientCertificate {
  std::string cert_pem;
  std::string key_pem;
};

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  // Overrides the transport's total timeout for this request (streams default to none).
  std::optional<Duration> timeout;
  // Fails the call with DeadlineExceeded when nothing of the response (head or body) arrives for
  // this long, however long the call has run: a watch whose connection went silent. Checked
  // about once a second. Unset: no limit.
  std::optional<Duration> idle_timeout;
  // Presented instead of the transport's client certificate, for this request only (credentials
  // that rotate, such as an exec plugin's). Ignored for http:// URLs.
  std::optional<ClientCertificate> client_certificate;
  // Connect to this IP address instead of resolving the URL's host, which still names the server
  // for TLS (SNI, certificate check) and Host: a caller that checked where a name points makes
  // the connection go exactly there, whatever the name resolves to a moment later.
  std::optional<std::string> connect_address;
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;

  std::optional<std::string_view> header(std::string_view name) const {
    return findHeader(headers, name);
  }
};

// Shared between the caller and a running stream; cancel() makes stream() return Cancelled
// promptly (within the transport's poll interval, at most a second).
class CancelToken {
 public:
  void cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct StreamHandler {
  // Called once with status and headers, before any body chunk.
  std::function<void(const Response& head)> on_headers;
  // Called for each chunk of body as it arrives; return false to stop the stream.
  std::function<bool(std::string_view chunk)> on_data;
};

class Transport {
 public:
  virtual ~Transport() = default;

  /**
   * Sends a request and reads the whole response body.
   * @return the response, whatever its status; an error only when no response was read, or
   *         ResourceExhausted when the body is longer than the transport accepts.
   */
  [[nodiscard]] virtual Result<Response> send(const Request& request) = 0;

  /**
   * Sends a request and delivers the body in chunks as it arrives (watches, pod logs).
   * @return the response head (status, headers, empty body) when the server ends the body or
   *         the handler returns false; Cancelled when `cancel` fired first.
   */
  [[nodiscard]] virtual Result<Response> stream(const Request& request,
                                                const StreamHandler& handler,
                                                const CancelToken& cancel) = 0;
};

using TransportPtr = std::shared_ptr<Transport>;

}  // namespace opsy::http

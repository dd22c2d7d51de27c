#include "opsy/kube/transport.h"

namespace opsy::kube {

Result<http::CurlTransportOptions> transportOptions(const RestConfig& config,
                                                    http::CurlTransportOptions base) {
  if (config.server.empty()) {
    return fail(ErrorCode::InvalidArgument, config.origin + ": no server address");
  }
  // The loaders allow a file and inline data side by side; inline data wins, as in client-go.
  http::TlsConfig tls;
  tls.verify = !config.insecure_skip_tls_verify;
  if (!config.ca_pem.empty()) {
    tls.ca_pem = config.ca_pem;
  } else {
    tls.ca_file = config.ca_file;
  }
  if (!config.client_certificate_pem.empty()) {
    tls.client_cert_pem = config.client_certificate_pem;
  } else {
    tls.client_cert_file = config.client_certificate_file;
  }
  if (!config.client_key_pem.empty()) {
    tls.client_key_pem = config.client_key_pem;
  } else {
    tls.client_key_file = config.client_key_file;
  }
  tls.server_name = config.tls_server_name;
  base.tls = std::move(tls);
  base.proxy = config.proxy_url;
  return base;
}

Result<http::TransportPtr> makeTransport(const RestConfig& config,
                                         http::CurlTransportOptions base) {
  OPSY_ASSIGN_OR_RETURN(http::CurlTransportOptions options,
                        transportOptions(config, std::move(base)));
  auto transport = http::makeCurlTransport(std::move(options));
  if (!transport) {
    return fail(std::move(transport).error().context(config.origin.empty() ? "kubernetes transport"
                                                                           : config.origin));
  }
  return transport;
}

}  // namespace opsy::kube

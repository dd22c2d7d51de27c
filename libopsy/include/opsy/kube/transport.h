// File: transport.h
//
// The HTTPS transport a Kubernetes client talks through, built from a RestConfig: the cluster CA
// (file or PEM), the client certificate and key, insecure-skip-tls-verify, tls-server-name and
// proxy-url all become libcurl settings. It adds no bearer token: the Client reads the config's
// credential source for every request and adds it (one place, errors returned, not thrown). A
// client certificate an exec plugin returns rotates with its credential, so the Client presents
// it per request (http::Request::client_certificate) instead of the transport's fixed one.
//
//   OPSY_ASSIGN_OR_RETURN(http::TransportPtr transport, kube::makeTransport(cfg));
//   kube::ClientPtr client = kube::makeClient(cfg, transport, realClock());
#pragma once

#include "opsy/core/result.h"
#include "opsy/http/curl_transport.h"
#include "opsy/http/transport.h"
#include "opsy/kube/config.h"

namespace opsy::kube {

// The libcurl options for `config`; `base` supplies what a RestConfig does not say (timeouts,
// user agent, pool size). TLS and proxy fields of `base` are replaced.
[[nodiscard]] Result<http::CurlTransportOptions> transportOptions(
    const RestConfig& config, http::CurlTransportOptions base = {});

// makeCurlTransport(transportOptions(config, base)). InvalidArgument names the bad setting
// (unreadable CA file, a key that does not match its certificate), prefixed with config.origin.
[[nodiscard]] Result<http::TransportPtr> makeTransport(const RestConfig& config,
                                                       http::CurlTransportOptions base = {});

}  // namespace opsy::kube

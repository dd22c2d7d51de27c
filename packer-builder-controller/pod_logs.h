// File: pod_logs.h
//
// PodLogReader over the Kubernetes REST API (GET /api/v1/namespaces/{ns}/pods/{pod}/log), for the
// build container's output that tells which AMI a build produced. The REST client has no log
// call, so this sends the request itself through the same transport and credentials. 404 comes
// back as NotFound (pod gone), 400 as InvalidArgument (container not started), others as
// Unavailable.
//
//   PodLogReaderImpl logs(rest_config, transport);
//   OPSY_ASSIGN_OR_RETURN(std::string text, logs.containerLog("ci", pod, "packer-build"));
#pragma once

#include <string>
#include <string_view>

#include "opsy/http/transport.h"
#include "opsy/kube/config.h"
#include "packer-builder-controller/reconciler.h"

namespace opsy::packer_builder {

class PodLogReaderImpl : public PodLogReader {
 public:
  // `add_bearer_token`: false when the transport already authenticates each request.
  PodLogReaderImpl(kube::RestConfig config, http::TransportPtr transport,
                   bool add_bearer_token = true, Duration timeout = std::chrono::seconds(60))
      : config_(std::move(config)),
        transport_(std::move(transport)),
        add_bearer_token_(add_bearer_token),
        timeout_(timeout) {}

  [[nodiscard]] Result<std::string> containerLog(std::string_view ns, std::string_view pod,
                                                 std::string_view container) override;

 private:
  kube::RestConfig config_;
  http::TransportPtr transport_;
  bool add_bearer_token_;
  Duration timeout_;
};

}  // namespace opsy::packer_builder

#include "packer-builder-controller/pod_logs.h"

#include <fmt/format.h>

#include "opsy/kube/resource.h"

namespace opsy::packer_builder {

Result<std::string> PodLogReaderImpl::containerLog(std::string_view ns, std::string_view pod,
                                                   std::string_view container) {
  http::Request req;
  req.method = "GET";
  // Names of namespaces, pods and containers are DNS labels: nothing to escape.
  req.url = fmt::format("{}{}?container={}", config_.server,
                        kube::resourcePath(kube::resources::pods(), ns, pod, "log"), container);
  req.timeout = timeout_;
  req.headers.emplace_back("Accept", "text/plain");
  if (add_bearer_token_ && config_.credentials) {
    auto cred = config_.credentials->credential();
    if (!cred) {
      return tl::unexpected(std::move(cred).error().context("read pod log"));
    }
    if (!cred->token.empty()) {
      req.headers.emplace_back("Authorization", "Bearer " + cred->token);
    }
  }
  auto resp = transport_->send(req);
  if (!resp) {
    return tl::unexpected(std::move(resp).error().context("read pod log"));
  }
  if (resp->status == 200) {
    return std::move(resp->body);
  }
  std::string what =
      fmt::format("read log of pod {}/{} container {}: http {}", ns, pod, container, resp->status);
  if (resp->status == 404) {
    return fail(Error{ErrorCode::NotFound, what}.withHttpStatus(404));
  }
  if (resp->status == 400) {
    return fail(Error{ErrorCode::InvalidArgument, what}.withHttpStatus(400));
  }
  if (resp->status == 401 || resp->status == 403) {
    if (resp->status == 401 && config_.credentials) {
      config_.credentials->invalidate();
    }
    return fail(
        Error{resp->status == 401 ? ErrorCode::Unauthenticated : ErrorCode::PermissionDenied, what}
            .withHttpStatus(resp->status));
  }
  return fail(Error{ErrorCode::Unavailable, what}.withHttpStatus(resp->status));
}

}  // namespace opsy::packer_builder

#include "packer-builder-controller/pod_logs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/function_transport.h"

namespace opsy::packer_builder {
namespace {

kube::RestConfig config() {
  kube::RestConfig cfg;
  cfg.server = "https://10.0.0.1:443";
  cfg.credentials = kube::staticTokenSource("sa-token");
  return cfg;
}

// The build container's log is read with the pod log endpoint, authenticated with the token.
TEST(PodLogReader, ReadsContainerLogWithBearerToken) {
  auto transport = std::make_shared<testing::FunctionTransport>(
      [](const http::Request&) -> Result<http::Response> {
        return http::Response{200, {}, "1,b,artifact,0,id,us-west-2:ami-0abc\n"};
      });
  PodLogReaderImpl logs(config(), transport);
  auto text = logs.containerLog("ci", "pb-j1-xyz", "packer-build");
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "1,b,artifact,0,id,us-west-2:ami-0abc\n");
  auto sent = transport->requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].url,
            "https://10.0.0.1:443/api/v1/namespaces/ci/pods/pb-j1-xyz/log?container=packer-build");
  EXPECT_EQ(http::findHeader(sent[0].headers, "Authorization"),
            std::optional<std::string_view>("Bearer sa-token"));
}

// A pod that is gone is NotFound (the build's result is then unknown); a container that never
// started is InvalidArgument; the rest is retryable.
TEST(PodLogReader, MapsHttpErrors) {
  for (auto [status, code] :
       {std::pair{404, ErrorCode::NotFound}, std::pair{400, ErrorCode::InvalidArgument},
        std::pair{503, ErrorCode::Unavailable}}) {
    int http_status = status;
    auto transport = std::make_shared<testing::FunctionTransport>(
        [http_status](const http::Request&) -> Result<http::Response> {
          return http::Response{http_status, {}, "{}"};
        });
    PodLogReaderImpl logs(config(), transport);
    auto text = logs.containerLog("ci", "p", "c");
    ASSERT_FALSE(text.has_value());
    EXPECT_EQ(text.error().code, code) << http_status;
  }
}

}  // namespace
}  // namespace opsy::packer_builder

#include "support/fake_kube_protobuf.h"

#include <gtest/gtest.h>

namespace opsy::testing {
namespace {

// Builds protobuf bytes by hand: a length-delimited field (wire type 2).
std::string field(int number, std::string_view bytes) {
  std::string out;
  out.push_back(static_cast<char>((number << 3) | 2));
  out.push_back(static_cast<char>(bytes.size()));
  out.append(bytes);
  return out;
}

std::string envelope(std::string_view api_version, std::string_view kind, std::string_view raw) {
  return std::string("k8s\0", 4) + field(1, field(1, api_version) + field(2, kind)) + field(2, raw);
}

// A ConfigMap as kubectl create sends it decodes to the equivalent JSON.
TEST(FakeKubeProtobuf, DecodesConfigMap) {
  const std::string meta = field(1, "settings") + field(2, "") + field(3, "builds") +
                           field(11, field(1, "app") + field(2, "web"));
  const std::string raw = field(1, meta) + field(2, field(1, "a") + field(2, "b"));
  auto doc = protobufToJson(envelope("v1", "ConfigMap", raw));
  ASSERT_TRUE(doc.has_value()) << doc.error().message;
  EXPECT_EQ(toJson(*doc), R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings",)"
                          R"("namespace":"builds","labels":{"app":"web"}},"data":{"a":"b"}})");
}

// Secret data is bytes in protobuf and base64 in JSON.
TEST(FakeKubeProtobuf, SecretDataIsBase64) {
  const std::string raw = field(1, field(1, "git")) + field(2, field(1, "token") + field(2, "abc"));
  auto doc = protobufToJson(envelope("v1", "Secret", raw));
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(stringAt(*doc, {"data", "token"}), "YWJj");
}

// Kinds without a decoder, and bodies without the envelope, are refused.
TEST(FakeKubeProtobuf, RefusesOtherKindsAndGarbage) {
  EXPECT_FALSE(protobufToJson(envelope("batch/v1", "Job", "")).has_value());
  EXPECT_FALSE(protobufToJson("{}").has_value());
  EXPECT_FALSE(protobufToJson(std::string("k8s\0\x0a\x7f", 6)).has_value());
}

}  // namespace
}  // namespace opsy::testing

#include "opsy/notify/slack_notifiers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "mocks/kube_client_mock.h"
#include "opsy/core/fake_clock.h"
#include "opsy/kube/objects.h"
#include "support/function_transport.h"

namespace opsy::notify {
namespace {

using ::testing::_;
using ::testing::Return;

kube::Object slackSecret(const std::string& token) {
  kube::Secret s;
  s.metadata.ns = "ops";
  s.metadata.name = "slack";
  s.type = "Opaque";
  s.data["token"] = token;
  return s.toObject();
}

std::string authorization(const http::Request& r) {
  return std::string(http::findHeader(r.headers, "Authorization").value_or(""));
}

// The token is read from the Secret at each send, so a rotated token is used without a restart.
TEST(SlackNotifiers, ReadsTheTokenAtEverySend) {
  kube::MockObjectReader secrets;
  EXPECT_CALL(secrets, get(_, std::string_view("ops"), std::string_view("slack")))
      .WillOnce(Return(slackSecret("xoxb-first")))
      .WillOnce(Return(slackSecret("xoxb-second")));
  auto transport = std::make_shared<opsy::testing::FunctionTransport>([](const http::Request&) {
    return http::Response{200, {}, R"({"ok":true,"ts":"1.2"})"};
  });
  FakeClock clock;
  SlackNotifiers slack(secrets, transport, clock, "http://slack.invalid/api");

  NotifierPtr n = slack.notifierFor("ops", "slack", {"C0123"});
  ASSERT_NE(n, nullptr);
  auto* async = dynamic_cast<AsyncNotifier*>(n.get());
  ASSERT_NE(async, nullptr);
  n->notify({.title = "Rollout started", .object = "ops/roll"});
  async->flush();
  n->notify({.title = "Rollout finished", .object = "ops/roll"});
  async->flush();

  auto requests = transport->requests();
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(authorization(requests[0]), "Bearer xoxb-first");
  EXPECT_EQ(authorization(requests[1]), "Bearer xoxb-second");
}

// Resources naming the same destination share one notifier (one queue); another channel list
// is another destination.
TEST(SlackNotifiers, OneNotifierPerDestination) {
  kube::MockObjectReader secrets;
  auto transport = std::make_shared<opsy::testing::FunctionTransport>([](const http::Request&) {
    return http::Response{200, {}, R"({"ok":true})"};
  });
  FakeClock clock;
  SlackNotifiers slack(secrets, transport, clock);

  NotifierPtr a = slack.notifierFor("ops", "slack", {"C0123"});
  EXPECT_EQ(slack.notifierFor("ops", "slack", {"C0123"}), a);
  EXPECT_NE(slack.notifierFor("ops", "slack", {"C0456"}), a);
  EXPECT_NE(slack.notifierFor("dev", "slack", {"C0123"}), a);
}

}  // namespace
}  // namespace opsy::notify

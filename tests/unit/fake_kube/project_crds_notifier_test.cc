// The project's own CRDs (crds/) served by the fake API server: the spec.notifier schema both
// kinds share accepts every destination and refuses bad input before a controller sees it.
#include <gtest/gtest.h>
#include <rapidjson/pointer.h>

#include <fstream>
#include <sstream>

#include "fake_kube_fixture.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {
namespace {

std::string readCrd(const std::string& file) {
  std::ifstream in(std::string(OPSY_TEST_DATA_DIR) + "/../../crds/" + file);
  std::stringstream s;
  s << in.rdbuf();
  auto doc = parseJsonOrYaml(s.str());
  EXPECT_TRUE(doc.has_value()) << file;
  return doc ? toJson(*doc) : "";
}

struct Kind {
  const char* kind;
  const char* path;
  const char* spec;  // the rest of a valid spec
};

const Kind kKinds[] = {
    {"PackerBuilder", "/apis/ami.refresh.ops/v1alpha1/namespaces/default/packerbuilders",
     R"("region":"us-east-1","builder":{"repoURL":"https://git.example.com/p.git",)"
     R"("image":"hashicorp/packer:1.11"})"},
    {"AMIRefresher", "/apis/ami.refresh.ops/v1alpha1/namespaces/default/amirefreshers",
     R"("region":"us-east-1","clusterName":"prod","ami":"ami-0123456789abcdef0")"},
};

class ProjectCrdsNotifier : public FakeKubeTest {
 protected:
  void SetUp() override {
    FakeKubeTest::SetUp();
    for (const char* file :
         {"ami.refresh.ops_packerbuilders.yaml", "ami.refresh.ops_amirefreshers.yaml"}) {
      Reply r = post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", readCrd(file));
      ASSERT_EQ(r.status, 201) << file << ": " << r.body;
    }
  }

  Reply create(const Kind& k, const std::string& name, const std::string& notifier) {
    return post(k.path, std::string(R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":")") +
                            k.kind + R"(","metadata":{"name":")" + name + R"("},"spec":{)" +
                            k.spec + R"(,"notifier":)" + notifier + "}}");
  }
};

// Every destination at once is a valid notifier for both kinds, and nothing is pruned.
TEST_F(ProjectCrdsNotifier, BothKindsAcceptEveryDestination) {
  const std::string all = R"({
    "slack":{"channelIDs":["C1"],"secret":"slack"},
    "sns":{"topicArn":"arn:aws:sns:eu-west-1:123456789012:opsy-events"},
    "ses":{"from":"Opsy <opsy@example.com>","to":["ops@example.com"],"region":"eu-west-1",
           "configurationSet":"ops"},
    "discord":{"secret":"discord"},
    "webhook":{"url":"https://hooks.example.com/opsy?x=1","secret":"hook"}})";
  for (const Kind& k : kKinds) {
    Reply r = create(k, "all", all);
    ASSERT_EQ(r.status, 201) << k.kind << ": " << r.body;
    EXPECT_EQ(r.str("/spec/notifier/sns/topicArn"),
              "arn:aws:sns:eu-west-1:123456789012:opsy-events");
    EXPECT_EQ(r.str("/spec/notifier/ses/configurationSet"), "ops");
    EXPECT_EQ(r.str("/spec/notifier/discord/secret"), "discord");
    EXPECT_EQ(r.str("/spec/notifier/webhook/secret"), "hook");
  }
}

struct Refusal {
  const char* notifier;
  const char* field;
};

// Malformed destinations are refused by the API server, naming the field, for both kinds.
TEST_F(ProjectCrdsNotifier, BothKindsRefuseBadDestinations) {
  const Refusal cases[] = {
      {R"({"sns":{}})", "spec.notifier.sns.topicArn"},
      {R"({"sns":{"topicArn":"arn:aws:sqs:eu-west-1:123456789012:q"}})",
       "spec.notifier.sns.topicArn"},
      {R"({"sns":{"topicArn":"arn:aws:sns:eu-west-1:123456789012:t.fifo"}})",
       "spec.notifier.sns.topicArn"},
      {R"({"ses":{"from":"opsy","to":["a@example.com"]}})", "spec.notifier.ses.from"},
      {R"({"ses":{"from":"a@example.com","to":[]}})", "spec.notifier.ses.to"},
      {R"({"ses":{"from":"a@example.com","to":["b@example.com"],"region":"Ireland"}})",
       "spec.notifier.ses.region"},
      {R"({"discord":{}})", "spec.notifier.discord.secret"},
      {R"({"webhook":{"url":"ftp://example.com"}})", "spec.notifier.webhook.url"},
      {R"({"webhook":{"url":"https://example.com","secret":""}})", "spec.notifier.webhook.secret"},
      {R"({"slack":{"channelIDs":[],"secret":"s"}})", "spec.notifier.slack.channelIDs"},
  };
  for (const Kind& k : kKinds) {
    int i = 0;
    for (const Refusal& c : cases) {
      Reply r = create(k, "bad-" + std::to_string(i++), c.notifier);
      ASSERT_EQ(r.status, 422) << k.kind << " " << c.notifier << " -> " << r.body;
      EXPECT_EQ(r.str("/details/causes/0/field"), c.field) << k.kind << " " << c.notifier;
    }
  }
}

// Both kinds declare the same destinations with the same rules (one parser reads both).
TEST(ProjectCrds, NotifierDestinationsAreIdenticalInBothKinds) {
  const char* kDestinations =
      "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/notifier/properties";
  std::string texts[2];
  int i = 0;
  for (const char* file :
       {"ami.refresh.ops_packerbuilders.yaml", "ami.refresh.ops_amirefreshers.yaml"}) {
    auto doc = parseJson(readCrd(file));
    ASSERT_TRUE(doc.has_value()) << file;
    const JsonValue* v = rapidjson::Pointer(kDestinations).Get(*doc);
    ASSERT_NE(v, nullptr) << file;
    texts[i++] = toJson(*v);
  }
  EXPECT_EQ(texts[0], texts[1]);
}

}  // namespace
}  // namespace opsy::testing

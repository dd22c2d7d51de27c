// CRD x-kubernetes-validations (CEL rules) on the fake API server: the project's AMIRefresher
// rules refuse what a real server refuses with the same 422 Status, rules at every level of a
// schema report the real field paths, reasons and messages, transition rules run on updates only,
// unchanged values ratchet, and a CRD whose rule cannot be evaluated is refused, not skipped.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fake_kube_fixture.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {
namespace {

constexpr const char* kCrdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

std::string readYamlAsJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  auto doc = parseJsonOrYaml(s.str());
  EXPECT_TRUE(doc.has_value()) << path;
  return doc ? toJson(*doc) : "";
}

std::string repoFile(const std::string& relative) {
  return std::string(OPSY_TEST_DATA_DIR) + "/../../" + relative;
}

// --- The project's AMIRefresher CRD -------------------------------------------------------------

class AmiRefresherRules : public FakeKubeTest {
 protected:
  void SetUp() override {
    FakeKubeTest::SetUp();
    Reply r = post(kCrdPath, readYamlAsJson(repoFile("crds/ami.refresh.ops_amirefreshers.yaml")));
    ASSERT_EQ(r.status, 201) << r.body;
  }

  static constexpr const char* kPath =
      "/apis/ami.refresh.ops/v1alpha1/namespaces/default/amirefreshers";

  static std::string refresher(const std::string& name, const std::string& spec_extra) {
    return R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher","metadata":{"name":")" +
           name + R"("},"spec":{"region":"us-west-2","clusterName":"prod")" + spec_extra + "}}";
  }
  static constexpr const char* kAmi = R"(,"ami":"ami-0123456789abcdef0")";
  static constexpr const char* kFilters =
      R"(,"amiFilters":[{"name":"name","values":["amazon-eks-node-al2023-x86_64-*"]}])";
};

TEST_F(AmiRefresherRules, BothAmiAndAmiFiltersIsRefusedWithTheCrdMessageAndShape) {
  Reply r = post(kPath, refresher("both", std::string(kAmi) + kFilters));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/kind"), "Status");
  EXPECT_EQ(r.str("/status"), "Failure");
  EXPECT_EQ(r.str("/reason"), "Invalid");
  EXPECT_EQ(r.num("/code"), 422);
  EXPECT_EQ(r.str("/message"),
            "AMIRefresher.ami.refresh.ops \"both\" is invalid: spec: Invalid value: \"object\": "
            "set exactly one of spec.ami, spec.amiFilters or spec.builderRef");
  EXPECT_EQ(r.str("/details/name"), "both");
  EXPECT_EQ(r.str("/details/group"), "ami.refresh.ops");
  EXPECT_EQ(r.str("/details/kind"), "AMIRefresher");
  ASSERT_EQ(r.size("/details/causes"), 1u) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/reason"), "FieldValueInvalid");
  EXPECT_EQ(r.str("/details/causes/0/field"), "spec");
  EXPECT_EQ(
      r.str("/details/causes/0/message"),
      "Invalid value: \"object\": set exactly one of spec.ami, spec.amiFilters or spec.builderRef");
  EXPECT_EQ(get(std::string(kPath) + "/both").status, 404);
}

TEST_F(AmiRefresherRules, NeitherAmiNorAmiFiltersIsRefusedWithTheCrdMessage) {
  Reply r = post(kPath, refresher("neither", ""));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/message"),
            "AMIRefresher.ami.refresh.ops \"neither\" is invalid: spec: Invalid value: "
            "\"object\": set exactly one of spec.ami, spec.amiFilters or spec.builderRef");
  EXPECT_EQ(r.str("/details/causes/0/field"), "spec");
}

TEST_F(AmiRefresherRules, ExactlyOneOfAmiOrAmiFiltersIsAccepted) {
  Reply ami = post(kPath, refresher("by-ami", kAmi));
  EXPECT_EQ(ami.status, 201) << ami.body;
  Reply filters = post(kPath, refresher("by-filters", kFilters));
  EXPECT_EQ(filters.status, 201) << filters.body;
  Reply builder = post(kPath, refresher("by-builder", R"(,"builderRef":{"name":"base-al2023"})"));
  EXPECT_EQ(builder.status, 201) << builder.body;
}

TEST_F(AmiRefresherRules, BuilderRefWithAmiIsRefusedWithTheCrdMessage) {
  Reply r =
      post(kPath, refresher("ref-and-ami", std::string(kAmi) + R"(,"builderRef":{"name":"b"})"));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/message"),
            "Invalid value: \"object\": set exactly one of spec.ami, spec.amiFilters or "
            "spec.builderRef");
}

TEST_F(AmiRefresherRules, TheSampleAmiRefresherIsAccepted) {
  Reply r =
      post(kPath, readYamlAsJson(std::string(OPSY_TEST_DATA_DIR) + "/samples/amirefresher.yaml"));
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST_F(AmiRefresherRules, MaxUnavailableAndMaxUnavailablePercentageTogetherAreRefused) {
  Reply both = post(
      kPath, refresher("both-max", std::string(kAmi) + R"(,"refreshConfig":{"maxUnavailable":2,)"
                                                       R"("maxUnavailablePercentage":20})"));
  ASSERT_EQ(both.status, 422) << both.body;
  EXPECT_EQ(both.str("/message"),
            "AMIRefresher.ami.refresh.ops \"both-max\" is invalid: spec.refreshConfig: Invalid "
            "value: \"object\": set at most one of maxUnavailable and maxUnavailablePercentage");
  EXPECT_EQ(both.str("/details/causes/0/field"), "spec.refreshConfig");
  Reply one = post(
      kPath, refresher("one-max", std::string(kAmi) + R"(,"refreshConfig":{"maxUnavailable":2})"));
  EXPECT_EQ(one.status, 201) << one.body;
}

// The rules run on every write path, not only on create.
TEST_F(AmiRefresherRules, UpdatesAndPatchesThatBreakARuleAreRefused) {
  Reply created = post(kPath, refresher("r", kAmi));
  ASSERT_EQ(created.status, 201) << created.body;
  Reply merge = patch(std::string(kPath) + "/r",
                      R"({"spec":{"amiFilters":[{"name":"owner-id","values":["1"]}]}})");
  EXPECT_EQ(merge.status, 422) << merge.body;
  EXPECT_EQ(merge.str("/details/causes/0/field"), "spec");
  Reply json = patch(std::string(kPath) + "/r", R"([{"op":"remove","path":"/spec/ami"}])",
                     "application/json-patch+json");
  EXPECT_EQ(json.status, 422) << json.body;
  Reply apply = patch(std::string(kPath) + "/r?fieldManager=test", refresher("r", kFilters),
                      "application/apply-patch+yaml");
  EXPECT_EQ(apply.status, 422) << apply.body;
  Reply current = get(std::string(kPath) + "/r");
  Reply put_both =
      put(std::string(kPath) + "/r",
          R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher",)"
          R"("metadata":{"name":"r","resourceVersion":")" +
              current.str("/metadata/resourceVersion") +
              R"("},"spec":{"region":"us-west-2","clusterName":"prod")" + kAmi + kFilters + "}}");
  EXPECT_EQ(put_both.status, 422) << put_both.body;
  Reply swap = patch(std::string(kPath) + "/r",
                     R"({"spec":{"ami":null,"amiFilters":[{"name":"owner-id","values":["1"]}]}})");
  EXPECT_EQ(swap.status, 200) << swap.body;
}

// --- Rules at every level of a schema, on a small CRD -------------------------------------------

const char* kWidgetCrd = R"json({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
    "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object",
        "x-kubernetes-validations": [
          {"rule": "self.metadata.name.startsWith('w-')", "message": "names start with w-"}],
        "properties": {
          "spec": {"type": "object",
            "x-kubernetes-validations": [
              {"rule": "!has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
               "message": "minReplicas must not exceed maxReplicas"}],
            "properties": {
              "name": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "name is immutable"}]},
              "minReplicas": {"type": "integer"},
              "maxReplicas": {"type": "integer"},
              "mode": {"type": "string"},
              "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                "x-kubernetes-validations": [
                  {"rule": "self.port > 0 && self.port < 65536", "message": "port out of range"},
                  {"rule": "self.port == oldSelf.port", "message": "a named port keeps its number"}]}},
              "labels": {"type": "object", "additionalProperties": {"type": "string",
                "x-kubernetes-validations": [{"rule": "size(self) <= 5"}]}},
              "owner": {"type": "object", "properties": {"team": {"type": "string"}},
                "x-kubernetes-validations": [{"rule": "has(self.team)", "message": "team is required",
                  "fieldPath": ".team", "reason": "FieldValueRequired"}]},
              "tier": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self != 'gold'", "message": "gold is reserved",
                 "reason": "FieldValueForbidden"}]},
              "counters": {"type": "array", "items": {"type": "integer"},
                "x-kubernetes-validations": [{"rule": "self.all(x, self.exists_one(y, y == x))",
                  "reason": "FieldValueDuplicate"}]},
              "summary": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self.size() < 10",
                 "messageExpression": "'summary has ' + string(self.size()) + ' characters'"}]}}},
          "status": {"type": "object", "properties": {"phase": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": "!has(self.phase) || self.phase in ['Pending', 'Ready']",
              "message": "unknown phase"}]}}}}}]}})json";

class WidgetRules : public FakeKubeTest {
 protected:
  void SetUp() override {
    FakeKubeTest::SetUp();
    Reply r = post(kCrdPath, kWidgetCrd);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  static constexpr const char* kPath = "/apis/example.com/v1/namespaces/default/widgets";

  static std::string widget(const std::string& name, const std::string& spec) {
    return R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":")" + name +
           R"("},"spec":)" + spec + "}";
  }
  Reply create(const std::string& name, const std::string& spec) {
    return post(kPath, widget(name, spec));
  }
  static std::string warningOf(const Reply& r) {
    auto it = r.headers.find("Warning");
    return it == r.headers.end() ? "" : it->second;
  }
};

TEST_F(WidgetRules, RootRuleFailureHasTheNilFieldOfTheRealServer) {
  Reply r = create("x-1", "{}");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/message"),
            "Widget.example.com \"x-1\" is invalid: <nil>: Invalid value: \"object\": names "
            "start with w-");
  EXPECT_EQ(r.str("/details/causes/0/field"), "<nil>");
  EXPECT_EQ(create("w-1", "{}").status, 201);
}

TEST_F(WidgetRules, TransitionRuleImmutableNameIsRefusedOnUpdateButNotOnCreate) {
  ASSERT_EQ(create("w-imm", R"({"name":"first"})").status, 201);
  Reply changed = patch(std::string(kPath) + "/w-imm", R"({"spec":{"name":"second"}})");
  ASSERT_EQ(changed.status, 422) << changed.body;
  EXPECT_EQ(changed.str("/message"),
            "Widget.example.com \"w-imm\" is invalid: spec.name: Invalid value: \"string\": name "
            "is immutable");
  EXPECT_EQ(changed.str("/details/causes/0/field"), "spec.name");
  // The same value, with another field changing, passes.
  EXPECT_EQ(patch(std::string(kPath) + "/w-imm", R"({"spec":{"mode":"fast"}})").status, 200);
  // Without an old value the transition rule does not run: a name may be set later once.
  ASSERT_EQ(create("w-late", "{}").status, 201);
  EXPECT_EQ(patch(std::string(kPath) + "/w-late", R"({"spec":{"name":"set-later"}})").status, 200);
  EXPECT_EQ(patch(std::string(kPath) + "/w-late", R"({"spec":{"name":"again"}})").status, 422);
}

// Items of a list-type map correlate with old items by their keys, wherever they moved.
TEST_F(WidgetRules, TransitionRulesOnMapListItemsCompareItemsWithTheSameKeys) {
  ASSERT_EQ(create("w-map", R"({"ports":[{"name":"a","port":80}]})").status, 201);
  Reply moved = patch(std::string(kPath) + "/w-map",
                      R"({"spec":{"ports":[{"name":"b","port":90},{"name":"a","port":80}]}})");
  EXPECT_EQ(moved.status, 200) << moved.body;
  Reply changed = patch(std::string(kPath) + "/w-map",
                        R"({"spec":{"ports":[{"name":"b","port":90},{"name":"a","port":81}]}})");
  ASSERT_EQ(changed.status, 422) << changed.body;
  EXPECT_EQ(changed.str("/details/causes/0/field"), "spec.ports[1]");
  EXPECT_EQ(changed.str("/details/causes/0/message"),
            "Invalid value: \"object\": a named port keeps its number");
}

TEST_F(WidgetRules, RulesOnListItemsAndMapValuesNameTheIndexAndKey) {
  Reply ports = create("w-ports", R"({"ports":[{"name":"a","port":80},{"name":"b","port":0}]})");
  ASSERT_EQ(ports.status, 422) << ports.body;
  EXPECT_EQ(ports.str("/details/causes/0/field"), "spec.ports[1]");
  EXPECT_EQ(ports.str("/details/causes/0/message"), "Invalid value: \"object\": port out of range");
  // No message: the real server's default names the rule.
  Reply labels = create("w-labels", R"({"labels":{"ok":"x","app":"toolong"}})");
  ASSERT_EQ(labels.status, 422) << labels.body;
  EXPECT_EQ(labels.str("/details/causes/0/field"), "spec.labels[app]");
  EXPECT_EQ(labels.str("/details/causes/0/message"),
            "Invalid value: \"string\": failed rule: size(self) <= 5");
}

TEST_F(WidgetRules, FieldPathAndReasonShapeTheCause) {
  Reply owner = create("w-owner", R"({"owner":{}})");
  ASSERT_EQ(owner.status, 422) << owner.body;
  EXPECT_EQ(owner.str("/details/causes/0/reason"), "FieldValueRequired");
  EXPECT_EQ(owner.str("/details/causes/0/field"), "spec.owner.team");
  EXPECT_EQ(owner.str("/details/causes/0/message"), "Required value: team is required");
  Reply tier = create("w-tier", R"({"tier":"gold"})");
  ASSERT_EQ(tier.status, 422) << tier.body;
  EXPECT_EQ(tier.str("/details/causes/0/reason"), "FieldValueForbidden");
  EXPECT_EQ(tier.str("/details/causes/0/field"), "spec.tier");
  EXPECT_EQ(tier.str("/details/causes/0/message"), "Forbidden: gold is reserved");
  Reply counters = create("w-counters", R"({"counters":[1,2,1]})");
  ASSERT_EQ(counters.status, 422) << counters.body;
  EXPECT_EQ(counters.str("/details/causes/0/reason"), "FieldValueDuplicate");
  EXPECT_EQ(counters.str("/details/causes/0/message"), "Duplicate value: \"array\"");
  EXPECT_EQ(create("w-fine", R"({"owner":{"team":"a"},"tier":"silver","counters":[1,2]})").status,
            201);
}

TEST_F(WidgetRules, MessageExpressionWritesTheMessage) {
  Reply r = create("w-summary", R"({"summary":"0123456789ab"})");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/message"),
            "Invalid value: \"string\": summary has 12 characters");
}

TEST_F(WidgetRules, SeveralFailuresAreListedInBrackets) {
  Reply r = create("x-many", R"({"tier":"gold"})");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/message"),
            "Widget.example.com \"x-many\" is invalid: [<nil>: Invalid value: \"object\": names "
            "start with w-, spec.tier: Forbidden: gold is reserved]");
  EXPECT_EQ(r.size("/details/causes"), 2u);
}

TEST_F(WidgetRules, RuntimeErrorIsReportedWithTheRule) {
  Reply r = create("w-err", R"({"maxReplicas":3})");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/field"), "spec");
  EXPECT_EQ(r.str("/details/causes/0/message"),
            "Invalid value: \"object\": no such key: minReplicas evaluating rule: minReplicas "
            "must not exceed maxReplicas");
  EXPECT_EQ(create("w-ok", R"({"minReplicas":1,"maxReplicas":3})").status, 201);
  EXPECT_EQ(create("w-bad", R"({"minReplicas":4,"maxReplicas":3})").status, 422);
}

TEST_F(WidgetRules, SchemaErrorsThatBlockRulesAreReportedInsteadOfRuleFailures) {
  Reply r = create("x-typed", R"({"minReplicas":"two"})");
  ASSERT_EQ(r.status, 422) << r.body;
  ASSERT_EQ(r.size("/details/causes"), 2u) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/reason"), "FieldValueTypeInvalid");
  EXPECT_EQ(r.str("/details/causes/1/field"), "<nil>");
  EXPECT_EQ(r.str("/details/causes/1/message"),
            "Invalid value: \"null\": some validation rules were not checked because the object "
            "was invalid; correct the existing errors to complete validation");
}

TEST_F(WidgetRules, StatusRulesRunOnStatusWrites) {
  ASSERT_EQ(create("w-status", "{}").status, 201);
  Reply bad = patch(std::string(kPath) + "/w-status/status", R"({"status":{"phase":"Broken"}})");
  ASSERT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(bad.str("/details/causes/0/field"), "status");
  EXPECT_EQ(bad.str("/details/causes/0/message"), "Invalid value: \"object\": unknown phase");
  EXPECT_EQ(
      patch(std::string(kPath) + "/w-status/status", R"({"status":{"phase":"Ready"}})").status,
      200);
}

// A value stored before a rule forbade it (here: written past validation) does not block writes
// that leave it alone; the failure comes back as a warning, as with the real server's ratcheting.
TEST_F(WidgetRules, UnchangedInvalidValuesRatchetToWarnings) {
  auto stored = kube_.createObject(
      R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w-old",)"
      R"("namespace":"default"},"spec":{"tier":"gold","mode":"slow"}})");
  ASSERT_TRUE(stored.has_value());
  Reply status = patch(std::string(kPath) + "/w-old/status", R"({"status":{"phase":"Ready"}})");
  EXPECT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(warningOf(status), R"(299 - "spec.tier: Forbidden: gold is reserved")");
  Reply other = patch(std::string(kPath) + "/w-old", R"({"spec":{"mode":"fast"}})");
  EXPECT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(warningOf(other), R"(299 - "spec.tier: Forbidden: gold is reserved")");
  Reply touched = patch(std::string(kPath) + "/w-old", R"({"spec":{"tier":"gold "}})");
  EXPECT_EQ(touched.status, 200) << touched.body;  // a changed value is judged again, and passes
  Reply back = patch(std::string(kPath) + "/w-old", R"({"spec":{"tier":"gold"}})");
  EXPECT_EQ(back.status, 422) << back.body;
}

// --- CRDs whose rules cannot be evaluated are refused -------------------------------------------

class CrdRuleChecks : public FakeKubeTest {
 protected:
  // A one-version CRD whose spec schema is `spec_schema`.
  static std::string crdWith(const std::string& spec_schema) {
    return R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
      "metadata":{"name":"gadgets.example.com"},
      "spec":{"group":"example.com","scope":"Namespaced",
        "names":{"plural":"gadgets","singular":"gadget","kind":"Gadget","listKind":"GadgetList"},
        "versions":[{"name":"v1","served":true,"storage":true,
          "schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":)" +
           spec_schema + "}}}}]}}";
  }
};

TEST_F(CrdRuleChecks, UnsupportedRuleRefusesTheCrdNamingTheRule) {
  Reply r = post(kCrdPath, crdWith(R"json({"type":"object","properties":{"limit":{"type":"string"}},
      "x-kubernetes-validations":[{"rule":"quantity(self.limit).isGreaterThan(quantity('1'))"}]})json"));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/reason"), "Invalid");
  EXPECT_EQ(r.str("/details/kind"), "CustomResourceDefinition");
  EXPECT_EQ(r.str("/details/group"), "apiextensions.k8s.io");
  EXPECT_EQ(r.str("/details/causes/0/field"),
            "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule");
  EXPECT_EQ(r.str("/details/causes/0/message"),
            "Invalid value: \"quantity(self.limit).isGreaterThan(quantity('1'))\": fake-kube "
            "cannot evaluate this rule: the function quantity() is not supported by fake-kube's "
            "CEL subset (<input>:1:1)");
  EXPECT_EQ(r.str("/message")
                .rfind("CustomResourceDefinition.apiextensions.k8s.io "
                       "\"gadgets.example.com\" is invalid: ",
                       0),
            0u)
      << r.str("/message");
  EXPECT_EQ(get(std::string(kCrdPath) + "/gadgets.example.com").status, 404);
}

TEST_F(CrdRuleChecks, RulesARealServerCannotCompileRefuseTheCrd) {
  Reply typo =
      post(kCrdPath, crdWith(R"json({"type":"object","properties":{"name":{"type":"string"}},
      "x-kubernetes-validations":[{"rule":"has(self.nmae)"}]})json"));
  ASSERT_EQ(typo.status, 422) << typo.body;
  EXPECT_EQ(typo.str("/details/causes/0/message"),
            "Invalid value: \"has(self.nmae)\": compilation failed: ERROR: <input>:1:9: undefined "
            "field 'nmae'\n | has(self.nmae)\n | ........^");
  Reply not_bool =
      post(kCrdPath, crdWith(R"json({"type":"object","properties":{"n":{"type":"integer"}},
      "x-kubernetes-validations":[{"rule":"self.n + 1"}]})json"));
  ASSERT_EQ(not_bool.status, 422) << not_bool.body;
  EXPECT_EQ(not_bool.str("/details/causes/0/message"),
            "Invalid value: \"self.n + 1\": cel expression must evaluate to a bool");
  Reply syntax = post(kCrdPath, crdWith(R"json({"type":"object",
      "x-kubernetes-validations":[{"rule":"self ==", "message":"m"}]})json"));
  EXPECT_EQ(syntax.status, 422) << syntax.body;
}

TEST_F(CrdRuleChecks, RuleFieldsAreCheckedAsTheRealServerChecksThem) {
  Reply r = post(kCrdPath, crdWith(R"json({"type":"object","properties":{"a":{"type":"string"}},
      "x-kubernetes-validations":[
        {"rule":" "},
        {"rule":"has(self.a)","reason":"FieldValueBogus"},
        {"rule":"has(self.a)","fieldPath":".b"},
        {"rule":"has(self.a)\n|| true"}]})json"));
  ASSERT_EQ(r.status, 422) << r.body;
  const std::string base =
      "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations";
  ASSERT_EQ(r.size("/details/causes"), 4u) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/field"), base + "[0].rule");
  EXPECT_EQ(r.str("/details/causes/0/message"), "Required value: rule is not specified");
  EXPECT_EQ(r.str("/details/causes/1/field"), base + "[1].reason");
  EXPECT_EQ(r.str("/details/causes/1/message"),
            "Unsupported value: \"FieldValueBogus\": supported values: \"FieldValueDuplicate\", "
            "\"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\"");
  EXPECT_EQ(r.str("/details/causes/2/field"), base + "[2].fieldPath");
  EXPECT_EQ(r.str("/details/causes/2/message"),
            "Invalid value: \".b\": fieldPath must be a valid path");
  EXPECT_EQ(r.str("/details/causes/3/field"), base + "[3].message");
  EXPECT_EQ(r.str("/details/causes/3/message"),
            "Required value: message must be specified if rule contains line breaks");
}

TEST_F(CrdRuleChecks, OldSelfOnItemsOfAnAtomicListRefusesTheCrd) {
  Reply r = post(kCrdPath, crdWith(R"json({"type":"object","properties":{"tags":{"type":"array",
      "items":{"type":"string","x-kubernetes-validations":[{"rule":"self == oldSelf"}]}}}})json"));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/field"),
            "spec.validation.openAPIV3Schema.properties[spec].properties[tags].items."
            "x-kubernetes-validations[0].rule");
  EXPECT_EQ(r.str("/details/causes/0/message"),
            "Invalid value: \"self == oldSelf\": oldSelf cannot be used on the uncorrelatable "
            "portion of the schema within "
            "spec.validation.openAPIV3Schema.properties[spec].properties[tags]");
}

TEST_F(CrdRuleChecks, RulesUnderAllOfRefuseTheCrd) {
  Reply r = post(kCrdPath, crdWith(R"json({"type":"object","allOf":[{
      "x-kubernetes-validations":[{"rule":"true"}]}]})json"));
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/field"),
            "spec.validation.openAPIV3Schema.properties[spec].allOf");
  EXPECT_EQ(r.str("/details/causes/0/reason"), "FieldValueForbidden");
}

TEST_F(CrdRuleChecks, VersionsWithDifferentSchemasAreCheckedPerVersion) {
  std::string crd = R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
    "metadata":{"name":"gadgets.example.com"},
    "spec":{"group":"example.com","scope":"Namespaced",
      "names":{"plural":"gadgets","singular":"gadget","kind":"Gadget","listKind":"GadgetList"},
      "versions":[
        {"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object"}}},
        {"name":"v2","served":true,"storage":false,"schema":{"openAPIV3Schema":{"type":"object",
          "x-kubernetes-validations":[{"rule":"self.url().getHost() != ''"}]}}}]}})";
  Reply r = post(kCrdPath, crd);
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.str("/details/causes/0/field"),
            "spec.versions[1].schema.openAPIV3Schema.x-kubernetes-validations[0].rule");
}

TEST_F(CrdRuleChecks, AnUpdateAddingAnUnsupportedRuleIsRefusedAndTheOldRulesStay) {
  Reply created =
      post(kCrdPath, crdWith(R"json({"type":"object","properties":{"a":{"type":"string"}},
      "x-kubernetes-validations":[{"rule":"has(self.a)","message":"a is required"}]})json"));
  ASSERT_EQ(created.status, 201) << created.body;
  Reply current = get(std::string(kCrdPath) + "/gadgets.example.com");
  Json updated;
  updated.Parse(crdWith(R"json({"type":"object","properties":{"a":{"type":"string"}},
      "x-kubernetes-validations":[{"rule":"self.a.format([]) != ''"}]})json")
                    .c_str());
  setString(objectMember(updated, "metadata", updated.GetAllocator()), "resourceVersion",
            current.str("/metadata/resourceVersion"), updated.GetAllocator());
  Reply refused = put(std::string(kCrdPath) + "/gadgets.example.com", toJson(updated));
  EXPECT_EQ(refused.status, 422) << refused.body;
  Reply gadget = post("/apis/example.com/v1/namespaces/default/gadgets",
                      R"({"apiVersion":"example.com/v1","kind":"Gadget","metadata":{"name":"g"},)"
                      R"("spec":{}})");
  EXPECT_EQ(gadget.status, 422) << gadget.body;
  EXPECT_EQ(gadget.str("/details/causes/0/message"), "Invalid value: \"object\": a is required");
}

// Every CRD the project ships (crds/ and the chart's copy) installs: all its rules are evaluated.
TEST_F(CrdRuleChecks, TheProjectsCrdsAllInstall) {
  for (const char* dir : {"crds", "helm/opsy-ami-operator/crds"}) {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(repoFile(dir))) {
      if (entry.path().extension() != ".yaml") {
        continue;
      }
      const std::string json = readYamlAsJson(entry.path().string());
      Reply r = post(kCrdPath, json);
      ASSERT_EQ(r.status, 201) << entry.path() << ": " << r.body;
      Reply gone = del(std::string(kCrdPath) + "/" + r.str("/metadata/name"));
      ASSERT_EQ(gone.status, 200) << gone.body;
      ++count;
    }
    EXPECT_GE(count, 2) << dir;
  }
}

}  // namespace
}  // namespace opsy::testing

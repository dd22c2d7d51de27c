#include "opsy/kube/objects.h"

#include <gtest/gtest.h>

#include "opsy/core/time_format.h"
#include "opsy/kube/object.h"

namespace opsy::kube {
namespace {

TimePoint at(const char* text) {
  return parseRfc3339(text).value();
}

// Metadata decodes in full, including owner references, finalizers and timestamps.
TEST(Object, DecodesMetadata) {
  auto obj = Object::parse(R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder",
    "metadata":{"name":"pb","namespace":"team","uid":"u1","resourceVersion":"42","generation":3,
    "labels":{"a":"1"},"annotations":{"b":"2"},"finalizers":["opsy/cleanup"],
    "creationTimestamp":"2026-01-02T03:04:05Z","deletionTimestamp":"2026-01-03T00:00:00Z",
    "ownerReferences":[{"apiVersion":"v1","kind":"X","name":"o","uid":"ou","controller":true}]}})");
  ASSERT_TRUE(obj.has_value()) << obj.error().message;
  EXPECT_EQ(obj->kind, "PackerBuilder");
  EXPECT_EQ(obj->key(), "team/pb");
  EXPECT_EQ(obj->metadata.uid, "u1");
  EXPECT_EQ(obj->metadata.resource_version, "42");
  EXPECT_EQ(obj->metadata.generation, 3);
  EXPECT_EQ(obj->metadata.labels.at("a"), "1");
  EXPECT_EQ(obj->metadata.annotations.at("b"), "2");
  EXPECT_EQ(obj->metadata.finalizers, std::vector<std::string>{"opsy/cleanup"});
  EXPECT_EQ(obj->metadata.creation_timestamp, at("2026-01-02T03:04:05Z"));
  EXPECT_EQ(obj->metadata.deletion_timestamp, at("2026-01-03T00:00:00Z"));
  ASSERT_EQ(obj->metadata.owner_references.size(), 1u);
  EXPECT_TRUE(obj->metadata.owner_references[0].controller);
  EXPECT_FALSE(obj->metadata.owner_references[0].block_owner_deletion);
}

// Input that is not an object, or metadata of the wrong shape, is rejected with the field named.
TEST(Object, RejectsMalformedInput) {
  EXPECT_FALSE(Object::parse("[1]").has_value());
  EXPECT_FALSE(Object::parse("{").has_value());
  auto bad = Object::parse(R"({"metadata":{"labels":["x"]}})");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("metadata.labels"), std::string::npos);
}

// JSON-pointer getters read typed values and return nullopt for missing or mistyped ones.
TEST(Object, PointerGetters) {
  auto obj = Object::parse(
      R"({"spec":{"region":"eu-west-1","n":5,"on":true,"list":[{"k":"v"}],"a/b":"slash"}})");
  ASSERT_TRUE(obj.has_value());
  EXPECT_EQ(obj->getString("/spec/region"), "eu-west-1");
  EXPECT_EQ(obj->getInt("/spec/n"), 5);
  EXPECT_EQ(obj->getBool("/spec/on"), true);
  EXPECT_EQ(obj->getString("/spec/list/0/k"), "v");
  EXPECT_EQ(obj->getString("/spec/a~1b"), "slash");
  EXPECT_EQ(obj->getJson("/spec/list"), R"([{"k":"v"}])");
  EXPECT_FALSE(obj->getString("/spec/n").has_value());
  EXPECT_FALSE(obj->getInt("/spec/missing").has_value());
  EXPECT_FALSE(obj->getString("no-leading-slash").has_value());
}

// Setters create intermediate objects and keep sibling fields.
TEST(Object, PointerSettersKeepSiblings) {
  auto obj = Object::parse(R"({"spec":{"keep":1},"status":{"old":"x"}})");
  ASSERT_TRUE(obj.has_value());
  ASSERT_TRUE(obj->setString("/status/state", "Ready"));
  ASSERT_TRUE(obj->setInt("/status/observedGeneration", 4));
  ASSERT_TRUE(obj->setBool("/status/deep/flag", false));
  ASSERT_TRUE(obj->setJson("/status/conditions", R"([{"type":"Ready","status":"True"}])"));
  ASSERT_TRUE(obj->remove("/status/old"));
  EXPECT_FALSE(obj->setJson("/x", "{nope").has_value());
  EXPECT_EQ(obj->getInt("/spec/keep"), 1);
  EXPECT_EQ(obj->getString("/status/state"), "Ready");
  EXPECT_EQ(obj->getInt("/status/observedGeneration"), 4);
  EXPECT_EQ(obj->getBool("/status/deep/flag"), false);
  EXPECT_EQ(obj->getString("/status/conditions/0/type"), "Ready");
  EXPECT_FALSE(obj->getString("/status/old").has_value());
}

// Modeled metadata is written back over the raw document: cleared labels disappear, unknown
// metadata fields stay, and read-only timestamps are left as the server sent them.
TEST(Object, ToJsonOverlaysMetadataOnRaw) {
  auto obj = Object::parse(
      R"({"kind":"X","metadata":{"name":"a","labels":{"gone":"1"},"managedFields":[],)"
      R"("creationTimestamp":"2026-01-02T03:04:05Z"},"extra":7})");
  ASSERT_TRUE(obj.has_value());
  obj->metadata.labels = {{"new", "2"}};
  obj->metadata.finalizers.push_back("f");
  auto back = Object::parse(obj->toJson());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->metadata.labels, (std::map<std::string, std::string>{{"new", "2"}}));
  EXPECT_EQ(back->metadata.finalizers, std::vector<std::string>{"f"});
  EXPECT_EQ(back->getInt("/extra"), 7);
  EXPECT_EQ(back->getJson("/metadata/managedFields"), "[]");
  EXPECT_EQ(back->getString("/metadata/creationTimestamp"), "2026-01-02T03:04:05Z");
}

// A new object built in code carries apiVersion, kind and its namespace; cluster-scoped ones drop
// it.
TEST(Object, NewObjectFromResource) {
  Object obj(resources::leases(), "kube-system", "opsy");
  auto back = Object::parse(obj.toJson());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->api_version, "coordination.k8s.io/v1");
  EXPECT_EQ(back->kind, "Lease");
  EXPECT_EQ(back->metadata.ns, "kube-system");
  Resource nodes{"", "v1", "nodes", "Node", false};
  EXPECT_EQ(Object(nodes, "x", "n").metadata.ns, "");
}

// An owner reference built from a stored object carries its identity and marks the controller.
TEST(Object, OwnerReferenceToStoredObject) {
  auto owner = Object::parse(R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder",)"
                             R"("metadata":{"name":"pb","namespace":"team","uid":"u-9"}})");
  ASSERT_TRUE(owner.has_value());
  OwnerReference ref = ownerReferenceTo(*owner);
  EXPECT_EQ(ref,
            (OwnerReference{"ami.refresh.ops/v1alpha1", "PackerBuilder", "pb", "u-9", true, true}));
  EXPECT_FALSE(ownerReferenceTo(*owner, false).controller);
}

const char* kJob = R"({"apiVersion":"batch/v1","kind":"Job",
  "metadata":{"name":"build-1","namespace":"ci","resourceVersion":"9"},
  "spec":{"backoffLimit":1,"activeDeadlineSeconds":3600,"ttlSecondsAfterFinished":600,
          "suspend":false,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"p"}]}}},
  "status":{"active":0,"failed":2,"succeeded":0,"startTime":"2026-01-01T00:00:00Z",
    "conditions":[{"type":"FailureTarget","status":"True"},
                  {"type":"Failed","status":"True","reason":"BackoffLimitExceeded",
                   "message":"Job has reached the specified backoff limit",
                   "lastTransitionTime":"2026-01-01T00:10:00Z"}]}})";

// A Job decodes its spec knobs, counters, times and terminal conditions.
TEST(Job, DecodesSpecAndStatus) {
  auto job = Job::fromJson(kJob);
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->backoff_limit, 1);
  EXPECT_EQ(job->active_deadline_seconds, 3600);
  EXPECT_EQ(job->ttl_seconds_after_finished, 600);
  EXPECT_EQ(job->suspend, false);
  EXPECT_FALSE(job->completions.has_value());
  EXPECT_EQ(job->failed, 2);
  EXPECT_EQ(job->start_time, at("2026-01-01T00:00:00Z"));
  EXPECT_FALSE(job->completion_time.has_value());
  EXPECT_TRUE(job->finished());
  EXPECT_TRUE(job->failedTerminally());
  EXPECT_FALSE(job->succeededTerminally());
  ASSERT_NE(job->condition("Failed"), nullptr);
  EXPECT_EQ(job->condition("Failed")->reason, "BackoffLimitExceeded");
  EXPECT_EQ(job->condition("Failed")->last_transition_time, at("2026-01-01T00:10:00Z"));
  EXPECT_NE(job->pod_template_json.find("\"restartPolicy\":\"Never\""), std::string::npos);
}

// A Job built in code encodes only what was set, with the template as given.
TEST(Job, EncodesBuiltJob) {
  Job job;
  job.metadata.name = "build-2";
  job.metadata.ns = "ci";
  job.backoff_limit = 0;
  job.ttl_seconds_after_finished = 0;
  job.pod_template_json = R"({"spec":{"restartPolicy":"Never"}})";
  auto obj = Object::parse(job.toJson());
  ASSERT_TRUE(obj.has_value());
  EXPECT_EQ(obj->api_version, "batch/v1");
  EXPECT_EQ(obj->kind, "Job");
  EXPECT_EQ(obj->getInt("/spec/backoffLimit"), 0);
  EXPECT_EQ(obj->getInt("/spec/ttlSecondsAfterFinished"), 0);
  EXPECT_FALSE(obj->getJson("/spec/completions").has_value());
  EXPECT_EQ(obj->getString("/spec/template/spec/restartPolicy"), "Never");
  EXPECT_FALSE(obj->getJson("/status").has_value());
}

// Pod container statuses expose the terminated state and its termination message.
TEST(Pod, DecodesContainerStates) {
  auto pod = Pod::fromJson(R"({"metadata":{"name":"p"},"spec":{"nodeName":"n1"},
    "status":{"phase":"Failed","containerStatuses":[
      {"name":"packer","ready":false,"restartCount":1,"image":"hashicorp/packer",
       "state":{"terminated":{"exitCode":1,"reason":"Error","message":"build failed: ami",
                              "finishedAt":"2026-01-01T00:05:00Z"}}},
      {"name":"git-sync","state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off"}}},
      {"name":"side","state":{"running":{"startedAt":"2026-01-01T00:00:00Z"}}}]}})");
  ASSERT_TRUE(pod.has_value()) << pod.error().message;
  EXPECT_EQ(pod->phase, "Failed");
  EXPECT_EQ(pod->node_name, "n1");
  const ContainerStatus* packer = pod->containerStatus("packer");
  ASSERT_NE(packer, nullptr);
  EXPECT_EQ(packer->state, "terminated");
  EXPECT_EQ(packer->exit_code, 1);
  EXPECT_EQ(packer->message, "build failed: ami");
  EXPECT_EQ(packer->restart_count, 1);
  EXPECT_EQ(packer->finished_at, at("2026-01-01T00:05:00Z"));
  EXPECT_EQ(pod->containerStatus("git-sync")->reason, "CrashLoopBackOff");
  EXPECT_EQ(pod->containerStatus("side")->state, "running");
  EXPECT_EQ(pod->containerStatus("nope"), nullptr);
}

// Secret data is base64-decoded on read and encoded on write; bad base64 names the key.
TEST(Secret, DataIsBase64RoundTripped) {
  auto s = Secret::fromJson(
      R"({"metadata":{"name":"git"},"type":"Opaque","data":{"token":"c2VjcmV0IQ=="}})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->data.at("token"), "secret!");
  s->data["user"] = "me";
  auto obj = Object::parse(s->toJson());
  ASSERT_TRUE(obj.has_value());
  EXPECT_EQ(obj->getString("/data/user"), "bWU=");
  EXPECT_EQ(obj->getString("/data/token"), "c2VjcmV0IQ==");
  auto bad = Secret::fromJson(R"({"metadata":{"name":"git"},"data":{"key":"@@@"}})");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("data.key"), std::string::npos);
}

// An events.k8s.io/v1 Event encodes MicroTime and its references; decode reads them back.
TEST(Event, RoundTripsEventsV1Fields) {
  Event e;
  e.metadata.name = "pb.1";
  e.metadata.ns = "team";
  e.regarding =
      ObjectReference{"ami.refresh.ops/v1alpha1", "PackerBuilder", "team", "pb", "u1", "", ""};
  e.note = "build started";
  e.reason = "BuildStarted";
  e.action = "CreateJob";
  e.type = "Normal";
  e.event_time = at("2026-01-01T00:00:00.123456Z");
  e.reporting_controller = "ami.refresh.ops/packer-builder";
  e.reporting_instance = "pod-1";
  e.series = EventSeries{2, at("2026-01-01T00:01:00Z")};
  std::string json = e.toJson();
  EXPECT_NE(json.find("\"eventTime\":\"2026-01-01T00:00:00.123456Z\""), std::string::npos) << json;
  auto back = Event::fromJson(json);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->regarding, e.regarding);
  EXPECT_EQ(back->event_time, e.event_time);
  EXPECT_EQ(back->series->count, 2);
  EXPECT_EQ(back->reporting_instance, "pod-1");
  EXPECT_FALSE(back->related.has_value());
  auto obj = Object::parse(json);
  EXPECT_EQ(obj->api_version, "events.k8s.io/v1");
}

// A Lease round-trips its spec, and an update keeps fields the model does not know.
TEST(Lease, RoundTripsSpecAndKeepsUnknown) {
  auto lease = Lease::fromJson(R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
    "metadata":{"name":"opsy","namespace":"kube-system","resourceVersion":"5"},
    "spec":{"holderIdentity":"a","leaseDurationSeconds":15,"leaseTransitions":2,
            "acquireTime":"2026-01-01T00:00:00.000000Z","renewTime":"2026-01-01T00:00:10.500000Z",
            "futureKnob":"x"}})");
  ASSERT_TRUE(lease.has_value()) << lease.error().message;
  EXPECT_EQ(lease->holder_identity, "a");
  EXPECT_EQ(lease->lease_duration_seconds, 15);
  EXPECT_EQ(lease->renew_time, at("2026-01-01T00:00:10.5Z"));
  lease->holder_identity = "b";
  lease->lease_transitions = 3;
  auto obj = Object::parse(lease->toJson());
  ASSERT_TRUE(obj.has_value());
  EXPECT_EQ(obj->getString("/spec/holderIdentity"), "b");
  EXPECT_EQ(obj->getInt("/spec/leaseTransitions"), 3);
  EXPECT_EQ(obj->getString("/spec/renewTime"), "2026-01-01T00:00:10.500000Z");
  EXPECT_EQ(obj->getString("/spec/futureKnob"), "x");
  EXPECT_EQ(obj->metadata.resource_version, "5");
}

// Typed objects convert to and from the generic Object used by the client interfaces.
TEST(Job, ConvertsThroughObject) {
  auto job = Job::fromJson(kJob);
  ASSERT_TRUE(job.has_value());
  Object obj = job->toObject();
  EXPECT_EQ(obj.key(), "ci/build-1");
  auto again = Job::fromObject(obj);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->failed, 2);
  EXPECT_EQ(again->metadata.resource_version, "9");
}

}  // namespace
}  // namespace opsy::kube

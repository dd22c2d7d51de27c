// The AMIRefresher Reconciler against the in-memory fakes (FakeKube and FakeAws on loopback, with
// the real Kubernetes and AWS clients), one reconcile at a time on the test's thread: every
// reconcile writes the status at most once, and the executor only makes calls and reports what
// came back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "ami-refresh-controller/execute.h"
#include "ami-refresh-controller/reconciler.h"
#include "opsy/ami/image_cache.h"
#include "opsy/ami/tags.h"
#include "opsy/aws/autoscaling.h"
#include "opsy/aws/describe_cache.h"
#include "opsy/aws/ec2.h"
#include "opsy/aws/eks.h"
#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"
#include "opsy/http/curl_transport.h"
#include "opsy/kube/client.h"
#include "support/fake_aws.h"
#include "support/fake_kube.h"
#include "support/fake_kube_json.h"
#include "support/loopback_server.h"

namespace opsy::ami_refresh {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kCluster = "prod";
constexpr std::string_view kBase = "ami-0a1b2c3d4e5f60001";
constexpr std::string_view kTarget = "ami-0a1b2c3d4e5f60002";
constexpr std::string_view kOld = "ami-0a1b2c3d4e5f60009";

// EC2 ids: lt- and 17 hex digits.
std::string launchTemplateOf(std::string_view group) {
  return group == "workers-a" ? "lt-0aaaaaaaaaaaaaaa1" : "lt-0bbbbbbbbbbbbbbb2";
}
constexpr std::string_view kMissingTemplate = "lt-0ccccccccccccccc3";
constexpr std::string_view kSelfManagedTemplate = "lt-0ddddddddddddddd4";

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Records what the reconciler asks to be recorded.
class RecordingEvents : public kube::EventRecorder {
 public:
  void record(const kube::EventObjectRef&, kube::EventType, std::string_view reason,
              std::string_view, std::string_view) override {
    reasons.emplace_back(reason);
  }
  std::vector<std::string> reasons;
};

class ReconcilerWorldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::clearProxyEnvironment();
    ASSERT_TRUE(kube_.start().has_value());
    auto crd = testing::parseJsonOrYaml(readFile(std::string(OPSY_TEST_DATA_DIR) +
                                                 "/../../crds/ami.refresh.ops_amirefreshers.yaml"));
    ASSERT_TRUE(crd.has_value()) << crd.error().toString();
    ASSERT_TRUE(kube_.createObject(testing::toJson(*crd)).has_value());
    (void)kube_.createObject(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ops"}})");
    seedAws();
    ASSERT_TRUE(aws_.start().has_value());

    auto transport = http::makeCurlTransport({});
    ASSERT_TRUE(transport.has_value());
    transport_ = *transport;
    kube::RestConfig cfg;
    cfg.server = kube_.url();
    cfg.credentials = kube::staticTokenSource(kube_.token());
    kube::ClientOptions copts;
    // The fake serves plain HTTP on 127.0.0.1: the token may go there only with this allowance.
    copts.allow_http_credentials_on_loopback = true;
    client_ = kube::makeClient(cfg, transport_, *clock_, copts);

    aws::ClientOptions o;
    o.region = "us-west-2";
    o.transport = transport_;
    o.credentials = aws::makeStaticProvider(
        {std::string(testing::kFakeAccessKey), std::string(testing::kFakeSecretKey), "", {}});
    o.endpoint_url = aws_.endpoint();
    o.clock = clock_;
    o.retry.max_attempts = 1;
    clients_.ec2 = aws::makeEc2Client(o).value();
    clients_.eks = aws::makeEksClient(o).value();
    clients_.autoscaling = aws::makeAutoScalingClient(o).value();
  }

  void seedAws() {
    TimePoint now = clock_->now();
    aws_.addCluster({.name = std::string(kCluster)});
    aws_.addImage({.id = std::string(kBase),
                   .name = "amazon-eks-node-al2023-x86_64-standard-1.30-v20261101",
                   .owner_id = "602401143452",
                   .creation_date = "2026-11-01T00:00:00.000Z",
                   .is_public = true});
    ami::Lineage lineage{.cluster_name = std::string(kCluster),
                         .created_by = "nodes",
                         .packer_repo = "https://git.example/packer.git",
                         .packer_repo_branch = "main"};
    aws::Tags tags = ami::fullTags(
        lineage, {.base_ami = std::string(kBase), .build_id = "b-1", .job_id = "j-1"}, now);
    aws_.addImage({.id = std::string(kTarget),
                   .name = "prod-al2023-b-1",
                   .creation_date = formatRfc3339Millis(now),
                   .tags = testing::TagMap(tags.begin(), tags.end())});
    for (std::string name : {"workers-a", "workers-b"}) {
      std::string lt = launchTemplateOf(name);
      aws_.addLaunchTemplate(
          {.id = lt,
           .name = name,
           .default_version = 1,
           .versions = {{.version_number = 1,
                         .create_time = "2026-11-01T00:00:00.000Z",
                         .data = {.image_id = std::string(kOld), .instance_type = "m6i.large"}}}});
      aws_.addNodegroup(
          {.cluster = std::string(kCluster),
           .name = name,
           .launch_template = testing::FakeLaunchTemplateRef{.id = lt, .version = "1"}});
    }
  }

  void createRefresher() {
    auto created = kube_.createObject(
        R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher",)"
        R"("metadata":{"name":"roll","namespace":"ops"},)"
        R"("spec":{"region":"us-west-2","clusterName":"prod","expiresIn":"30d",)"
        R"("amiFilters":[{"name":"name","values":["amazon-eks-node-al2023-*"]}],)"
        R"("refreshConfig":{"maxConcurrentNodegroups":2}}})");
    ASSERT_TRUE(created.has_value()) << created.error().toString();
  }

  // An AMIRefresher `name` on the cluster; `extra_spec` is appended to the spec's fields.
  void createRefresher(const std::string& name, const std::string& extra_spec) {
    auto created = kube_.createObject(
        R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher",)"
        R"("metadata":{"name":")" +
        name +
        R"(","namespace":"ops"},)"
        R"("spec":{"region":"us-west-2","clusterName":"prod","expiresIn":"30d",)"
        R"("amiFilters":[{"name":"name","values":["amazon-eks-node-al2023-*"]}])" +
        extra_spec + "}}");
    ASSERT_TRUE(created.has_value()) << created.error().toString();
  }

  // Both managed groups already run the target (launch template version 2), and a self-managed
  // group owned by the cluster runs it too: nothing to roll, only reads.
  void seedUpToDate() {
    for (std::string name : {"workers-a", "workers-b"}) {
      std::string lt = launchTemplateOf(name);
      aws_.addLaunchTemplate(
          {.id = lt,
           .name = name,
           .default_version = 2,
           .versions = {
               {.data = {.image_id = std::string(kOld), .instance_type = "m6i.large"}},
               {.data = {.image_id = std::string(kTarget), .instance_type = "m6i.large"}}}});
      aws_.addNodegroup(
          {.cluster = std::string(kCluster),
           .name = name,
           .launch_template = testing::FakeLaunchTemplateRef{.id = lt, .version = "2"}});
    }
    aws_.addLaunchTemplate(
        {.id = std::string(kSelfManagedTemplate),
         .name = "self-c",
         .default_version = 1,
         .versions = {{.data = {.image_id = std::string(kTarget), .instance_type = "m6i.large"}}}});
    aws_.addAutoScalingGroup(
        {.name = "self-c",
         .launch_template = testing::FakeLaunchTemplateRef{.id = std::string(kSelfManagedTemplate),
                                                           .version = "1"},
         .tags = {{.key = "kubernetes.io/cluster/prod", .value = "owned"}}});
  }

  // Calls by operation since the last clearCalls().
  std::map<std::string, int> callsByOperation() {
    std::map<std::string, int> out;
    for (const testing::FakeCall& c : aws_.calls()) {
      ++out[c.operation];
    }
    return out;
  }

  // The reads of the cluster itself: everything but the target image lookup.
  static int clusterReads(const std::map<std::string, int>& calls) {
    int n = 0;
    for (const auto& [operation, count] : calls) {
      if (operation != "DescribeImages") {
        n += count;
      }
    }
    return n;
  }

  ReconcilerDeps deps() {
    return ReconcilerDeps{
        .reader = *client_,
        .status = *client_,
        .events = events_,
        .aws = [this](const std::string&) -> Result<AwsClients> { return clients_; },
        .clock = *clock_};
  }

  RefresherStatus status() {
    auto obj = client_->get(amiRefreshers(), "ops", "roll");
    EXPECT_TRUE(obj.has_value());
    return parseStatus(*obj);
  }

  int statusWrites() {
    int n = 0;
    for (const testing::KubeRequest& r : kube_.requestLog()) {
      if (r.resource == "amirefreshers" && r.subresource == "status" &&
          (r.verb == "patch" || r.verb == "update")) {
        ++n;
      }
    }
    return n;
  }

  int awsWrites() {
    return aws_.callCount("ec2", "CreateLaunchTemplateVersion") +
           aws_.callCount("eks", "UpdateNodegroupVersion") +
           aws_.callCount("eks", "UpdateNodegroupConfig") +
           aws_.callCount("autoscaling", "StartInstanceRefresh");
  }

  std::shared_ptr<FakeClock> clock_ =
      std::make_shared<FakeClock>(parseRfc3339("2026-11-21T12:00:00Z").value());
  testing::FakeKube kube_;
  testing::FakeAws aws_{{.clock = clock_}};
  http::TransportPtr transport_;
  kube::ClientPtr client_;
  AwsClients clients_;
  RecordingEvents events_;
};

// Each reconcile of a whole rollout writes the status at most once: the one that records intent
// (no AWS write), the one that makes the calls and records their update ids, the ones that follow
// the updates, and none once nothing changes.
TEST_F(ReconcilerWorldTest, EveryReconcileWritesTheStatusAtMostOnce) {
  createRefresher();
  Reconciler r(deps());
  const kube::ObjectKey key{"ops", "roll"};
  std::vector<int> writes_per_reconcile;
  auto once = [&] {
    int before = statusWrites();
    auto out = r.reconcile(key);
    EXPECT_TRUE(out.has_value()) << out.error().toString();
    writes_per_reconcile.push_back(statusWrites() - before);
  };

  once();  // intent
  EXPECT_EQ(awsWrites(), 0);
  RefresherStatus intent = status();
  ASSERT_EQ(intent.nodegroups.size(), 2u);
  for (const NodegroupStatus& ng : intent.nodegroups) {
    EXPECT_EQ(ng.phase, Phase::Updating) << ng.message;
    EXPECT_EQ(ng.previous_launch_template_version, "1");
    EXPECT_TRUE(ng.update_id.empty());
  }

  once();  // the calls, and their outcomes in the same write
  EXPECT_EQ(aws_.callCount("ec2", "CreateLaunchTemplateVersion"), 2);
  EXPECT_EQ(aws_.callCount("eks", "UpdateNodegroupVersion"), 2);
  for (const NodegroupStatus& ng : status().nodegroups) {
    EXPECT_FALSE(ng.update_id.empty()) << ng.name;
    EXPECT_EQ(ng.launch_template.version, "2") << ng.name;
  }

  for (const testing::FakeEksUpdate& u : aws_.eksUpdates()) {
    ASSERT_TRUE(aws_.completeEksUpdate(u.id));
  }
  clock_->advance(std::chrono::seconds(30));
  once();  // both succeeded: Ready
  EXPECT_EQ(status().state, kStateReady);
  clock_->advance(std::chrono::minutes(5));
  once();  // nothing changed
  EXPECT_EQ(awsWrites(), 4);
  EXPECT_THAT(writes_per_reconcile, ::testing::ElementsAre(1, 1, 1, 0));
  EXPECT_THAT(events_.reasons, ::testing::Contains("UpdateStarted"));
  EXPECT_THAT(events_.reasons, ::testing::Contains("RolloutComplete"));
}

// The executor makes the calls it is given and reports what AWS answered, a refusal included,
// without writing anything to Kubernetes or deciding what a refusal means.
TEST_F(ReconcilerWorldTest, ExecutorOnlyReportsOutcomes) {
  createRefresher();
  Executor executor({.status = *client_, .events = events_});
  std::vector<AwsAction> actions = {
      CreateLaunchTemplateVersion{.group = "workers-a",
                                  .launch_template_id = launchTemplateOf("workers-a"),
                                  .source_version = "1",
                                  .image_id = std::string(kTarget),
                                  .client_token = "tok-a"},
      UpdateNodegroup{.cluster_name = std::string(kCluster),
                      .group = "workers-a",
                      .launch_template_id = launchTemplateOf("workers-a"),
                      .client_request_token = "tok-a-update"},
      // A launch template nobody has: EC2 refuses, and the update that needs it is not made.
      CreateLaunchTemplateVersion{.group = "workers-b",
                                  .launch_template_id = std::string(kMissingTemplate),
                                  .source_version = "1",
                                  .image_id = std::string(kTarget),
                                  .client_token = "tok-b"},
      UpdateNodegroup{.cluster_name = std::string(kCluster),
                      .group = "workers-b",
                      .launch_template_id = std::string(kMissingTemplate),
                      .client_request_token = "tok-b-update"},
  };
  int kube_writes = kube_.writeCount();
  Outcomes out = executor.perform(actions, clients_);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_FALSE(out[0].error.has_value()) << out[0].error->toString();
  EXPECT_EQ(out[0].value, "2");
  EXPECT_FALSE(out[1].error.has_value());
  EXPECT_FALSE(out[1].value.empty());
  EXPECT_EQ(out[1].version, "2");
  ASSERT_TRUE(out[2].error.has_value());
  EXPECT_THAT(out[2].error->provider_code, HasSubstr("NotFound"));
  EXPECT_FALSE(out[3].attempted);
  EXPECT_EQ(aws_.callCount("eks", "UpdateNodegroupVersion"), 1);
  EXPECT_EQ(kube_.writeCount(), kube_writes);
  EXPECT_TRUE(events_.reasons.empty());
}

// N refreshers on one cluster with G groups cost at most G + 2 cluster reads per period in all
// (one ListNodegroups, one DescribeNodegroup per managed group, one DescribeAutoScalingGroups, one
// DescribeInstanceRefreshes per self-managed group; launch template versions by number are kept),
// where each refresher asked for its own before. The target image lookup (DescribeImages) was
// already shared and is counted apart.
TEST_F(ReconcilerWorldTest, RefreshersOnOneClusterShareItsReadsWithinAPeriod) {
  constexpr int kRefreshers = 50;
  constexpr int kGroups = 3;  // two managed, one self-managed
  seedUpToDate();
  for (int i = 0; i < kRefreshers; ++i) {
    createRefresher("r" + std::to_string(i), R"(,"selfManaged":{"enabled":true})");
  }
  auto period = [&](Reconciler& r) {
    clock_->advance(std::chrono::minutes(5));  // the default controllerTimer
    aws_.clearCalls();
    for (int i = 0; i < kRefreshers; ++i) {
      auto out = r.reconcile({"ops", "r" + std::to_string(i)});
      EXPECT_TRUE(out.has_value()) << out.error().toString();
    }
    return callsByOperation();
  };

  ReconcilerDeps unshared = deps();
  unshared.image_cache = std::make_shared<ami::ImageLookupCache>(*clock_);
  Reconciler before(unshared);
  period(before);
  std::map<std::string, int> each_asks = period(before);
  EXPECT_EQ(clusterReads(each_asks), kRefreshers * (2 * kGroups + 2));

  ReconcilerDeps shared = unshared;
  shared.describe_cache = std::make_shared<aws::ClusterDescribeCache>(*clock_);
  Reconciler r(shared);
  std::map<std::string, int> first = period(r);
  EXPECT_EQ(clusterReads(first), kGroups + 2 + kGroups);  // + each group's version, once
  for (int p = 0; p < 3; ++p) {
    std::map<std::string, int> calls = period(r);
    EXPECT_LE(clusterReads(calls), kGroups + 2) << "period " << p;
    EXPECT_EQ(calls["ListNodegroups"], 1);
    EXPECT_EQ(calls["DescribeNodegroup"], 2);
    EXPECT_EQ(calls["DescribeAutoScalingGroups"], 1);
    EXPECT_EQ(calls["DescribeInstanceRefreshes"], 1);
    EXPECT_EQ(calls["DescribeLaunchTemplateVersions"], 0);
    EXPECT_EQ(calls["DescribeImages"], 2);  // filters, then images derived from the base
  }
  std::printf("%d refreshers, %d groups: %d cluster reads per period, %d without sharing\n",
              kRefreshers, kGroups, clusterReads(period(r)), clusterReads(each_asks));
  auto one = client_->get(amiRefreshers(), "ops", "r0");
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(parseStatus(*one).state, kStateReady);
}

// A shared answer is never older than the refresher's controllerTimer: a group added to the
// cluster is in the status after one period, and not before.
TEST_F(ReconcilerWorldTest, NewGroupIsSeenWithinOneControllerTimer) {
  seedUpToDate();
  createRefresher("fast", R"(,"timeOuts":{"controllerTimer":"1m"})");
  ReconcilerDeps d = deps();
  d.describe_cache = std::make_shared<aws::ClusterDescribeCache>(*clock_);
  Reconciler r(d);
  auto groups = [&] {
    auto out = r.reconcile({"ops", "fast"});
    EXPECT_TRUE(out.has_value()) << out.error().toString();
    auto obj = client_->get(amiRefreshers(), "ops", "fast");
    EXPECT_TRUE(obj.has_value());
    return parseStatus(*obj).nodegroups.size();
  };
  EXPECT_EQ(groups(), 2u);
  aws_.addNodegroup({.cluster = std::string(kCluster),
                     .name = "workers-c",
                     .launch_template = testing::FakeLaunchTemplateRef{
                         .id = launchTemplateOf("workers-a"), .version = "2"}});
  clock_->advance(std::chrono::seconds(59));
  EXPECT_EQ(groups(), 2u);  // the list read 59 s ago still serves
  clock_->advance(std::chrono::seconds(1));
  EXPECT_EQ(groups(), 3u);
}

// After our own update calls the cluster's shared answers are dropped: the next reconcile of any
// refresher on it (here a paused one that only watches) reads the node groups again at once.
TEST_F(ReconcilerWorldTest, OwnUpdateMakesTheNextObserveReadAgain) {
  createRefresher("roll", R"(,"refreshConfig":{"maxConcurrentNodegroups":2})");
  createRefresher("watch", R"(,"paused":true)");
  ReconcilerDeps d = deps();
  d.describe_cache = std::make_shared<aws::ClusterDescribeCache>(*clock_);
  Reconciler r(d);
  auto reconcile = [&](const std::string& name) {
    auto out = r.reconcile({"ops", name});
    EXPECT_TRUE(out.has_value()) << out.error().toString();
  };
  reconcile("roll");   // intent: reads the cluster
  reconcile("watch");  // served from the shared answers
  EXPECT_EQ(aws_.callCount("eks", "ListNodegroups"), 1);
  EXPECT_EQ(aws_.callCount("eks", "DescribeNodegroup"), 2);
  reconcile("roll");  // its updating groups are read fresh, then the calls
  EXPECT_EQ(aws_.callCount("eks", "UpdateNodegroupVersion"), 2);
  EXPECT_EQ(aws_.callCount("eks", "DescribeNodegroup"), 4);
  reconcile("watch");  // no time has passed, but the cluster changed under our hands
  EXPECT_EQ(aws_.callCount("eks", "ListNodegroups"), 2);
  EXPECT_EQ(aws_.callCount("eks", "DescribeNodegroup"), 6);
  // The updates finish in AWS, with no call of ours. The rolling refresher reads its updating
  // groups fresh (version 2 is read once, by number, and kept), and while its updates run nothing
  // it read is kept: the watcher reads the finished groups once, and from then on both are
  // served from the shared answers again.
  for (const testing::FakeEksUpdate& u : aws_.eksUpdates()) {
    ASSERT_TRUE(aws_.completeEksUpdate(u.id));
  }
  int versions = aws_.callCount("ec2", "DescribeLaunchTemplateVersions");
  reconcile("roll");  // sees both updates succeed
  EXPECT_EQ(aws_.callCount("eks", "DescribeNodegroup"), 8);
  EXPECT_EQ(aws_.callCount("ec2", "DescribeLaunchTemplateVersions"), versions + 2);
  reconcile("watch");
  EXPECT_EQ(aws_.callCount("eks", "DescribeNodegroup"), 10);
  reconcile("roll");
  reconcile("watch");
  EXPECT_EQ(aws_.callCount("eks", "DescribeNodegroup"), 10);
  EXPECT_EQ(aws_.callCount("ec2", "DescribeLaunchTemplateVersions"), versions + 2);
  auto rolled = client_->get(amiRefreshers(), "ops", "roll");
  ASSERT_TRUE(rolled.has_value());
  EXPECT_EQ(parseStatus(*rolled).state, kStateReady);
  auto watched = client_->get(amiRefreshers(), "ops", "watch");
  ASSERT_TRUE(watched.has_value());
  for (const NodegroupStatus& ng : parseStatus(*watched).nodegroups) {
    EXPECT_EQ(ng.current_image, kTarget) << ng.name;
  }
}

}  // namespace
}  // namespace opsy::ami_refresh

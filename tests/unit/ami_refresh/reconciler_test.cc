#include "ami-refresh-controller/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mocks/aws_mocks.h"
#include "mocks/kube/controller_mocks.h"
#include "mocks/kube_client_mock.h"
#include "opsy/ami/tags.h"
#include "opsy/controller/reconciler.h"
#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"
#include "opsy/kube/conditions.h"

namespace opsy::ami_refresh {
namespace {

using std::chrono::hours;
using ::testing::_;
using ::testing::AllOf;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::StrictMock;

const TimePoint kNow = parseRfc3339("2026-11-21T12:00:00Z").value();
constexpr std::string_view kReady = kube::kConditionReady;
constexpr std::string_view kStalled = kube::kConditionStalled;

// What the work queue gets for a key.
kube::WorkOutcome run(Reconciler& r, const std::string& key) {
  return controller::workFn(r)(key);
}
const std::string kTarget = "ami-0aaaaaaaaaaaaaaa1";
const std::string kOld = "ami-0bbbbbbbbbbbbbbb2";

constexpr std::string_view kFilterSpec =
    R"({"region":"us-west-2","clusterName":"prod",
        "amiFilters":[{"name":"name","values":["amazon-eks-node-al2023-*"]}],"expiresIn":"30d"})";

aws::Image baseImage() {
  aws::Image i;
  i.id = "ami-base";
  i.state = aws::ImageState::Available;
  i.creation_date = kNow - hours(24 * 20);
  return i;
}

aws::Image targetImage(TimePoint created = kNow - hours(24)) {
  aws::Image i;
  i.id = kTarget;
  i.state = aws::ImageState::Available;
  i.creation_date = created;
  i.tags =
      ami::fullTags({"prod", "builder", "https://git/x", "main"}, {"ami-base", "b", "j"}, created);
  return i;
}

aws::Nodegroup nodegroup(const std::string& name, const std::string& version = "3") {
  aws::Nodegroup ng;
  ng.name = name;
  ng.status = aws::NodegroupStatus::Active;
  ng.launch_template = aws::LaunchTemplateSpec{.id = "lt-" + name, .version = version};
  return ng;
}

aws::LaunchTemplateVersion ltv(const std::string& id, int64_t version, const std::string& image) {
  return aws::LaunchTemplateVersion{
      .launch_template_id = id, .version_number = version, .image_id = image};
}

// Holds the refresher like the API server would: status patches replace .status.
class FakeRefresherStore {
 public:
  explicit FakeRefresherStore(std::string_view spec, std::string status = "{}") {
    spec_ = std::string(spec);
    status_ = std::move(status);
  }
  kube::Object object() const {
    return kube::Object::parse(
               R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher",)"
               R"("metadata":{"name":"roll","namespace":"ops","uid":"uid-1","generation":1},)"
               R"("spec":)" +
               spec_ + R"(,"status":)" + status_ + "}")
        .value();
  }
  // Applies `{"status":{...}}` (this controller always sends the whole status).
  void apply(std::string_view patch) {
    std::string p(patch);
    const std::string prefix = R"({"status":)";
    ASSERT_EQ(p.rfind(prefix, 0), 0u);
    status_ = p.substr(prefix.size(), p.size() - prefix.size() - 1);
    patches.push_back(p);
  }
  RefresherStatus status() const { return parseStatus(object()); }

  std::vector<std::string> patches;

 private:
  std::string spec_;
  std::string status_;
};

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ON_CALL(reader_, get(_, "ops", "roll")).WillByDefault(Invoke([this](auto&&...) {
      return Result<kube::Object>(store_->object());
    }));
    EXPECT_CALL(reader_, get(_, "ops", "roll")).Times(::testing::AnyNumber());
    ON_CALL(status_, patchStatus(_, "ops", "roll", kube::PatchType::Merge, _, _))
        .WillByDefault(
            Invoke([this](const kube::Resource&, std::string_view, std::string_view,
                          kube::PatchType, std::string_view body, const kube::PatchOptions&) {
              store_->apply(body);
              return Result<kube::Object>(store_->object());
            }));
    EXPECT_CALL(status_, patchStatus(_, _, _, _, _, _)).Times(::testing::AnyNumber());
    EXPECT_CALL(events_, record(_, _, _, _, _)).Times(::testing::AnyNumber());
  }

  ReconcilerDeps deps() {
    return ReconcilerDeps{.reader = reader_,
                          .status = status_,
                          .events = events_,
                          .aws = [this](const std::string& region) -> Result<AwsClients> {
                            regions_.push_back(region);
                            return clients_;
                          },
                          .clock = clock_};
  }

  void expectTargetLookup(std::vector<aws::Image> derived = {targetImage()}) {
    EXPECT_CALL(*ec2_,
                describeImages(Field(&aws::DescribeImagesInput::image_ids, ::testing::IsEmpty())))
        .WillRepeatedly(Invoke([derived](const aws::DescribeImagesInput& in) {
          if (in.owners == std::vector<std::string>{"self"}) {
            EXPECT_EQ(in.filters.size(), 1u);
            EXPECT_EQ(in.filters[0].name, "tag:base-ami");
            EXPECT_EQ(in.filters[0].values, std::vector<std::string>{"ami-base"});
            return Result<std::vector<aws::Image>>(derived);
          }
          EXPECT_EQ(in.filters.size(), 1u);
          return Result<std::vector<aws::Image>>(std::vector<aws::Image>{baseImage()});
        }));
  }

  std::unique_ptr<FakeRefresherStore> store_ = std::make_unique<FakeRefresherStore>(kFilterSpec);
  FakeClock clock_{kNow};
  NiceMock<kube::MockObjectReader> reader_;
  NiceMock<kube::MockStatusWriter> status_;
  NiceMock<kube::MockEventRecorder> events_;
  std::shared_ptr<StrictMock<aws::MockEc2Api>> ec2_ =
      std::make_shared<StrictMock<aws::MockEc2Api>>();
  std::shared_ptr<StrictMock<aws::MockEksApi>> eks_ =
      std::make_shared<StrictMock<aws::MockEksApi>>();
  std::shared_ptr<StrictMock<aws::MockAutoScalingApi>> asg_ =
      std::make_shared<StrictMock<aws::MockAutoScalingApi>>();
  AwsClients clients_{ec2_, eks_, asg_};
  std::vector<std::string> regions_;
};

// A first reconcile records intent (one status write, no AWS write); the next makes one launch
// template version from the group's current one with the target image, starts the node-group
// update on exactly that version, and writes the update id in its one status write.
TEST_F(ReconcilerTest, StartsAnUpdateAndRecordsIt) {
  expectTargetLookup();
  EXPECT_CALL(*eks_, listNodegroups("prod"))
      .Times(2)
      .WillRepeatedly(Return(std::vector<std::string>{"a"}));
  EXPECT_CALL(*eks_, describeNodegroup("prod", "a"))
      .Times(2)
      .WillRepeatedly(Return(nodegroup("a")));
  EXPECT_CALL(
      *ec2_, describeLaunchTemplateVersions(
                 AllOf(Field(&aws::DescribeLaunchTemplateVersionsInput::launch_template_id, "lt-a"),
                       Field(&aws::DescribeLaunchTemplateVersionsInput::versions,
                             std::vector<std::string>{"3"}))))
      .Times(2)
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 3, kOld)}));
  std::string token;
  EXPECT_CALL(*ec2_, createLaunchTemplateVersion(AllOf(
                         Field(&aws::CreateLaunchTemplateVersionInput::launch_template_id, "lt-a"),
                         Field(&aws::CreateLaunchTemplateVersionInput::source_version, "3"),
                         Field(&aws::CreateLaunchTemplateVersionInput::image_id, kTarget))))
      .WillOnce(Invoke([&](const aws::CreateLaunchTemplateVersionInput& in) {
        token = in.client_token;
        // Intent (the previous version) is in status before any AWS write.
        EXPECT_EQ(store_->status().nodegroups.at(0).previous_launch_template_version, "3");
        EXPECT_EQ(store_->status().nodegroups.at(0).phase, Phase::Updating);
        return Result<aws::LaunchTemplateVersion>(ltv("lt-a", 4, kTarget));
      }));
  EXPECT_CALL(*eks_, updateNodegroupVersion(_))
      .WillOnce(Invoke([](const aws::UpdateNodegroupVersionInput& in) {
        EXPECT_EQ(in.cluster_name, "prod");
        EXPECT_EQ(in.nodegroup_name, "a");
        EXPECT_EQ(in.launch_template->id, "lt-a");
        EXPECT_EQ(in.launch_template->version, "4");
        EXPECT_TRUE(in.launch_template->name.empty());
        EXPECT_FALSE(in.force);
        EXPECT_FALSE(in.client_request_token.empty());
        return Result<aws::Update>(
            aws::Update{.id = "u-1", .status = aws::UpdateStatus::InProgress});
      }));
  EXPECT_CALL(events_, record(_, kube::EventType::Normal, "UpdateStarted", _, _));

  Reconciler r(deps());
  kube::WorkOutcome intent = run(r, "ops/roll");
  EXPECT_EQ(intent.kind, kube::WorkOutcome::Kind::RequeueAfter);
  EXPECT_EQ(intent.requeue_after, kPollInterval);
  EXPECT_EQ(store_->patches.size(), 1u);
  kube::WorkOutcome out = run(r, "ops/roll");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
  EXPECT_EQ(out.requeue_after, kPollInterval);
  EXPECT_EQ(regions_, (std::vector<std::string>{"us-west-2", "us-west-2"}));
  EXPECT_FALSE(token.empty());
  RefresherStatus s = store_->status();
  ASSERT_EQ(s.nodegroups.size(), 1u);
  EXPECT_EQ(s.nodegroups[0].update_id, "u-1");
  EXPECT_EQ(s.nodegroups[0].launch_template.version, "4");
  EXPECT_EQ(s.target_ami, kTarget);
  EXPECT_EQ(store_->patches.size(), 2u);
}

// When spec.refreshConfig sets a limit the node group lacks, the reconcile records intent and
// sends only UpdateNodegroupConfig with that limit; its update id lands in status, and no launch
// template version is made yet.
TEST_F(ReconcilerTest, ChangesUpdateConfigBeforeTheVersionUpdate) {
  store_ = std::make_unique<FakeRefresherStore>(
      R"({"region":"us-west-2","clusterName":"prod",
          "amiFilters":[{"name":"name","values":["amazon-eks-node-al2023-*"]}],"expiresIn":"30d",
          "refreshConfig":{"maxUnavailable":2}})");
  expectTargetLookup();
  aws::Nodegroup ng = nodegroup("a");
  ng.max_unavailable = 1;
  EXPECT_CALL(*eks_, listNodegroups("prod"))
      .Times(2)
      .WillRepeatedly(Return(std::vector<std::string>{"a"}));
  EXPECT_CALL(*eks_, describeNodegroup("prod", "a")).Times(2).WillRepeatedly(Return(ng));
  EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(_))
      .Times(2)
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 3, kOld)}));
  EXPECT_CALL(*eks_, updateNodegroupConfig(_))
      .WillOnce(Invoke([&](const aws::UpdateNodegroupConfigInput& in) {
        EXPECT_EQ(in.cluster_name, "prod");
        EXPECT_EQ(in.nodegroup_name, "a");
        EXPECT_EQ(in.max_unavailable, 2);
        EXPECT_FALSE(in.max_unavailable_percentage.has_value());
        EXPECT_FALSE(in.client_request_token.empty());
        EXPECT_EQ(store_->status().nodegroups.at(0).phase, Phase::Updating);
        return Result<aws::Update>(aws::Update{.id = "cfg-1",
                                               .status = aws::UpdateStatus::InProgress,
                                               .type = aws::UpdateType::ConfigUpdate});
      }));

  Reconciler r(deps());
  EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);  // intent
  kube::WorkOutcome out = run(r, "ops/roll");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
  RefresherStatus s = store_->status();
  ASSERT_EQ(s.nodegroups.size(), 1u);
  EXPECT_EQ(s.nodegroups[0].update_id, "cfg-1");
  EXPECT_EQ(s.nodegroups[0].launch_template.version, "3");
}

// The reconcile after that follows the update through DescribeUpdate and issues nothing new; once
// it succeeds the rollout is Ready, and a further reconcile writes nothing at all.
TEST_F(ReconcilerTest, FollowsTheUpdateThenGoesQuiet) {
  RefresherStatus s;
  s.observed_generation = 1;
  s.target_ami = kTarget;
  s.nodegroups = {NodegroupStatus{.name = "a",
                                  .launch_template = {"lt-a", "4"},
                                  .previous_launch_template_version = "3",
                                  .current_image = kOld,
                                  .target_image = kTarget,
                                  .phase = Phase::Updating,
                                  .update_id = "u-1",
                                  .last_transition_time = kNow - hours(1)}};
  std::string patch = statusPatch(s);
  store_ = std::make_unique<FakeRefresherStore>(kFilterSpec, patch.substr(10, patch.size() - 11));
  expectTargetLookup();
  aws::Nodegroup updating = nodegroup("a", "4");
  updating.status = aws::NodegroupStatus::Updating;
  EXPECT_CALL(*eks_, listNodegroups("prod")).WillRepeatedly(Return(std::vector<std::string>{"a"}));
  EXPECT_CALL(*eks_, describeNodegroup("prod", "a"))
      .WillOnce(Return(updating))
      .WillRepeatedly(Return(nodegroup("a", "4")));
  EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(_))
      .WillOnce(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 4, kTarget)}))
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 4, kTarget)}));
  EXPECT_CALL(*eks_, describeUpdate("prod", "u-1", "a"))
      .WillOnce(Return(aws::Update{.id = "u-1", .status = aws::UpdateStatus::InProgress}))
      .WillOnce(Return(aws::Update{.id = "u-1", .status = aws::UpdateStatus::Successful}));

  Reconciler r(deps());
  EXPECT_EQ(run(r, "ops/roll").requeue_after, kPollInterval);
  EXPECT_EQ(store_->status().nodegroups.at(0).phase, Phase::Updating);

  EXPECT_CALL(events_, record(_, kube::EventType::Normal, "UpdateSucceeded", _, _));
  EXPECT_CALL(events_, record(_, kube::EventType::Normal, "RolloutComplete", _, _));
  kube::WorkOutcome done = run(r, "ops/roll");
  EXPECT_EQ(done.requeue_after, kDefaultControllerTimer);
  EXPECT_EQ(store_->status().state, kStateReady);
  EXPECT_EQ(store_->status().nodegroups.at(0).phase, Phase::Succeeded);

  size_t writes = store_->patches.size();
  clock_.advance(std::chrono::minutes(5));
  EXPECT_EQ(run(r, "ops/roll").requeue_after, kDefaultControllerTimer);
  EXPECT_EQ(store_->patches.size(), writes);
}

// With no eligible image nothing but the image lookup happens: no node group is listed, no
// launch template is touched.
TEST_F(ReconcilerTest, NoEligibleImageTouchesNothing) {
  expectTargetLookup({targetImage(kNow - hours(24 * 40))});  // older than expiresIn=30d
  EXPECT_CALL(events_, record(_, kube::EventType::Warning, "NoEligibleImage", _, _));
  Reconciler r(deps());
  kube::WorkOutcome out = run(r, "ops/roll");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
  EXPECT_EQ(out.requeue_after, kDefaultControllerTimer);
  RefresherStatus s = store_->status();
  const kube::Condition* ready = kube::findCondition(s.conditions, kReady);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->reason, "NoEligibleImage");
  EXPECT_THAT(ready->message, HasSubstr("expired"));
}

// A shared image cache never answers a refresher with something older than its own
// controllerTimer: an image built 3 s after a "nothing eligible" answer is seen on the next
// reconcile 3 s later, although the cache keeps answers for a minute.
TEST_F(ReconcilerTest, SharedCacheIsNeverOlderThanTheControllerTimer) {
  store_ = std::make_unique<FakeRefresherStore>(
      R"({"region":"us-west-2","clusterName":"prod",)"
      R"("amiFilters":[{"name":"name","values":["amazon-eks-node-al2023-*"]}],)"
      R"("expiresIn":"30d","timeOuts":{"controllerTimer":"3s"}})");
  int derived_lookups = 0;
  EXPECT_CALL(*ec2_, describeImages(_))
      .WillRepeatedly(Invoke([&](const aws::DescribeImagesInput& in) {
        if (in.owners == std::vector<std::string>{"self"}) {
          // Nothing built yet on the first look; the new image from then on.
          return Result<std::vector<aws::Image>>(++derived_lookups == 1
                                                     ? std::vector<aws::Image>{}
                                                     : std::vector<aws::Image>{targetImage()});
        }
        return Result<std::vector<aws::Image>>(std::vector<aws::Image>{baseImage()});
      }));
  auto cache = std::make_shared<ami::ImageLookupCache>(clock_);
  ReconcilerDeps with_cache = deps();
  with_cache.image_cache = cache;
  with_cache.image_cache_max_age = std::chrono::minutes(1);
  Reconciler r(with_cache);
  kube::WorkOutcome first = run(r, "ops/roll");
  ASSERT_EQ(first.kind, kube::WorkOutcome::Kind::RequeueAfter);
  EXPECT_EQ(first.requeue_after, std::chrono::seconds(3));
  EXPECT_EQ(store_->status().target_ami, "");
  clock_.advance(std::chrono::seconds(3));
  EXPECT_CALL(*eks_, listNodegroups("prod")).WillOnce(Return(std::vector<std::string>{}));
  run(r, "ops/roll");
  EXPECT_EQ(derived_lookups, 2);
  EXPECT_EQ(store_->status().target_ami, kTarget);
}

// ResourceInUseException means another update runs: the group waits, the reconcile succeeds.
TEST_F(ReconcilerTest, ConflictMeansWait) {
  expectTargetLookup();
  EXPECT_CALL(*eks_, listNodegroups("prod")).WillRepeatedly(Return(std::vector<std::string>{"a"}));
  EXPECT_CALL(*eks_, describeNodegroup("prod", "a")).WillRepeatedly(Return(nodegroup("a")));
  EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(_))
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 3, kOld)}));
  EXPECT_CALL(*ec2_, createLaunchTemplateVersion(_)).WillOnce(Return(ltv("lt-a", 4, kTarget)));
  EXPECT_CALL(*eks_, updateNodegroupVersion(_))
      .WillOnce(Return(fail(Error(ErrorCode::Conflict, "update in progress")
                                .withHttpStatus(409)
                                .withProviderCode("ResourceInUseException"))));
  Reconciler r(deps());
  ASSERT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);  // intent
  kube::WorkOutcome out = run(r, "ops/roll");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
  RefresherStatus s = store_->status();
  EXPECT_EQ(s.nodegroups.at(0).phase, Phase::Updating);
  EXPECT_EQ(s.nodegroups.at(0).update_id, "");
  EXPECT_THAT(s.nodegroups.at(0).message, HasSubstr("ResourceInUseException"));
}

// A throttled launch-template call fails the reconcile for a backoff retry, and the update is not
// attempted without its version.
TEST_F(ReconcilerTest, RetryableFailureRetriesWithoutUpdating) {
  expectTargetLookup();
  EXPECT_CALL(*eks_, listNodegroups("prod")).WillRepeatedly(Return(std::vector<std::string>{"a"}));
  EXPECT_CALL(*eks_, describeNodegroup("prod", "a")).WillRepeatedly(Return(nodegroup("a")));
  EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(_))
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 3, kOld)}));
  EXPECT_CALL(*ec2_, createLaunchTemplateVersion(_))
      .WillOnce(Return(fail(ErrorCode::Throttled, "rate exceeded")));
  Reconciler r(deps());
  ASSERT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);  // intent
  kube::WorkOutcome out = run(r, "ops/roll");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::Error);
}

// A refusal no retry can fix (the launch template version is invalid) fails the group, which
// halts the rollout.
TEST_F(ReconcilerTest, PermanentFailureFailsTheGroup) {
  expectTargetLookup();
  EXPECT_CALL(*eks_, listNodegroups("prod")).WillRepeatedly(Return(std::vector<std::string>{"a"}));
  EXPECT_CALL(*eks_, describeNodegroup("prod", "a")).WillRepeatedly(Return(nodegroup("a")));
  EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(_))
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 3, kOld)}));
  EXPECT_CALL(*ec2_, createLaunchTemplateVersion(_))
      .WillOnce(Return(fail(Error(ErrorCode::InvalidArgument, "bad image")
                                .withProviderCode("InvalidAMIID.Malformed"))));
  EXPECT_CALL(events_,
              record(_, kube::EventType::Warning, "UpdateFailed", _, HasSubstr("InvalidAMIID")));
  Reconciler r(deps());
  ASSERT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);  // intent
  kube::WorkOutcome out = run(r, "ops/roll");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
  EXPECT_EQ(store_->status().nodegroups.at(0).phase, Phase::Failed);
  EXPECT_EQ(store_->status().state, kStateStalled);
}

// Self-managed groups: only the cluster's owned groups not behind an EKS node group are rolled,
// by an instance refresh with SkipMatching onto the new version.
// An instance waiting in Terminating:Wait during a refresh this refresher has no record of is
// drained only when the group carries our lifecycle hook: never an instance another tool's hook
// holds.
TEST_F(ReconcilerTest, WaitingInstanceIsDrainedOnlyWhereOurHookHoldsIt) {
  for (bool our_hook : {false, true}) {
    SCOPED_TRACE(our_hook ? "our hook on the group" : "no hook of ours");
    store_ = std::make_unique<FakeRefresherStore>(
        R"({"region":"us-west-2","clusterName":"prod","ami":"ami-0aaaaaaaaaaaaaaa1",
            "selfManaged":{"enabled":true}})");
    EXPECT_CALL(*ec2_, describeImages(_))
        .WillRepeatedly(Return(std::vector<aws::Image>{targetImage()}));
    EXPECT_CALL(*eks_, listNodegroups("prod")).WillRepeatedly(Return(std::vector<std::string>{}));
    aws::AutoScalingGroup group;
    group.name = "workers-asg";
    group.launch_template = aws::LaunchTemplateSpec{.id = "lt-w", .version = "7"};
    group.tags = {{"kubernetes.io/cluster/prod", "owned"}};
    group.instances = {{.id = "i-0aaaaaaaaaaaaaaa1", .lifecycle_state = "Terminating:Wait"}};
    EXPECT_CALL(*asg_, describeAutoScalingGroups(_))
        .WillRepeatedly(Return(std::vector<aws::AutoScalingGroup>{group}));
    EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(_))
        .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-w", 7, kOld)}));
    // Someone else's refresh runs on the group.
    EXPECT_CALL(*asg_, describeInstanceRefreshes("workers-asg", _))
        .WillRepeatedly(Return(std::vector<aws::InstanceRefresh>{
            {.id = "theirs", .status = aws::InstanceRefreshStatus::InProgress}}));
    std::vector<aws::LifecycleHook> hooks;
    if (our_hook) {
      hooks.push_back({.name = "opsy-ami-refresh-drain",
                       .auto_scaling_group_name = "workers-asg",
                       .transition = "autoscaling:EC2_INSTANCE_TERMINATING",
                       .heartbeat_timeout_seconds = 300,
                       .default_result = "CONTINUE"});
    }
    EXPECT_CALL(*asg_, describeLifecycleHooks("workers-asg",
                                              std::vector<std::string>{"opsy-ami-refresh-drain"}))
        .WillRepeatedly(Return(hooks));
    // No Node has the instance: with our hook it is released at once; without, never touched.
    EXPECT_CALL(*asg_, completeLifecycleAction(_, _))
        .Times(our_hook ? 1 : 0)
        .WillRepeatedly(Invoke([](const aws::LifecycleActionTarget& t, std::string_view result) {
          EXPECT_EQ(t.instance_id, "i-0aaaaaaaaaaaaaaa1");
          EXPECT_EQ(t.hook_name, "opsy-ami-refresh-drain");
          EXPECT_EQ(result, "CONTINUE");
          return ok();
        }));
    EXPECT_CALL(*asg_, putLifecycleHook(_)).Times(0);
    Reconciler r(deps());
    EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);
    RefresherStatus s = store_->status();
    ASSERT_EQ(s.nodegroups.size(), 1u);
    EXPECT_EQ(s.nodegroups[0].phase, Phase::Pending);  // waits for their refresh
    EXPECT_EQ(s.nodegroups[0].drains.size(), our_hook ? 1u : 0u);
    ::testing::Mock::VerifyAndClearExpectations(asg_.get());
    ::testing::Mock::VerifyAndClearExpectations(ec2_.get());
    ::testing::Mock::VerifyAndClearExpectations(eks_.get());
  }
}

TEST_F(ReconcilerTest, SelfManagedGroupsGetInstanceRefresh) {
  store_ = std::make_unique<FakeRefresherStore>(
      R"({"region":"us-west-2","clusterName":"prod","ami":"ami-0aaaaaaaaaaaaaaa1",
          "selfManaged":{"enabled":true,"minHealthyPercentage":80,"instanceWarmup":"2m"}})");
  EXPECT_CALL(*ec2_, describeImages(Field(&aws::DescribeImagesInput::image_ids,
                                          std::vector<std::string>{kTarget})))
      .Times(2)
      .WillRepeatedly(Return(std::vector<aws::Image>{targetImage()}));
  EXPECT_CALL(*eks_, listNodegroups("prod"))
      .Times(2)
      .WillRepeatedly(Return(std::vector<std::string>{}));
  aws::AutoScalingGroup own;
  own.name = "workers-asg";
  own.launch_template = aws::LaunchTemplateSpec{.id = "lt-w", .version = "$Latest"};
  own.tags = {{"kubernetes.io/cluster/prod", "owned"}};
  aws::AutoScalingGroup eks_owned = own;
  eks_owned.name = "eks-a-123";
  eks_owned.tags["eks:nodegroup-name"] = "a";
  EXPECT_CALL(*asg_, describeAutoScalingGroups(_))
      .Times(2)
      .WillRepeatedly(Invoke([&](const aws::DescribeAutoScalingGroupsInput& in) {
        EXPECT_EQ(in.filters.at(0).name, "tag:kubernetes.io/cluster/prod");
        EXPECT_EQ(in.filters.at(0).values, std::vector<std::string>{"owned"});
        return Result<std::vector<aws::AutoScalingGroup>>(
            std::vector<aws::AutoScalingGroup>{own, eks_owned});
      }));
  EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(
                         Field(&aws::DescribeLaunchTemplateVersionsInput::versions,
                               std::vector<std::string>{"$Latest"})))
      .Times(2)
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-w", 7, kOld)}));
  EXPECT_CALL(*asg_, describeInstanceRefreshes("workers-asg", _))
      .Times(2)
      .WillRepeatedly(Return(std::vector<aws::InstanceRefresh>{}));
  EXPECT_CALL(*ec2_, createLaunchTemplateVersion(
                         Field(&aws::CreateLaunchTemplateVersionInput::source_version, "7")))
      .WillOnce(Return(ltv("lt-w", 8, kTarget)));
  // The drain's lifecycle hook goes on first (none there yet), then the refresh starts.
  ::testing::Sequence hook_then_refresh;
  EXPECT_CALL(*asg_, describeLifecycleHooks("workers-asg",
                                            std::vector<std::string>{"opsy-ami-refresh-drain"}))
      .InSequence(hook_then_refresh)
      .WillOnce(Return(std::vector<aws::LifecycleHook>{}));
  EXPECT_CALL(*asg_, putLifecycleHook(_))
      .InSequence(hook_then_refresh)
      .WillOnce(Invoke([](const aws::LifecycleHook& hook) {
        EXPECT_EQ(hook.auto_scaling_group_name, "workers-asg");
        EXPECT_EQ(hook.name, "opsy-ami-refresh-drain");
        EXPECT_EQ(hook.transition, "autoscaling:EC2_INSTANCE_TERMINATING");
        EXPECT_EQ(hook.heartbeat_timeout_seconds, 300);
        EXPECT_EQ(hook.default_result, "CONTINUE");
        return ok();
      }));
  EXPECT_CALL(*asg_, startInstanceRefresh(_))
      .InSequence(hook_then_refresh)
      .WillOnce(Invoke([](const aws::StartInstanceRefreshInput& in) {
        EXPECT_EQ(in.auto_scaling_group_name, "workers-asg");
        EXPECT_EQ(in.desired_launch_template->id, "lt-w");
        EXPECT_EQ(in.desired_launch_template->version, "8");
        EXPECT_EQ(in.preferences.skip_matching, true);
        EXPECT_EQ(in.preferences.min_healthy_percentage, 80);
        EXPECT_EQ(in.preferences.instance_warmup_seconds, 120);
        return Result<std::string>("ir-1");
      }));
  Reconciler r(deps());
  EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);  // intent
  EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);
  RefresherStatus s = store_->status();
  ASSERT_EQ(s.nodegroups.size(), 1u);
  EXPECT_EQ(s.nodegroups[0].name, "workers-asg");
  EXPECT_EQ(s.nodegroups[0].kind, GroupKind::SelfManaged);
  EXPECT_EQ(s.nodegroups[0].update_id, "ir-1");
  EXPECT_EQ(s.nodegroups[0].previous_launch_template_version, "7");
}

// An invalid spec is written as Stalled with no AWS client ever made and no requeue.
TEST_F(ReconcilerTest, InvalidSpecNeedsNoAws) {
  store_ = std::make_unique<FakeRefresherStore>(
      R"({"region":"us-west-2","clusterName":"prod","ami":"ami-0aaaaaaaaaaaaaaa1","expiresIn":"0s"})");
  EXPECT_CALL(events_,
              record(_, kube::EventType::Warning, "InvalidSpec", _, HasSubstr("spec.expiresIn")));
  Reconciler r(deps());
  kube::WorkOutcome out = run(r, "ops/roll");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::Success);
  EXPECT_TRUE(regions_.empty());
  EXPECT_TRUE(kube::isConditionTrue(store_->status().conditions, kStalled));
}

// A deleted refresher is done: nothing to clean up in AWS.
TEST_F(ReconcilerTest, DeletedObjectIsDone) {
  EXPECT_CALL(reader_, get(_, "ops", "gone")).WillOnce(Return(fail(ErrorCode::NotFound, "gone")));
  Reconciler r(deps());
  EXPECT_EQ(run(r, "ops/gone").kind, kube::WorkOutcome::Kind::Success);
  EXPECT_TRUE(regions_.empty());
}

// Metrics hooks see rollout starts and the groups by phase.
TEST(Execute, MetricsHooksAreCalled) {
  class Counting : public RolloutMetrics {
   public:
    void rolloutStarted() override { ++started; }
    void rolloutFinished() override {}
    void rolloutFailed() override {}
    void groupRolled(Duration) override {}
    void groupsByPhase(const std::string& object, const std::map<Phase, int>& counts) override {
      last_object = object;
      last_counts = counts;
    }
    void forget(const std::string&) override {}
    int started = 0;
    std::string last_object;
    std::map<Phase, int> last_counts;
  };
  Counting metrics;
  AmiRefresher r;
  r.metadata.ns = "ops";
  r.metadata.name = "roll";
  NiceMock<kube::MockStatusWriter> status;
  NiceMock<kube::MockEventRecorder> events;
  EXPECT_CALL(status, patchStatus(_, _, _, _, _, _))
      .WillOnce(Return(kube::Object::parse("{}").value()));
  RefresherStatus s;
  s.nodegroups = {NodegroupStatus{.name = "a", .phase = Phase::Updating},
                  NodegroupStatus{.name = "b", .phase = Phase::Pending}};
  Decision d{.actions = {PatchStatus{{}, s}, RecordMetric{.kind = MetricKind::RolloutStarted}},
             .phases = {{Phase::Updating, 1}, {Phase::Pending, 1}, {Phase::Failed, 0}}};
  Executor executor({.status = status, .events = events, .metrics = &metrics});
  ASSERT_TRUE(executor.apply(r, d).has_value());
  EXPECT_EQ(metrics.started, 1);
  EXPECT_EQ(metrics.last_object, "ops/roll");
  EXPECT_EQ(metrics.last_counts[Phase::Updating], 1);
  EXPECT_EQ(metrics.last_counts[Phase::Pending], 1);
  EXPECT_EQ(metrics.last_counts[Phase::Failed], 0);
}

}  // namespace
}  // namespace opsy::ami_refresh

namespace opsy::ami_refresh {
namespace {

// Refreshers asking the same question within the period share one DescribeImages; another
// region, other filters or an expired entry ask EC2 again, and failures are not remembered.
TEST(RefresherImageCache, SharesAnswersWithinThePeriod) {
  FakeClock clock(kNow);
  ami::ImageLookupCache cache(clock);
  StrictMock<aws::MockEc2Api> ec2;
  aws::DescribeImagesInput a{.filters = {{"name", {"al2023-*"}}}};
  aws::DescribeImagesInput b{.filters = {{"name", {"bottlerocket-*"}}}};
  EXPECT_CALL(ec2, describeImages(Field(
                       &aws::DescribeImagesInput::filters,
                       ::testing::ElementsAre(Field(&aws::Filter::values, a.filters[0].values)))))
      .Times(3)
      .WillRepeatedly(Return(std::vector<aws::Image>{baseImage()}));
  EXPECT_CALL(ec2, describeImages(Field(
                       &aws::DescribeImagesInput::filters,
                       ::testing::ElementsAre(Field(&aws::Filter::values, b.filters[0].values)))))
      .WillOnce(Return(fail(ErrorCode::Throttled, "slow down")))
      .WillOnce(Return(std::vector<aws::Image>{}));

  EXPECT_EQ(cache.describeImages("us-west-2", ec2, a, std::chrono::minutes(1)).value().size(),
            1u);  // call 1
  EXPECT_EQ(cache.describeImages("us-west-2", ec2, a, std::chrono::minutes(1)).value().size(),
            1u);  // cached
  EXPECT_TRUE(
      cache.describeImages("eu-west-1", ec2, a, std::chrono::minutes(1)).has_value());  // call 2
  EXPECT_FALSE(
      cache.describeImages("us-west-2", ec2, b, std::chrono::minutes(1)).has_value());  // failure
  EXPECT_TRUE(cache.describeImages("us-west-2", ec2, b, std::chrono::minutes(1))
                  .has_value());  // asked again
  clock.advance(std::chrono::minutes(2));
  EXPECT_EQ(cache.describeImages("us-west-2", ec2, a, std::chrono::minutes(1)).value().size(),
            1u);  // call 3
}

}  // namespace
}  // namespace opsy::ami_refresh

namespace opsy::ami_refresh {
namespace {

// When the status write that records intent fails, no AWS write follows (the previous version
// must be on record before a group is touched).
TEST_F(ReconcilerTest, NoAwsWriteWithoutRecordedIntent) {
  expectTargetLookup();
  EXPECT_CALL(*eks_, listNodegroups("prod")).WillRepeatedly(Return(std::vector<std::string>{"a"}));
  EXPECT_CALL(*eks_, describeNodegroup("prod", "a")).WillRepeatedly(Return(nodegroup("a")));
  EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(_))
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 3, kOld)}));
  EXPECT_CALL(status_, patchStatus(_, _, _, _, _, _))
      .WillOnce(Return(fail(ErrorCode::Unavailable, "apiserver down")));
  Reconciler r(deps());
  EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::Error);
}

}  // namespace
}  // namespace opsy::ami_refresh

namespace opsy::ami_refresh {
namespace {

// A rollback is a node-group update onto the recorded previous version of the same template; the
// executor reports what EKS said (a conflict while it is busy, then the update id) and decides
// nothing itself.
TEST(Execute, RollbackUpdatesOntoThePreviousVersion) {
  AmiRefresher r;
  r.metadata.ns = "ops";
  r.metadata.name = "roll";
  NiceMock<kube::MockStatusWriter> status;
  NiceMock<kube::MockEventRecorder> events;
  auto eks = std::make_shared<StrictMock<aws::MockEksApi>>();
  AwsClients clients{nullptr, eks, nullptr};
  RollbackNodegroup rollback{UpdateNodegroup{.cluster_name = "prod",
                                             .group = "a",
                                             .launch_template_id = "lt-a",
                                             .version = "3",
                                             .client_request_token = "tok"}};
  EXPECT_CALL(*eks, updateNodegroupVersion(_))
      .WillOnce(Invoke([](const aws::UpdateNodegroupVersionInput& in) {
        EXPECT_EQ(in.launch_template->id, "lt-a");
        EXPECT_EQ(in.launch_template->version, "3");
        EXPECT_EQ(in.client_request_token, "tok");
        return Result<aws::Update>(
            fail(Error(ErrorCode::Conflict, "busy").withProviderCode("ResourceInUseException")));
      }))
      .WillOnce(Return(aws::Update{.id = "u-rb", .status = aws::UpdateStatus::InProgress}));
  Executor executor({.status = status, .events = events});
  Outcomes busy = executor.perform({rollback}, clients);
  ASSERT_EQ(busy.size(), 1u);
  ASSERT_TRUE(busy[0].error.has_value());
  EXPECT_EQ(busy[0].error->code, ErrorCode::Conflict);
  Outcomes started = executor.perform({rollback}, clients);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_FALSE(started[0].error.has_value());
  EXPECT_EQ(started[0].value, "u-rb");
  EXPECT_EQ(started[0].version, "3");
}

}  // namespace
}  // namespace opsy::ami_refresh

namespace opsy::ami_refresh {
namespace {

// Killed after EKS accepted the update but before the update id reached status: the next
// reconciles see EKS updating the group and wait, then see it on the target; no second update.
TEST_F(ReconcilerTest, LostUpdateIdNeverLeadsToASecondUpdate) {
  expectTargetLookup();
  EXPECT_CALL(*eks_, listNodegroups("prod")).WillRepeatedly(Return(std::vector<std::string>{"a"}));
  aws::Nodegroup busy = nodegroup("a", "4");
  busy.status = aws::NodegroupStatus::Updating;
  EXPECT_CALL(*eks_, describeNodegroup("prod", "a"))
      .WillOnce(Return(nodegroup("a", "3")))
      .WillOnce(Return(nodegroup("a", "3")))
      .WillOnce(Return(busy))
      .WillOnce(Return(nodegroup("a", "4")));
  EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(_))
      .WillOnce(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 3, kOld)}))
      .WillOnce(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 3, kOld)}))
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 4, kTarget)}));
  EXPECT_CALL(*ec2_, createLaunchTemplateVersion(_)).WillOnce(Return(ltv("lt-a", 4, kTarget)));
  EXPECT_CALL(*eks_, updateNodegroupVersion(_))
      .WillOnce(Return(aws::Update{.id = "u-1", .status = aws::UpdateStatus::InProgress}));
  int writes = 0;
  EXPECT_CALL(status_, patchStatus(_, _, _, _, _, _))
      .WillRepeatedly(
          Invoke([&](const kube::Resource&, std::string_view, std::string_view, kube::PatchType,
                     std::string_view body, const kube::PatchOptions&) -> Result<kube::Object> {
            if (++writes == 2) {
              return fail(ErrorCode::Unavailable, "controller died here");
            }
            store_->apply(body);
            return store_->object();
          }));

  Reconciler r(deps());
  EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);  // intent
  EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::Error);
  EXPECT_EQ(store_->status().nodegroups.at(0).update_id, "");

  clock_.advance(std::chrono::seconds(30));
  EXPECT_EQ(run(r, "ops/roll").requeue_after, kPollInterval);
  EXPECT_EQ(store_->status().nodegroups.at(0).phase, Phase::Updating);

  clock_.advance(std::chrono::seconds(30));
  run(r, "ops/roll");
  EXPECT_EQ(store_->status().nodegroups.at(0).phase, Phase::Succeeded);
  EXPECT_EQ(store_->status().state, kStateReady);
}

// Killed between the new launch template version and the update: the retry asks EC2 with the same
// client token (so no second version is made) and then updates the group once.
TEST_F(ReconcilerTest, InterruptedStartReusesTheLaunchTemplateVersion) {
  expectTargetLookup();
  EXPECT_CALL(*eks_, listNodegroups("prod")).WillRepeatedly(Return(std::vector<std::string>{"a"}));
  EXPECT_CALL(*eks_, describeNodegroup("prod", "a")).WillRepeatedly(Return(nodegroup("a", "3")));
  EXPECT_CALL(*ec2_, describeLaunchTemplateVersions(_))
      .WillRepeatedly(Return(std::vector<aws::LaunchTemplateVersion>{ltv("lt-a", 3, kOld)}));
  std::vector<std::string> tokens;
  EXPECT_CALL(*ec2_, createLaunchTemplateVersion(_))
      .Times(2)
      .WillRepeatedly(Invoke([&](const aws::CreateLaunchTemplateVersionInput& in) {
        tokens.push_back(in.client_token);
        return Result<aws::LaunchTemplateVersion>(ltv("lt-a", 4, kTarget));
      }));
  std::vector<std::string> update_tokens;
  EXPECT_CALL(*eks_, updateNodegroupVersion(_))
      .WillOnce(Invoke([&](const aws::UpdateNodegroupVersionInput& in) {
        update_tokens.push_back(in.client_request_token);
        return Result<aws::Update>(fail(ErrorCode::Unavailable, "connection reset"));
      }))
      .WillOnce(Invoke([&](const aws::UpdateNodegroupVersionInput& in) {
        update_tokens.push_back(in.client_request_token);
        return Result<aws::Update>(
            aws::Update{.id = "u-1", .status = aws::UpdateStatus::InProgress});
      }));

  Reconciler r(deps());
  EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);  // intent
  EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::Error);
  EXPECT_EQ(run(r, "ops/roll").kind, kube::WorkOutcome::Kind::RequeueAfter);
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0], tokens[1]);
  ASSERT_EQ(update_tokens.size(), 2u);
  EXPECT_EQ(update_tokens[0], update_tokens[1]);
  EXPECT_EQ(store_->status().nodegroups.at(0).update_id, "u-1");
  EXPECT_EQ(store_->status().nodegroups.at(0).previous_launch_template_version, "3");
}

}  // namespace
}  // namespace opsy::ami_refresh

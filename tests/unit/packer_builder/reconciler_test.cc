#include "packer-builder-controller/reconciler.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "mocks/aws_mocks.h"
#include "mocks/kube/controller_mocks.h"
#include "mocks/kube_client_mock.h"
#include "opsy/controller/reconciler.h"
#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"

namespace opsy::packer_builder {
namespace {

using ::testing::_;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::NiceMock;
using ::testing::Not;
using ::testing::Pair;
using ::testing::Return;
using ::testing::StrictMock;
using namespace std::chrono_literals;

const TimePoint kNow = *parseRfc3339("2026-11-21T06:00:00Z");

// What the work queue gets for a key.
kube::WorkOutcome run(Reconciler& r, const std::string& key) {
  return controller::workFn(r)(key);
}

class MockSecretKeyLister : public SecretKeyLister {
 public:
  MOCK_METHOD(Result<std::vector<std::string>>, keys, (std::string_view ns, std::string_view name),
              (override));
};

class MockNotifier : public notify::Notifier {
 public:
  MOCK_METHOD(void, notify, (notify::Notification n), (override));
};

class FakeNotifierFactory : public notify::NotifierFactory {
 public:
  notify::NotifierPtr notifierFor(std::string_view, const NotifierSpec&,
                                  std::string_view) override {
    return notifier;
  }
  std::shared_ptr<NiceMock<MockNotifier>> notifier = std::make_shared<NiceMock<MockNotifier>>();
};

constexpr const char* kSpec = R"({
  "amiFilters":[{"name":"name","values":["al2023-*"]}],
  "clusterName":"opsy","region":"us-west-2",
  "timeOuts":{"expiresIn":"48h","controllerTimer":"5m"},
  "notifier":{"slack":{"channelIDs":["C1"],"secret":"slack"}},
  "builder":{"repoURL":"https://example.com/r.git","image":"hashicorp/packer:1.11",
             "secret":"aws-creds"}})";

kube::Object builderObject(const std::string& status = "{}") {
  auto obj = kube::Object::parse(fmt::format(
      R"({{"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder",)"
      R"("metadata":{{"name":"pb","namespace":"ci","uid":"uid-1","generation":1,"resourceVersion":"7",)"
      R"("finalizers":["ami.refresh.ops/packer-builder"]}},"spec":{},"status":{}}})",
      kSpec, status));
  EXPECT_TRUE(obj.has_value());
  return *obj;
}

kube::Object jobObject(const std::string& name, bool succeeded) {
  auto obj = kube::Object::parse(fmt::format(
      R"({{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{}","namespace":"ci",)"
      R"("labels":{{"ami.refresh.ops/builder-uid":"uid-1"}}}},"status":{}}})",
      name,
      succeeded
          ? R"({"succeeded":1,"completionTime":"2026-11-21T05:58:00Z","conditions":[{"type":"Complete","status":"True"}]})"
          : R"({"failed":1,"conditions":[{"type":"Failed","status":"True"}]})"));
  EXPECT_TRUE(obj.has_value());
  return *obj;
}

kube::Object podObject(const std::string& name) {
  auto obj = kube::Object::parse(fmt::format(
      R"({{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{}","namespace":"ci"}}}})", name));
  EXPECT_TRUE(obj.has_value());
  return *obj;
}

bool isResource(const kube::Resource& r, std::string_view plural) {
  return r.plural == plural;
}

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest()
      : clock_(kNow),
        cache_(clock_),
        lineage_(clock_),
        ec2_(std::make_shared<StrictMock<aws::MockEc2Api>>()),
        ec2_eu_(std::make_shared<StrictMock<aws::MockEc2Api>>()),
        asg_(std::make_shared<StrictMock<aws::MockAutoScalingApi>>()),
        reconciler_({.reader = reader_,
                     .writer = writer_,
                     .status = status_,
                     .logs = logs_,
                     .secrets = secrets_,
                     // eu-west-1 holds copies (issue 17); every other region is ec2_.
                     .ec2 = [this](std::string_view region) -> Result<aws::Ec2ApiPtr> {
                       if (region == "eu-west-1") {
                         return ec2_eu_;
                       }
                       return ec2_;
                     },
                     .autoscaling = [this](std::string_view) -> Result<aws::AutoScalingApiPtr> {
                       return asg_;
                     },
                     .images = cache_,
                     .lineage = lineage_,
                     .events = events_,
                     .notifiers = &notifiers_,
                     .clock = clock_}) {}

  void givenBuilder(const kube::Object& obj) {
    EXPECT_CALL(reader_, get(::testing::Truly([](const kube::Resource& r) {
                               return isResource(r, "packerbuilders");
                             }),
                             "ci", "pb"))
        .WillRepeatedly(Return(obj));
  }
  void givenJobs(std::vector<kube::Object> jobs) {
    EXPECT_CALL(
        reader_,
        list(::testing::Truly([](const kube::Resource& r) { return isResource(r, "jobs"); }), "ci",
             Field(&kube::ListOptions::label_selector, "ami.refresh.ops/builder-uid=uid-1")))
        .WillRepeatedly(Return(kube::ObjectList{.items = std::move(jobs)}));
  }
  void givenImages(std::vector<aws::Image> bases, std::vector<aws::Image> managed) {
    EXPECT_CALL(
        *ec2_, describeImages(Field(&aws::DescribeImagesInput::owners, std::vector<std::string>{})))
        .WillRepeatedly(Return(bases));
    EXPECT_CALL(*ec2_, describeImages(Field(&aws::DescribeImagesInput::owners,
                                            std::vector<std::string>{"self"})))
        .WillRepeatedly(Return(managed));
  }

  // A builder with no status, no Job and one available base image: the next look builds.
  void givenNewBuilderWithABaseImage() {
    givenBuilder(builderObject());
    givenJobs({});
    givenImages(
        {aws::Image{
            .id = "ami-base", .state = aws::ImageState::Available, .creation_date = kNow - 24h}},
        {});
  }

  FakeClock clock_;
  ami::ImageLookupCache cache_;
  ami::LineageImageCache lineage_;
  StrictMock<kube::MockObjectReader> reader_;
  StrictMock<kube::MockObjectWriter> writer_;
  StrictMock<kube::MockStatusWriter> status_;
  StrictMock<kube::MockPodLogReader> logs_;
  StrictMock<MockSecretKeyLister> secrets_;
  NiceMock<kube::MockEventRecorder> events_;
  FakeNotifierFactory notifiers_;
  std::shared_ptr<StrictMock<aws::MockEc2Api>> ec2_;
  std::shared_ptr<StrictMock<aws::MockEc2Api>> ec2_eu_;
  std::shared_ptr<StrictMock<aws::MockAutoScalingApi>> asg_;
  Reconciler reconciler_;
};

// A new builder with no image: status is written first, then the Job is created with the keys of
// the credentials Secret as env; the key is looked at again after controllerTimer.
TEST_F(ReconcilerTest, NewBuilderStartsOneBuildJob) {
  givenNewBuilderWithABaseImage();
  {
    // The Secret is checked, the Job created, and only then does the status name it.
    InSequence seq;
    EXPECT_CALL(secrets_, keys("ci", "aws-creds"))
        .WillOnce(Return(std::vector<std::string>{"AWS_ACCESS_KEY_ID"}));
    EXPECT_CALL(
        writer_,
        create(::testing::Truly([](const kube::Resource& r) { return isResource(r, "jobs"); }),
               ::testing::Truly([](const kube::Object& job) {
                 return job.toJson().find("AWS_ACCESS_KEY_ID") != std::string::npos &&
                        job.metadata.name.rfind("pb-", 0) == 0;
               }),
               _))
        .WillOnce(Return(kube::Object()));
    EXPECT_CALL(status_, patchStatus(_, "ci", "pb", kube::PatchType::Merge,
                                     AllOf(HasSubstr(R"("jobStatus":"running")"),
                                           HasSubstr(R"("lastRunBaseImageID":"ami-base")")),
                                     _))
        .WillOnce(Return(kube::Object()));
  }
  EXPECT_CALL(events_, record(_, kube::EventType::Normal, "BuildStarted", "Build", _));
  EXPECT_CALL(*notifiers_.notifier, notify(Field(&notify::Notification::title, "Build started")));
  kube::WorkOutcome out = run(reconciler_, "ci/pb");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
  EXPECT_EQ(out.requeue_after, 5min);
}

// A retention pass asks EC2 whether the old images are in use (one DescribeInstances for all of
// them, one scan of the region's Auto Scaling groups and the launch template versions they use,
// $Latest resolved), keeps the one a group's version names, and deletes the other: snapshots
// marked, image deregistered, snapshots deleted, then the status written.
TEST_F(ReconcilerTest, RetentionChecksUseBeforeDeleting) {
  std::string spec(kSpec);
  spec.insert(spec.rfind('}'), R"(,"retention":{"keepLast":1})");
  PackerBuilderStatus steady;
  steady.build_id = "uid-1";
  steady.observed_generation = 1;
  steady.job_name = "pb-j1";
  steady.job_status = "completed";
  steady.last_run_status = "completed";
  steady.last_run_base_image_id = "ami-base";
  steady.last_run_built_image_id = "ami-active";
  auto obj = kube::Object::parse(fmt::format(
      R"({{"apiVersion":"ami.refresh.ops/v1alpha1","kind":"PackerBuilder",)"
      R"("metadata":{{"name":"pb","namespace":"ci","uid":"uid-1","generation":1,"resourceVersion":"7",)"
      R"("finalizers":["ami.refresh.ops/packer-builder"]}},"spec":{},"status":{}}})",
      spec, statusToJson(steady)));
  ASSERT_TRUE(obj.has_value());
  givenBuilder(*obj);
  givenJobs({});
  const aws::Tags lineage = ami::lineageTags(lineageOf(*obj, *parseSpec(*obj)));
  auto managed = [&](const std::string& id, const std::string& status, Duration age) {
    aws::Image i{.id = id, .state = aws::ImageState::Available, .creation_date = kNow - age};
    i.tags = lineage;
    i.tags["status"] = status;
    i.tags["base-ami"] = "ami-base";
    i.tags["create-timestamp"] = formatRfc3339(kNow - age);
    i.snapshot_ids = {"snap-" + id.substr(4)};
    return i;
  };
  givenImages(
      {aws::Image{
          .id = "ami-base", .state = aws::ImageState::Available, .creation_date = kNow - 72h}},
      {managed("ami-active", "active", 1h), managed("ami-old1", "deprecated", 30h),
       managed("ami-old2", "deprecated", 40h)});
  EXPECT_CALL(*ec2_, describeInstances(::testing::Truly([](const aws::DescribeInstancesInput& in) {
    return !in.filters.empty() && in.filters[0].name == "image-id" &&
           in.filters[0].values == std::vector<std::string>{"ami-old1", "ami-old2"};
  }))).WillOnce(Return(std::vector<aws::Instance>{}));
  aws::AutoScalingGroup group{.name = "ng-a",
                              .launch_template = aws::LaunchTemplateSpec{"lt-1", "", "$Latest"}};
  EXPECT_CALL(*asg_, describeAutoScalingGroups(_))
      .WillOnce(Return(std::vector<aws::AutoScalingGroup>{group}));
  EXPECT_CALL(
      *ec2_, describeLaunchTemplateVersions(
                 AllOf(Field(&aws::DescribeLaunchTemplateVersionsInput::launch_template_id, "lt-1"),
                       Field(&aws::DescribeLaunchTemplateVersionsInput::versions,
                             std::vector<std::string>{"$Latest"}))))
      .WillOnce(Return(std::vector<aws::LaunchTemplateVersion>{
          {.launch_template_id = "lt-1", .version_number = 4, .image_id = "ami-old2"}}));
  EXPECT_CALL(*ec2_, describeSnapshots(Field(&aws::DescribeSnapshotsInput::owner_ids,
                                             std::vector<std::string>{"self"})))
      .WillOnce(Return(std::vector<aws::Snapshot>{}));
  {
    InSequence seq;
    EXPECT_CALL(*ec2_, createTags(std::vector<std::string>{"snap-old1"},
                                  Contains(Pair("delete-after-deregister", "ami-old1"))))
        .WillOnce(Return(ok()));
    EXPECT_CALL(*ec2_, deregisterImage("ami-old1")).WillOnce(Return(ok()));
    EXPECT_CALL(*ec2_, deleteSnapshot("snap-old1")).WillOnce(Return(ok()));
    EXPECT_CALL(status_,
                patchStatus(_, "ci", "pb", kube::PatchType::Merge,
                            AllOf(HasSubstr(R"("imageId":"ami-old2")"),
                                  HasSubstr("launch template lt-1 version 4 of Auto Scaling "
                                            "group ng-a uses it"),
                                  HasSubstr(R"("deleted":[{"imageId":"ami-old1")")),
                            _))
        .WillOnce(Return(kube::Object()));
  }
  EXPECT_CALL(*ec2_, deregisterImage("ami-old2")).Times(0);
  kube::WorkOutcome out = run(reconciler_, "ci/pb");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
}

// A Job that already exists under the decided name (a retried create) is not an error.
TEST_F(ReconcilerTest, CreateJobAlreadyExistsIsSuccess) {
  givenNewBuilderWithABaseImage();
  EXPECT_CALL(status_, patchStatus(_, _, _, _, _, _)).WillOnce(Return(kube::Object()));
  EXPECT_CALL(secrets_, keys(_, _)).WillOnce(Return(std::vector<std::string>{}));
  EXPECT_CALL(writer_, create(_, _, _))
      .WillOnce(Return(fail(ErrorCode::AlreadyExists, "jobs \"pb-x\" already exists")));
  EXPECT_EQ(run(reconciler_, "ci/pb").kind, kube::WorkOutcome::Kind::RequeueAfter);
}

// A Secret the Job needs that does not exist stops the build before anything is created:
// Ready=False SecretMissing naming it, one Warning Event, no Job, no "running" status.
TEST_F(ReconcilerTest, MissingSecretIsNamedAndNoJobIsCreated) {
  givenNewBuilderWithABaseImage();
  EXPECT_CALL(secrets_, keys("ci", "aws-creds"))
      .WillOnce(Return(fail(ErrorCode::NotFound, "secrets \"aws-creds\" not found")));
  EXPECT_CALL(status_,
              patchStatus(_, "ci", "pb", kube::PatchType::Merge,
                          AllOf(HasSubstr(R"("reason":"SecretMissing")"),
                                HasSubstr("Secret ci/aws-creds named by spec.builder.secret"),
                                Not(HasSubstr(R"("jobStatus":"running")"))),
                          _))
      .WillOnce(Return(kube::Object()));
  EXPECT_CALL(events_, record(_, kube::EventType::Warning, "SecretMissing", "Build", _));
  kube::WorkOutcome out = run(reconciler_, "ci/pb");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
  EXPECT_EQ(out.requeue_after, 5min);
}

// A Job the API server refuses is reported with the server's message; the status never says a
// build is running.
TEST_F(ReconcilerTest, RefusedJobIsJobRejectedWithTheServersMessage) {
  givenNewBuilderWithABaseImage();
  EXPECT_CALL(secrets_, keys("ci", "aws-creds"))
      .WillRepeatedly(Return(std::vector<std::string>{"AWS_ACCESS_KEY_ID"}));
  EXPECT_CALL(writer_, create(_, _, _))
      .WillOnce(Return(fail(ErrorCode::PermissionDenied,
                            "admission webhook \"policy\" denied the request: no hostPath")));
  EXPECT_CALL(status_, patchStatus(_, "ci", "pb", kube::PatchType::Merge,
                                   AllOf(HasSubstr(R"("reason":"JobRejected")"),
                                         HasSubstr("admission webhook"),
                                         Not(HasSubstr(R"("jobStatus":"running")")),
                                         HasSubstr(R"("failedJobCount":1)")),
                                   _))
      .WillOnce(Return(kube::Object()));
  EXPECT_CALL(events_, record(_, kube::EventType::Warning, "JobRejected", "Build", _));
  EXPECT_EQ(run(reconciler_, "ci/pb").kind, kube::WorkOutcome::Kind::RequeueAfter);
}

// After a restart mid-build, the finished Job's log names the AMI: it is tagged (and its
// snapshots), the previous image deprecated, and status records success.
TEST_F(ReconcilerTest, FinishedJobIsReadFromPodLogAndImageTagged) {
  PackerBuilderStatus running;
  running.build_id = "uid-1";
  running.job_name = "pb-j1";
  running.job_id = "j1";
  running.job_status = "running";
  running.last_run = kNow - 30min;
  running.last_run_base_image_id = "ami-base";
  givenBuilder(builderObject(statusToJson(running)));
  givenJobs({jobObject("pb-j1", true)});
  aws::Image old{.id = "ami-old", .state = aws::ImageState::Available, .creation_date = kNow - 40h};
  old.tags = ami::lineageTags(lineageOf(builderObject(), *parseSpec(builderObject())));
  old.tags["status"] = "active";
  givenImages(
      {aws::Image{
          .id = "ami-base", .state = aws::ImageState::Available, .creation_date = kNow - 24h}},
      {old});
  EXPECT_CALL(reader_,
              list(::testing::Truly([](const kube::Resource& r) { return isResource(r, "pods"); }),
                   "ci", Field(&kube::ListOptions::label_selector, "job-name=pb-j1")))
      .WillOnce(Return(kube::ObjectList{.items = {podObject("pb-j1-abcde")}}));
  EXPECT_CALL(logs_,
              podLog("ci", "pb-j1-abcde", Field(&kube::PodLogOptions::container, "packer-build")))
      .WillOnce(Return(std::string("1,amazon-ebs.x,artifact,0,id,us-west-2:ami-0bee5\n")));
  EXPECT_CALL(*ec2_, describeImages(Field(&aws::DescribeImagesInput::image_ids,
                                          std::vector<std::string>{"ami-0bee5"})))
      .WillOnce(Return(std::vector<aws::Image>{aws::Image{
          .id = "ami-0bee5", .state = aws::ImageState::Available, .snapshot_ids = {"snap-1"}}}));
  {
    InSequence seq;
    EXPECT_CALL(
        *ec2_,
        createTags(std::vector<std::string>{"ami-0bee5"},
                   AllOf(Contains(Pair("status", "active")), Contains(Pair("base-ami", "ami-base")),
                         Contains(Pair("create-timestamp", "2026-11-21T05:58:00Z")))))
        .WillOnce(Return(ok()));
    EXPECT_CALL(*ec2_,
                createTags(std::vector<std::string>{"snap-1"}, Contains(Pair("created-by", "pb"))))
        .WillOnce(Return(ok()));
    EXPECT_CALL(
        *ec2_, createTags(std::vector<std::string>{"ami-old"}, aws::Tags{{"status", "deprecated"}}))
        .WillOnce(Return(ok()));
    EXPECT_CALL(status_, patchStatus(_, "ci", "pb", kube::PatchType::Merge,
                                     AllOf(HasSubstr(R"("jobStatus":"completed")"),
                                           HasSubstr(R"("lastRunBuiltImageID":"ami-0bee5")")),
                                     _))
        .WillOnce(Return(kube::Object()));
  }
  kube::WorkOutcome out = run(reconciler_, "ci/pb");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
}

// A build copied to eu-west-1 (issue 17): the copy is read, its region's managed images looked
// up, the copy and its snapshot tagged and the region's previous active image deprecated, all
// through eu-west-1's client; status.copies names the copy.
TEST_F(ReconcilerTest, FinishedBuildWithACopyIsTaggedInTheCopysRegion) {
  PackerBuilderStatus running;
  running.build_id = "uid-1";
  running.job_name = "pb-j1";
  running.job_id = "j1";
  running.job_status = "running";
  running.last_run = kNow - 30min;
  running.last_run_base_image_id = "ami-base";
  givenBuilder(builderObject(statusToJson(running)));
  givenJobs({jobObject("pb-j1", true)});
  givenImages(
      {aws::Image{
          .id = "ami-base", .state = aws::ImageState::Available, .creation_date = kNow - 24h}},
      {});
  aws::Image old_eu{
      .id = "ami-0e0", .state = aws::ImageState::Available, .creation_date = kNow - 40h};
  old_eu.tags = ami::lineageTags(lineageOf(builderObject(), *parseSpec(builderObject())));
  old_eu.tags["status"] = "active";
  EXPECT_CALL(*ec2_eu_, describeImages(Field(&aws::DescribeImagesInput::owners,
                                             std::vector<std::string>{"self"})))
      .WillRepeatedly(Return(std::vector<aws::Image>{old_eu}));
  EXPECT_CALL(reader_,
              list(::testing::Truly([](const kube::Resource& r) { return isResource(r, "pods"); }),
                   "ci", Field(&kube::ListOptions::label_selector, "job-name=pb-j1")))
      .WillOnce(Return(kube::ObjectList{.items = {podObject("pb-j1-abcde")}}));
  EXPECT_CALL(logs_,
              podLog("ci", "pb-j1-abcde", Field(&kube::PodLogOptions::container, "packer-build")))
      .WillOnce(Return(std::string(
          "1,amazon-ebs.x,artifact,0,id,eu-west-1:ami-0e1%!(PACKER_COMMA)us-west-2:ami-0bee5\n")));
  EXPECT_CALL(*ec2_, describeImages(Field(&aws::DescribeImagesInput::image_ids,
                                          std::vector<std::string>{"ami-0bee5"})))
      .WillOnce(Return(std::vector<aws::Image>{aws::Image{
          .id = "ami-0bee5", .state = aws::ImageState::Available, .snapshot_ids = {"snap-1"}}}));
  EXPECT_CALL(*ec2_eu_, describeImages(Field(&aws::DescribeImagesInput::image_ids,
                                             std::vector<std::string>{"ami-0e1"})))
      .WillOnce(Return(std::vector<aws::Image>{aws::Image{
          .id = "ami-0e1", .state = aws::ImageState::Available, .snapshot_ids = {"snap-e1"}}}));
  {
    InSequence seq;
    EXPECT_CALL(*ec2_, createTags(std::vector<std::string>{"ami-0bee5"}, _)).WillOnce(Return(ok()));
    EXPECT_CALL(*ec2_, createTags(std::vector<std::string>{"snap-1"}, _)).WillOnce(Return(ok()));
    EXPECT_CALL(
        *ec2_eu_,
        createTags(std::vector<std::string>{"ami-0e1"},
                   AllOf(Contains(Pair("status", "active")), Contains(Pair("base-ami", "ami-base")),
                         Contains(Pair("create-timestamp", "2026-11-21T05:58:00Z")))))
        .WillOnce(Return(ok()));
    EXPECT_CALL(*ec2_eu_,
                createTags(std::vector<std::string>{"snap-e1"}, Contains(Pair("created-by", "pb"))))
        .WillOnce(Return(ok()));
    EXPECT_CALL(*ec2_eu_, createTags(std::vector<std::string>{"ami-0e0"},
                                     aws::Tags{{"status", "deprecated"}}))
        .WillOnce(Return(ok()));
    EXPECT_CALL(
        status_,
        patchStatus(_, "ci", "pb", kube::PatchType::Merge,
                    AllOf(HasSubstr(R"("lastRunBuiltImageID":"ami-0bee5")"),
                          HasSubstr(R"("copies":[{"region":"eu-west-1","imageID":"ami-0e1"}])")),
                    _))
        .WillOnce(Return(kube::Object()));
  }
  kube::WorkOutcome out = run(reconciler_, "ci/pb");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::RequeueAfter);
}

// The first failing effect stops the rest: the status is not written when tagging fails, so the
// next reconcile decides the same thing again.
TEST_F(ReconcilerTest, FailedEffectStopsAndRetries) {
  PackerBuilderStatus running;
  running.build_id = "uid-1";
  running.job_name = "pb-j1";
  running.job_status = "running";
  givenBuilder(builderObject(statusToJson(running)));
  givenJobs({jobObject("pb-j1", true)});
  givenImages(
      {aws::Image{
          .id = "ami-base", .state = aws::ImageState::Available, .creation_date = kNow - 24h}},
      {});
  EXPECT_CALL(
      reader_,
      list(::testing::Truly([](const kube::Resource& r) { return isResource(r, "pods"); }), _, _))
      .WillOnce(Return(kube::ObjectList{.items = {podObject("pb-j1-abcde")}}));
  EXPECT_CALL(logs_, podLog(_, _, _))
      .WillOnce(
          Return(std::string("--> amazon-ebs.x: AMIs were created:\nus-west-2: ami-0bee5\n")));
  EXPECT_CALL(*ec2_, describeImages(Field(&aws::DescribeImagesInput::image_ids,
                                          std::vector<std::string>{"ami-0bee5"})))
      .WillOnce(Return(std::vector<aws::Image>{
          aws::Image{.id = "ami-0bee5", .state = aws::ImageState::Available}}));
  EXPECT_CALL(*ec2_, createTags(_, _))
      .WillOnce(Return(fail(Error{ErrorCode::Throttled, "slow down"})));
  kube::WorkOutcome out = run(reconciler_, "ci/pb");
  EXPECT_EQ(out.kind, kube::WorkOutcome::Kind::Error);
}

// A deleted builder is nothing to do.
TEST_F(ReconcilerTest, MissingBuilderIsSuccess) {
  EXPECT_CALL(reader_, get(_, "ci", "gone")).WillOnce(Return(fail(ErrorCode::NotFound, "gone")));
  EXPECT_EQ(run(reconciler_, "ci/gone").kind, kube::WorkOutcome::Kind::Success);
}

// A failed build's temporary security group (by name) and key pair are deleted; NotFound counts
// as already deleted.
TEST(PackerBuilderExecutor, CleanupDeletesTemporariesToleratingNotFound) {
  StrictMock<kube::MockObjectWriter> writer;
  StrictMock<kube::MockStatusWriter> status;
  NiceMock<kube::MockEventRecorder> events;
  StrictMock<aws::MockEc2Api> ec2;
  Executor executor({.writer = writer, .status = status, .events = events});
  EXPECT_CALL(ec2, describeSecurityGroups(Field(
                       &aws::DescribeSecurityGroupsInput::filters,
                       ::testing::ElementsAre(AllOf(
                           Field(&aws::Filter::name, "group-name"),
                           Field(&aws::Filter::values, std::vector<std::string>{"packer_sg"}))))))
      .WillOnce(Return(std::vector<aws::SecurityGroup>{{.id = "sg-0123", .name = "packer_sg"}}));
  EXPECT_CALL(ec2, deleteSecurityGroup("sg-0123")).WillOnce(Return(ok()));
  EXPECT_CALL(ec2, deleteSecurityGroup("sg-gone"))
      .WillOnce(Return(fail(
          Error{ErrorCode::NotFound, "no such group"}.withProviderCode("InvalidGroup.NotFound"))));
  EXPECT_CALL(ec2, deleteKeyPair("packer_abc")).WillOnce(Return(ok()));
  Decision d{.actions = {CleanupTemporaries{.security_groups = {"packer_sg", "sg-gone"},
                                            .key_pairs = {"packer_abc"}}}};
  EXPECT_TRUE(executor.execute(builderObject(), d, &ec2).has_value());
}

// Finalizers are added with a merge patch guarded by the resourceVersion.
TEST(PackerBuilderExecutor, AddFinalizerPatchesWithResourceVersion) {
  StrictMock<kube::MockObjectWriter> writer;
  StrictMock<kube::MockStatusWriter> status;
  NiceMock<kube::MockEventRecorder> events;
  Executor executor({.writer = writer, .status = status, .events = events});
  kube::Object obj = builderObject();
  obj.metadata.finalizers.clear();
  EXPECT_CALL(writer, patch(_, "ci", "pb", kube::PatchType::Merge,
                            AllOf(HasSubstr(R"("finalizers":["ami.refresh.ops/packer-builder"])"),
                                  HasSubstr(R"("resourceVersion":"7")")),
                            _))
      .WillOnce(Return(kube::Object()));
  EXPECT_TRUE(executor.execute(obj, Decision{.actions = {AddFinalizer{}}}, nullptr).has_value());
}

// Deleting a builder deletes its running Job (a Job already gone is fine) and then releases the
// finalizer; no AWS call is made, so images are kept.
TEST_F(ReconcilerTest, DeletionStopsBuildAndReleasesFinalizer) {
  kube::Object obj = builderObject();
  obj.metadata.deletion_timestamp = kNow - 1min;
  givenBuilder(obj);
  auto active = kube::Object::parse(
      R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pb-j2","namespace":"ci"},)"
      R"("status":{"active":1}})");
  ASSERT_TRUE(active.has_value());
  givenJobs({*active});
  {
    InSequence seq;
    EXPECT_CALL(
        writer_,
        remove(::testing::Truly([](const kube::Resource& r) { return isResource(r, "jobs"); }),
               "ci", "pb-j2",
               Field(&kube::DeleteOptions::propagation, kube::Propagation::Background)))
        .WillOnce(Return(fail(ErrorCode::NotFound, "already gone")));
    EXPECT_CALL(writer_,
                patch(_, "ci", "pb", kube::PatchType::Merge, HasSubstr(R"("finalizers":[])"), _))
        .WillOnce(Return(kube::Object()));
  }
  EXPECT_EQ(run(reconciler_, "ci/pb").kind, kube::WorkOutcome::Kind::Success);
}

// Notifications go to the notifier the factory returns for the builder's destination.
TEST(PackerBuilderExecutor, NotifyUsesFactory) {
  StrictMock<kube::MockObjectWriter> writer;
  StrictMock<kube::MockStatusWriter> status;
  NiceMock<kube::MockEventRecorder> events;
  FakeNotifierFactory notifiers;
  Executor executor(
      {.writer = writer, .status = status, .events = events, .notifiers = &notifiers});
  EXPECT_CALL(*notifiers.notifier, notify(Field(&notify::Notification::title, "Build failed")));
  Decision d{.actions = {Notify{.destination = {.slack = notify::SlackDestination{{"C1"}, "slack"}},
                                .notification = {.title = "Build failed"}}}};
  EXPECT_TRUE(executor.execute(builderObject(), d, nullptr).has_value());
}

}  // namespace
}  // namespace opsy::packer_builder

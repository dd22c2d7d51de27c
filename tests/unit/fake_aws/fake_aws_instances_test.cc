// EC2 instances in the fake: node groups and Auto Scaling groups launch them, finished updates and
// refreshes replace them, DescribeInstances answers in EC2's shape and words, and the harness hook
// hears every change.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <regex>

#include "unit/fake_aws/fake_aws_test_util.h"

namespace opsy::testing {
namespace {

using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::SizeIs;

constexpr const char* kLt = "lt-0123456789abcdef0";
constexpr const char* kOldImage = "ami-0000000000000000a";
constexpr const char* kNewImage = "ami-0000000000000000b";

class InstancesTest : public FakeAwsTest {
 protected:
  void SetUp() override {
    FakeAwsTest::SetUp();
    aws_->addLaunchTemplate(
        {.id = kLt,
         .name = "nodes",
         .versions = {{.data = {.image_id = kOldImage, .instance_type = "m6i.large"}},
                      {.data = {.image_id = kNewImage, .instance_type = "m6i.large"}}}});
  }

  void addWorkers(int desired) {
    aws_->addNodegroup({.cluster = "prod",
                        .name = "workers",
                        .launch_template = FakeLaunchTemplateRef{kLt, "", "1"},
                        .scaling = {.min_size = 1, .max_size = 10, .desired_size = desired}});
  }

  // Ids of the instances in `state`, in launch order.
  std::vector<std::string> idsIn(const std::string& state) {
    std::vector<std::string> out;
    for (const auto& i : aws_->instances()) {
      if (i.state == state) {
        out.push_back(i.id);
      }
    }
    return out;
  }
  std::vector<std::string> imagesIn(const std::string& state) {
    std::vector<std::string> out;
    for (const auto& i : aws_->instances()) {
      if (i.state == state) {
        out.push_back(i.image_id);
      }
    }
    return out;
  }

  httplib::Result describe(const std::string& params = "") {
    return ec2("Action=DescribeInstances" + (params.empty() ? "" : "&" + params));
  }
  std::vector<std::string> describedIds(const std::string& params = "") {
    auto res = describe(params);
    EXPECT_EQ(res->status, 200) << res->body;
    return xmlTexts(res->body, "//reservationSet/item/instancesSet/item/instanceId");
  }
  void expectError(const httplib::Result& res, const std::string& code,
                   const std::string& message) {
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_EQ(xmlText(res->body, "Code"), code);
    EXPECT_EQ(xmlText(res->body, "Message"), message);
  }

  std::string startVersionUpdate(const std::string& version) {
    auto res = eksPost("/clusters/prod/node-groups/workers/update-version",
                       R"({"launchTemplate":{"id":")" + std::string(kLt) + R"(","version":")" +
                           version + R"("}})");
    EXPECT_EQ(res->status, 200) << res->body;
    rapidjson::Document doc;
    doc.Parse(res->body.c_str());
    return doc["update"]["id"].GetString();
  }
};

// A node group launches its desired size of running instances of its template version's image,
// with EC2-shaped ids and host names, EKS's tags, and the template tags EC2 adds.
TEST_F(InstancesTest, NodegroupLaunchesDesiredInstancesOfItsTemplateImage) {
  addWorkers(3);
  auto instances = aws_->instances();
  ASSERT_THAT(instances, SizeIs(3));
  std::set<std::string> ids;
  for (const auto& i : instances) {
    ids.insert(i.id);
    EXPECT_TRUE(std::regex_match(i.id, std::regex("^i-[0-9a-f]{17}$"))) << i.id;
    EXPECT_EQ(i.state, "running");
    EXPECT_EQ(i.image_id, kOldImage);
    EXPECT_EQ(i.instance_type, "m6i.large");
    EXPECT_EQ(i.nodegroup_cluster, "prod");
    EXPECT_EQ(i.nodegroup, "workers");
    EXPECT_TRUE(
        std::regex_match(i.private_dns_name, std::regex(R"(^ip-10-0-\d+-\d+\.ec2\.internal$)")))
        << i.private_dns_name;
    EXPECT_EQ(i.tags.at("eks:cluster-name"), "prod");
    EXPECT_EQ(i.tags.at("eks:nodegroup-name"), "workers");
    EXPECT_EQ(i.tags.at("kubernetes.io/cluster/prod"), "owned");
    EXPECT_EQ(i.tags.at("aws:ec2launchtemplate:id"), kLt);
    EXPECT_EQ(i.tags.at("aws:ec2launchtemplate:version"), "1");
    EXPECT_EQ(i.launch_time, clock_->now());
  }
  EXPECT_EQ(ids.size(), 3u);
  // Spread over the region's zones, as EKS spreads a group over its subnets.
  EXPECT_EQ(instances[0].availability_zone, "us-east-1a");
  EXPECT_EQ(instances[1].availability_zone, "us-east-1b");
  EXPECT_EQ(instances[2].availability_zone, "us-east-1c");
}

// A node group without a launch template runs the EKS optimized AMI EKS picks for it.
TEST_F(InstancesTest, NodegroupWithoutTemplateRunsEksOptimizedImage) {
  aws_->addNodegroup({.cluster = "prod", .name = "system", .ami_type = "AL2023_x86_64_STANDARD"});
  EXPECT_THAT(imagesIn("running"), ElementsAre(std::string(kFakeEksOptimizedImageId),
                                               std::string(kFakeEksOptimizedImageId)));
}

// A successful version update terminates the group's instances and launches as many on the image
// of the version the update moved to.
TEST_F(InstancesTest, SuccessfulUpdateReplacesInstancesWithTargetImage) {
  addWorkers(3);
  auto old_ids = idsIn("running");
  ASSERT_TRUE(aws_->completeEksUpdate(startVersionUpdate("2")));
  EXPECT_EQ(idsIn("terminated"), old_ids);
  EXPECT_THAT(imagesIn("running"), ElementsAre(kNewImage, kNewImage, kNewImage));
  for (const auto& i : aws_->instances()) {
    if (i.state == "running") {
      EXPECT_EQ(i.tags.at("aws:ec2launchtemplate:version"), "2");
      EXPECT_EQ(i.nodegroup, "workers");
    } else {
      EXPECT_EQ(i.terminated_at, clock_->now());
    }
  }
}

// A failed update leaves every instance as it was.
TEST_F(InstancesTest, FailedUpdateChangesNoInstance) {
  addWorkers(2);
  auto before = aws_->instances();
  ASSERT_TRUE(aws_->failEksUpdate(startVersionUpdate("2"), "NodeCreationFailure", "no capacity"));
  auto after = aws_->instances();
  ASSERT_EQ(after.size(), before.size());
  for (size_t k = 0; k < after.size(); ++k) {
    EXPECT_EQ(after[k].id, before[k].id);
    EXPECT_EQ(after[k].state, "running");
    EXPECT_EQ(after[k].image_id, kOldImage);
  }
}

// An update that completes on its own (the N-th DescribeUpdate) replaces instances too, and the
// hook hears of it.
TEST_F(InstancesTest, AutoCompletedUpdateReplacesInstancesAndNotifies) {
  addWorkers(2);
  std::atomic<int> notified{0};
  aws_->onInstancesChanged([&] { ++notified; });
  aws_->setEksAutoCompleteAfter(1);
  std::string id = startVersionUpdate("2");
  EXPECT_EQ(notified, 0);
  auto res = eksGet("/clusters/prod/updates/" + id + "?nodegroupName=workers");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(notified, 1);
  EXPECT_THAT(imagesIn("running"), ElementsAre(kNewImage, kNewImage));
}

// A self-managed group launches its desired capacity with its propagated tags and
// aws:autoscaling:groupName, and DescribeAutoScalingGroups lists them under Instances.
TEST_F(InstancesTest, AutoScalingGroupLaunchesAndListsItsInstances) {
  aws_->addAutoScalingGroup({.name = "self-managed",
                             .launch_template = FakeLaunchTemplateRef{kLt, "", "1"},
                             .availability_zones = {"us-west-2a"},
                             .tags = {{"team", "a", true}, {"hidden", "x", false}}});
  auto instances = aws_->instances();
  ASSERT_THAT(instances, SizeIs(2));
  for (const auto& i : instances) {
    EXPECT_EQ(i.asg, "self-managed");
    EXPECT_EQ(i.image_id, kOldImage);
    EXPECT_EQ(i.availability_zone, "us-west-2a");
    EXPECT_TRUE(std::regex_match(i.private_dns_name,
                                 std::regex(R"(^ip-[0-9-]+\.us-west-2\.compute\.internal$)")))
        << i.private_dns_name;
    EXPECT_THAT(i.tags, Contains(Pair("aws:autoscaling:groupName", "self-managed")));
    EXPECT_THAT(i.tags, Contains(Pair("team", "a")));
    EXPECT_FALSE(i.tags.count("hidden"));
  }
  auto res = asg("Action=DescribeAutoScalingGroups&AutoScalingGroupNames.member.1=self-managed");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(xmlTexts(res->body, "//Instances/member/InstanceId"),
              ElementsAre(instances[0].id, instances[1].id));
  EXPECT_THAT(xmlTexts(res->body, "//Instances/member/LifecycleState"),
              Each(std::string("InService")));
  EXPECT_THAT(xmlTexts(res->body, "//Instances/member/LaunchTemplate/Version"),
              Each(std::string("1")));
}

// A successful instance refresh replaces the group's instances with its desired template
// version's image; the group then lists only the new ones. A failed refresh changes nothing.
TEST_F(InstancesTest, InstanceRefreshReplacesInstancesOnlyWhenItSucceeds) {
  aws_->addAutoScalingGroup(
      {.name = "self-managed", .launch_template = FakeLaunchTemplateRef{kLt, "", "1"}});
  auto start = [&] {
    auto res =
        asg("Action=StartInstanceRefresh&AutoScalingGroupName=self-managed&DesiredConfiguration."
            "LaunchTemplate.LaunchTemplateId=" +
            std::string(kLt) + "&DesiredConfiguration.LaunchTemplate.Version=2");
    EXPECT_EQ(res->status, 200) << res->body;
    return xmlText(res->body, "InstanceRefreshId");
  };
  auto old_ids = idsIn("running");
  ASSERT_TRUE(aws_->failInstanceRefresh(start(), "capacity"));
  EXPECT_EQ(idsIn("running"), old_ids);
  ASSERT_TRUE(aws_->completeInstanceRefresh(start()));
  EXPECT_EQ(idsIn("terminated"), old_ids);
  auto new_ids = idsIn("running");
  EXPECT_THAT(imagesIn("running"), ElementsAre(kNewImage, kNewImage));
  auto res = asg("Action=DescribeAutoScalingGroups&AutoScalingGroupNames.member.1=self-managed");
  EXPECT_EQ(xmlTexts(res->body, "//Instances/member/InstanceId"), new_ids);
}

// UpdateAutoScalingGroup's DesiredCapacity scales a self-managed group's instances.
TEST_F(InstancesTest, DesiredCapacityScalesAutoScalingGroup) {
  aws_->addAutoScalingGroup({.name = "self-managed"});
  ASSERT_EQ(asg("Action=UpdateAutoScalingGroup&AutoScalingGroupName=self-managed&"
                "DesiredCapacity=3")
                ->status,
            200);
  EXPECT_THAT(idsIn("running"), SizeIs(3));
  ASSERT_EQ(asg("Action=UpdateAutoScalingGroup&AutoScalingGroupName=self-managed&"
                "DesiredCapacity=1")
                ->status,
            200);
  EXPECT_THAT(idsIn("running"), SizeIs(1));
  EXPECT_THAT(idsIn("terminated"), SizeIs(2));
}

// A node group's own ASG runs the node group's instances: adding it launches nothing more, and it
// lists the node group's instances.
TEST_F(InstancesTest, NodegroupAutoScalingGroupListsTheNodegroupInstances) {
  aws_->addNodegroup({.cluster = "prod",
                      .name = "workers",
                      .launch_template = FakeLaunchTemplateRef{kLt, "", "1"},
                      .asg_names = {"eks-workers-asg"}});
  aws_->addAutoScalingGroup(
      {.name = "eks-workers-asg", .launch_template = FakeLaunchTemplateRef{kLt, "", "1"}});
  auto ids = idsIn("running");
  ASSERT_THAT(ids, SizeIs(2));
  EXPECT_TRUE(idsIn("terminated").empty());
  for (const auto& i : aws_->instances()) {
    EXPECT_EQ(i.tags.at("aws:autoscaling:groupName"), "eks-workers-asg");
  }
  auto res = asg("Action=DescribeAutoScalingGroups&AutoScalingGroupNames.member.1=eks-workers-asg");
  EXPECT_EQ(xmlTexts(res->body, "//Instances/member/InstanceId"), ids);
}

// DescribeInstances answers EC2's document: reservations (one per launch) holding instancesSet
// items with state code and name, placement, private DNS name and IP, launch time and tags.
TEST_F(InstancesTest, DescribeInstancesAnswersEc2Shape) {
  addWorkers(2);
  aws_->addAutoScalingGroup({.name = "self-managed"});
  auto res = describe();
  ASSERT_EQ(res->status, 200) << res->body;
  auto doc = parseXml(res->body);
  auto root = doc.child("DescribeInstancesResponse");
  EXPECT_STREQ(root.attribute("xmlns").value(), "http://ec2.amazonaws.com/doc/2016-11-15/");
  EXPECT_FALSE(std::string(root.child_value("requestId")).empty());
  std::vector<size_t> per_reservation;
  for (auto r : root.child("reservationSet").children("item")) {
    EXPECT_TRUE(std::regex_match(r.child_value("reservationId"), std::regex("^r-[0-9a-f]{17}$")));
    EXPECT_STREQ(r.child_value("ownerId"), "123456789012");
    per_reservation.push_back(
        static_cast<size_t>(std::distance(r.child("instancesSet").children("item").begin(),
                                          r.child("instancesSet").children("item").end())));
  }
  EXPECT_THAT(per_reservation, ElementsAre(2u, 2u));
  auto item = root.child("reservationSet").child("item").child("instancesSet").child("item");
  const FakeInstance first = aws_->instances().front();
  EXPECT_EQ(item.child_value("instanceId"), first.id);
  EXPECT_STREQ(item.child_value("imageId"), kOldImage);
  EXPECT_STREQ(item.child("instanceState").child_value("code"), "16");
  EXPECT_STREQ(item.child("instanceState").child_value("name"), "running");
  EXPECT_EQ(item.child_value("privateDnsName"), first.private_dns_name);
  EXPECT_EQ(item.child_value("privateIpAddress"), first.private_ip);
  EXPECT_STREQ(item.child_value("instanceType"), "m6i.large");
  EXPECT_STREQ(item.child_value("launchTime"), "2026-03-01T12:00:00.000Z");
  EXPECT_STREQ(item.child("placement").child_value("availabilityZone"), "us-east-1a");
  std::map<std::string, std::string> tags;
  for (auto t : item.child("tagSet").children("item")) {
    tags[t.child_value("key")] = t.child_value("value");
  }
  EXPECT_EQ(tags, first.tags);
}

// Filters: instance-state-name, tag:<key>, tag-key, instance-id and image-id, values OR'd and
// filters AND'd; an unknown filter name is InvalidParameterValue.
TEST_F(InstancesTest, DescribeInstancesFilters) {
  addWorkers(2);
  aws_->addAutoScalingGroup({.name = "self-managed"});
  const auto all = aws_->instances();
  ASSERT_TRUE(aws_->setInstanceState(all[1].id, "stopped"));
  EXPECT_THAT(describedIds("Filter.1.Name=instance-state-name&Filter.1.Value.1=stopped"),
              ElementsAre(all[1].id));
  EXPECT_THAT(describedIds("Filter.1.Name=tag:eks:nodegroup-name&Filter.1.Value.1=workers&"
                           "Filter.2.Name=instance-state-name&Filter.2.Value.1=running&"
                           "Filter.2.Value.2=pending"),
              ElementsAre(all[0].id));
  EXPECT_THAT(describedIds("Filter.1.Name=tag-key&Filter.1.Value.1=aws:autoscaling:groupName"),
              ElementsAre(all[2].id, all[3].id));
  EXPECT_THAT(describedIds("Filter.1.Name=instance-id&Filter.1.Value.1=" + all[3].id +
                           "&Filter.1.Value.2=" + all[0].id),
              ElementsAre(all[0].id, all[3].id));
  EXPECT_THAT(describedIds("Filter.1.Name=image-id&Filter.1.Value.1=" +
                           std::string(kFakeEksOptimizedImageId)),
              ElementsAre(all[2].id, all[3].id));
  EXPECT_THAT(describedIds("Filter.1.Name=tag:eks:nodegroup-name&Filter.1.Value.1=work*"),
              ElementsAre(all[0].id, all[1].id));
  expectError(describe("Filter.1.Name=owner&Filter.1.Value.1=x"), "InvalidParameterValue",
              "The filter 'owner' is invalid");
}

// By id: every id must exist (one unknown id, or several, fail the whole call, naming them) and
// look like an instance id.
TEST_F(InstancesTest, DescribeInstancesByIdErrors) {
  addWorkers(2);
  const auto all = aws_->instances();
  EXPECT_THAT(describedIds("InstanceId.1=" + all[1].id), ElementsAre(all[1].id));
  expectError(describe("InstanceId.1=" + all[0].id + "&InstanceId.2=i-0000000000000dead"),
              "InvalidInstanceID.NotFound", "The instance ID 'i-0000000000000dead' does not exist");
  expectError(describe("InstanceId.1=i-0000000000000dead&InstanceId.2=i-0000000000000beef"),
              "InvalidInstanceID.NotFound",
              "The instance IDs 'i-0000000000000dead, i-0000000000000beef' do not exist");
  expectError(describe("InstanceId.1=i-123"), "InvalidInstanceID.Malformed",
              "Invalid id: \"i-123\"");
  expectError(describe("InstanceId.1=node-1"), "InvalidInstanceID.Malformed",
              "Invalid id: \"node-1\"");
}

// MaxResults is 5 to 1000 and may not be combined with InstanceId.N; more than 200 filter values
// in one call are refused.
TEST_F(InstancesTest, DescribeInstancesParameterLimits) {
  addWorkers(1);
  const std::string id = aws_->instances().front().id;
  expectError(describe("InstanceId.1=" + id + "&MaxResults=5"), "InvalidParameterCombination",
              "The parameter instancesSet cannot be used with the parameter maxResults");
  expectError(describe("MaxResults=4"), "InvalidParameterValue",
              "Value ( 4 ) for parameter maxResults is invalid. Expecting a value greater than 5.");
  expectError(describe("MaxResults=1001"), "InvalidParameterValue",
              "Value ( 1001 ) for parameter maxResults is invalid. Expecting a value less than "
              "1000.");
  EXPECT_THAT(describedIds("MaxResults=5"), ElementsAre(id));
  EXPECT_THAT(describedIds("MaxResults=1000"), ElementsAre(id));
  std::string many = "Filter.1.Name=instance-id";
  for (int v = 1; v <= 201; ++v) {
    many += "&Filter.1.Value." + std::to_string(v) + "=i-" + std::to_string(v);
  }
  expectError(describe(many), "FilterLimitExceeded",
              "The maximum number of filter values specified on a single call is 200");
}

// MaxResults pages through the instances with nextToken; a token only pages the query it came
// from.
TEST_F(InstancesTest, DescribeInstancesPaginates) {
  addWorkers(7);
  const auto all = aws_->instances();
  auto res = describe("MaxResults=5");
  ASSERT_EQ(res->status, 200);
  auto first = xmlTexts(res->body, "//instancesSet/item/instanceId");
  std::string token = xmlText(res->body, "nextToken");
  ASSERT_FALSE(token.empty());
  res = describe("MaxResults=5&NextToken=" + uriEncode(token, false));
  ASSERT_EQ(res->status, 200) << res->body;
  auto second = xmlTexts(res->body, "//instancesSet/item/instanceId");
  EXPECT_TRUE(xmlText(res->body, "nextToken").empty());
  ASSERT_THAT(first, SizeIs(5));
  ASSERT_THAT(second, SizeIs(2));
  EXPECT_EQ(second[1], all[6].id);
  expectError(describe("MaxResults=5&Filter.1.Name=instance-state-name&Filter.1.Value.1=running&"
                       "NextToken=" +
                       uriEncode(token, false)),
              "InvalidParameterValue", "The NextToken is invalid");
}

// A terminated instance is listed as terminated (code 48, no private DNS name or IP, a state
// reason) for an hour, then no longer, and asking for it by id is then NotFound.
TEST_F(InstancesTest, TerminatedInstanceIsListedForAnHour) {
  addWorkers(1);
  const std::string id = aws_->instances().front().id;
  ASSERT_TRUE(aws_->setInstanceState(id, "terminated"));
  clock_->advance(std::chrono::minutes(59));
  auto res = describe("InstanceId.1=" + id);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(xmlText(res->body, "name"), "terminated");
  EXPECT_EQ(xmlText(res->body, "code"), "48");
  EXPECT_EQ(xmlText(res->body, "privateDnsName"), "");
  EXPECT_TRUE(xmlTexts(res->body, "//privateIpAddress").empty());
  EXPECT_EQ(xmlText(res->body, "reason"), "User initiated (2026-03-01 12:00:00 GMT)");
  EXPECT_EQ(xmlTexts(res->body, "//stateReason/code"),
            std::vector<std::string>{"Client.UserInitiatedShutdown"});
  clock_->advance(std::chrono::minutes(1));
  EXPECT_TRUE(describedIds().empty());
  expectError(describe("InstanceId.1=" + id), "InvalidInstanceID.NotFound",
              "The instance ID '" + id + "' does not exist");
  EXPECT_EQ(aws_->instances().front().state, "terminated");  // the fake still knows it
}

// setInstanceState takes EC2's six states, and never brings a terminated instance back.
TEST_F(InstancesTest, SetInstanceStateFollowsEc2Lifecycle) {
  addWorkers(1);
  const std::string id = aws_->instances().front().id;
  EXPECT_FALSE(aws_->setInstanceState("i-0000000000000dead", "running"));
  EXPECT_FALSE(aws_->setInstanceState(id, "Running"));
  EXPECT_TRUE(aws_->setInstanceState(id, "stopping"));
  EXPECT_TRUE(aws_->setInstanceState(id, "stopped"));
  EXPECT_TRUE(aws_->setInstanceState(id, "pending"));
  EXPECT_TRUE(aws_->setInstanceState(id, "terminated"));
  EXPECT_FALSE(aws_->setInstanceState(id, "running"));
  EXPECT_EQ(aws_->instances().front().state, "terminated");
}

// A test's own instance keeps what it was given and gets EC2's defaults for the rest.
TEST_F(InstancesTest, AddInstanceFillsEc2Defaults) {
  std::string id = aws_->addInstance({.image_id = kOldImage, .tags = {{"Name", "bastion"}}});
  EXPECT_TRUE(std::regex_match(id, std::regex("^i-[0-9a-f]{17}$")));
  aws_->addInstance({.id = "i-0123456789abcdef0",
                     .image_id = kNewImage,
                     .availability_zone = "eu-west-1b",
                     .private_ip = "10.0.9.9"});
  auto instances = aws_->instances();
  ASSERT_THAT(instances, SizeIs(2));
  EXPECT_EQ(instances[0].instance_type, "t3.medium");
  EXPECT_EQ(instances[0].availability_zone, "us-east-1a");
  EXPECT_EQ(instances[1].private_dns_name, "ip-10-0-9-9.eu-west-1.compute.internal");
  EXPECT_THAT(describedIds("Filter.1.Name=tag:Name&Filter.1.Value.1=bastion"), ElementsAre(id));
}

// DescribeInstances is an operation like the others: deniable by its IAM action, logged in the
// call log, and subject to fault rules.
TEST_F(InstancesTest, DescribeInstancesIsDeniableLoggedAndFaultable) {
  addWorkers(1);
  aws_->clearCalls();
  ASSERT_TRUE(aws_->denyOperation("ec2:DescribeInstances", 1));
  auto res = describe();
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(xmlText(res->body, "Code"), "UnauthorizedOperation");
  EXPECT_EQ(xmlText(res->body, "Message"),
            "You are not authorized to perform this operation. User: "
            "arn:aws:iam::123456789012:user/fake-user is not authorized to perform: "
            "ec2:DescribeInstances because no identity-based policy allows the "
            "ec2:DescribeInstances action");
  aws_->addFault({.service = "ec2", .operation = "DescribeInstances", .count = 1});
  EXPECT_EQ(describe()->status, 503);
  EXPECT_EQ(describe()->status, 200);
  auto calls = aws_->takeCalls();
  ASSERT_THAT(calls, SizeIs(3));
  EXPECT_EQ(calls[0].operation, "DescribeInstances");
  EXPECT_EQ(calls[0].error_code, "UnauthorizedOperation");
  EXPECT_EQ(calls[1].error_code, "RequestLimitExceeded");
  EXPECT_EQ(calls[2].status, 200);
}

// The hook runs after every change, outside the fake's lock (it may read the fake), and a change
// the hook makes itself is reported by one more call, not by recursion.
TEST_F(InstancesTest, InstancesChangedHookSeesEveryChange) {
  std::vector<size_t> seen;
  bool stop_first = true;
  aws_->onInstancesChanged([&] {
    auto instances = aws_->instances();
    seen.push_back(instances.size());
    if (stop_first && !instances.empty()) {
      stop_first = false;
      EXPECT_TRUE(aws_->setInstanceState(instances.front().id, "stopped"));
    }
  });
  addWorkers(2);
  EXPECT_THAT(seen, ElementsAre(2u, 2u));
  EXPECT_EQ(aws_->instances().front().state, "stopped");
  aws_->addInstance({.image_id = kOldImage});
  EXPECT_THAT(seen, ElementsAre(2u, 2u, 3u));
  ASSERT_TRUE(aws_->setInstanceState(aws_->instances().back().id, "stopped"));
  EXPECT_THAT(seen, SizeIs(4));
  // No change, no call: a read and a no-op state change.
  EXPECT_EQ(describe()->status, 200);
  ASSERT_TRUE(aws_->setInstanceState(aws_->instances().back().id, "stopped"));
  EXPECT_THAT(seen, SizeIs(4));
  aws_->onInstancesChanged({});
  aws_->addInstance({.image_id = kOldImage});
  EXPECT_THAT(seen, SizeIs(4));
}

// Instances appear in the state dump, and a seed may add instances of no group.
TEST_F(InstancesTest, SeedAndStateDumpCarryInstances) {
  ASSERT_TRUE(aws_->loadSeed(R"(
instances:
  - {id: i-0123456789abcdef0, imageId: ami-0000000000000000a, state: stopped,
     availabilityZone: us-west-2b, tags: {Name: bastion}}
nodegroups:
  - {cluster: prod, name: ng-a, availabilityZones: [us-west-2c], scaling: {min: 1, max: 2, desired: 1}}
)"));
  auto instances = aws_->instances();
  ASSERT_THAT(instances, SizeIs(2));
  EXPECT_EQ(instances[0].availability_zone, "us-west-2c");  // node groups load first
  EXPECT_EQ(instances[1].id, "i-0123456789abcdef0");
  EXPECT_EQ(instances[1].state, "stopped");
  EXPECT_THAT(aws_->stateJson(), ::testing::HasSubstr(R"("id":"i-0123456789abcdef0")"));
}

}  // namespace
}  // namespace opsy::testing

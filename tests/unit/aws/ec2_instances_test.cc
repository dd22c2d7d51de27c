// EC2 DescribeInstances against canned EC2 answers: the requests the client sends (ids chunked
// without MaxResults, filters paged with it), how it flattens reservations, and its errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "aws_test_util.h"
#include "opsy/aws/ec2.h"

namespace opsy::aws {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::string instanceId(int n) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "i-%017x", n);
  return buf;
}

std::string instanceItem(const std::string& id, const std::string& image, int code,
                         const std::string& state, const std::string& dns) {
  return "<item><instanceId>" + id + "</instanceId><imageId>" + image +
         "</imageId><instanceState><code>" + std::to_string(code) + "</code><name>" + state +
         "</name></instanceState><privateDnsName>" + dns +
         "</privateDnsName><dnsName/><reason/><amiLaunchIndex>0</amiLaunchIndex><productCodes/>"
         "<instanceType>m6i.large</instanceType><launchTime>2026-11-20T08:00:00.000Z</launchTime>"
         "<placement><availabilityZone>eu-west-1b</availabilityZone><groupName/>"
         "<tenancy>default</tenancy></placement><monitoring><state>disabled</state></monitoring>"
         "<tagSet><item><key>eks:nodegroup-name</key><value>workers</value></item>"
         "<item><key>eks:cluster-name</key><value>prod</value></item></tagSet></item>";
}

std::string reservation(const std::string& id, const std::string& items) {
  return "<item><reservationId>" + id +
         "</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>" + items +
         "</instancesSet></item>";
}

std::string instancesPage(const std::string& reservations, const std::string& next_token = "") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse "
         "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>8f7724cf-496f-496e-8fe3-"
         "example</requestId><reservationSet>" +
         reservations + "</reservationSet>" +
         (next_token.empty() ? "" : "<nextToken>" + next_token + "</nextToken>") +
         "</DescribeInstancesResponse>";
}

std::string ec2Error(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\"?><Response><Errors><Error><Code>" + code + "</Code><Message>" +
         message + "</Message></Error></Errors><RequestID>req-1</RequestID></Response>";
}

class Ec2InstancesTest : public testing::Test {
 protected:
  Ec2ApiPtr client() {
    auto c = makeEc2Client(h_.options());
    EXPECT_TRUE(c.has_value());
    return *c;
  }
  ClientHarness h_;
};

// Instances come grouped by reservation; the client returns every reservation's instances as one
// list, in document order, with state, placement, DNS name, launch time and tags read.
TEST_F(Ec2InstancesTest, DescribeInstancesFlattensReservations) {
  h_.transport->reply(
      200,
      instancesPage(
          reservation("r-0aaaaaaaaaaaaaaa1",
                      instanceItem(instanceId(1), "ami-0000000000000000a", 16, "running",
                                   "ip-10-0-1-4.eu-west-1.compute.internal") +
                          instanceItem(instanceId(2), "ami-0000000000000000a", 0, "pending",
                                       "ip-10-0-1-5.eu-west-1.compute.internal")) +
          reservation("r-0aaaaaaaaaaaaaaa2",
                      instanceItem(instanceId(3), "ami-0000000000000000b", 48, "terminated", ""))));
  auto instances = client()->describeInstances({});
  ASSERT_TRUE(instances.has_value()) << instances.error().toString();
  ASSERT_EQ(instances->size(), 3u);
  const Instance& first = (*instances)[0];
  EXPECT_EQ(first.id, instanceId(1));
  EXPECT_EQ(first.image_id, "ami-0000000000000000a");
  EXPECT_EQ(first.state, InstanceState::Running);
  EXPECT_EQ(first.state.text, "running");
  EXPECT_EQ(first.instance_type, "m6i.large");
  EXPECT_EQ(first.availability_zone, "eu-west-1b");
  EXPECT_EQ(first.private_dns_name, "ip-10-0-1-4.eu-west-1.compute.internal");
  EXPECT_EQ(first.launch_time, at("2026-11-20T08:00:00Z"));
  EXPECT_THAT(first.tags,
              ElementsAre(Pair("eks:cluster-name", "prod"), Pair("eks:nodegroup-name", "workers")));
  EXPECT_EQ((*instances)[1].state, InstanceState::Pending);
  EXPECT_EQ((*instances)[2].id, instanceId(3));
  EXPECT_EQ((*instances)[2].state, InstanceState::Terminated);
  EXPECT_EQ((*instances)[2].image_id, "ami-0000000000000000b");
  EXPECT_TRUE((*instances)[2].private_dns_name.empty());
}

// Without ids the client sends the filters with MaxResults=1000 and follows nextToken, sending
// the same filters with each token, until a page comes without one.
TEST_F(Ec2InstancesTest, DescribeInstancesByFilterPagesWithMaxResults) {
  h_.transport->reply(
      200,
      instancesPage(reservation("r-1", instanceItem(instanceId(1), "ami-1", 16, "running", "a")),
                    "page-2"));
  h_.transport->reply(
      200,
      instancesPage(reservation("r-2", instanceItem(instanceId(2), "ami-1", 16, "running", "b")),
                    "page-3"));
  h_.transport->reply(200, instancesPage(""));
  DescribeInstancesInput in;
  in.filters = {{"tag:eks:nodegroup-name", {"workers"}},
                {"instance-state-name", {"pending", "running"}}};
  auto instances = client()->describeInstances(in);
  ASSERT_TRUE(instances.has_value()) << instances.error().toString();
  ASSERT_EQ(instances->size(), 2u);
  auto requests = h_.transport->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_THAT(
      formPairs(requests[0].body),
      ElementsAre(Pair("Action", "DescribeInstances"), Pair("Version", "2016-11-15"),
                  Pair("Filter.1.Name", "tag:eks:nodegroup-name"),
                  Pair("Filter.1.Value.1", "workers"), Pair("Filter.2.Name", "instance-state-name"),
                  Pair("Filter.2.Value.1", "pending"), Pair("Filter.2.Value.2", "running"),
                  Pair("MaxResults", "1000")));
  EXPECT_EQ(formMap(requests[1].body)["NextToken"], "page-2");
  EXPECT_EQ(formMap(requests[2].body)["NextToken"], "page-3");
  EXPECT_EQ(formMap(requests[2].body)["Filter.1.Value.1"], "workers");
}

// EC2 refuses MaxResults beside InstanceId.N, so ids go 200 to a request with no MaxResults, each
// request carrying every filter; a repeated id is asked for once.
TEST_F(Ec2InstancesTest, DescribeInstancesByIdChunksIdsWithoutMaxResults) {
  DescribeInstancesInput in;
  for (int n = 1; n <= 450; ++n) {
    in.instance_ids.push_back(instanceId(n));
  }
  in.instance_ids.push_back(instanceId(7));
  in.filters = {{"instance-state-name", {"running"}}};
  for (int i = 0; i < 3; ++i) {
    h_.transport->reply(
        200, instancesPage(reservation(
                 "r-1", instanceItem(instanceId(200 * i + 1), "ami-1", 16, "running", "ip"))));
  }
  auto instances = client()->describeInstances(in);
  ASSERT_TRUE(instances.has_value()) << instances.error().toString();
  EXPECT_EQ(instances->size(), 3u);
  auto requests = h_.transport->requests();
  ASSERT_EQ(requests.size(), 3u);
  std::vector<size_t> ids_per_request;
  for (const auto& r : requests) {
    auto form = formMap(r.body);
    EXPECT_FALSE(form.contains("MaxResults"));
    EXPECT_EQ(form["Filter.1.Name"], "instance-state-name");
    EXPECT_EQ(form["Filter.1.Value.1"], "running");
    size_t ids = 0;
    while (form.contains("InstanceId." + std::to_string(ids + 1))) {
      ++ids;
    }
    ids_per_request.push_back(ids);
  }
  EXPECT_THAT(ids_per_request, ElementsAre(200u, 200u, 50u));
  EXPECT_EQ(formMap(requests[1].body)["InstanceId.1"], instanceId(201));
  EXPECT_EQ(formMap(requests[2].body)["InstanceId.50"], instanceId(450));
}

// An unknown id fails the whole call: NotFound with EC2's code and words, not retried, and no
// partial list from the chunks that succeeded before it.
TEST_F(Ec2InstancesTest, UnknownInstanceIdIsNotFound) {
  DescribeInstancesInput in;
  for (int n = 1; n <= 201; ++n) {
    in.instance_ids.push_back(instanceId(n));
  }
  h_.transport->reply(200, instancesPage(reservation(
                               "r-1", instanceItem(instanceId(1), "ami-1", 16, "running", "ip"))));
  h_.transport->reply(400, ec2Error("InvalidInstanceID.NotFound",
                                    "The instance ID '" + instanceId(201) + "' does not exist"));
  auto instances = client()->describeInstances(in);
  ASSERT_FALSE(instances.has_value());
  EXPECT_EQ(instances.error().code, ErrorCode::NotFound);
  EXPECT_EQ(instances.error().provider_code, "InvalidInstanceID.NotFound");
  EXPECT_EQ(instances.error().http_status, 400);
  EXPECT_THAT(instances.error().message, HasSubstr("The instance ID '" + instanceId(201)));
  EXPECT_EQ(h_.transport->requests().size(), 2u);
}

// A malformed id is the caller's mistake: InvalidArgument, not retried.
TEST_F(Ec2InstancesTest, MalformedInstanceIdIsInvalidArgument) {
  h_.transport->reply(400, ec2Error("InvalidInstanceID.Malformed", "Invalid id: \"i-123\""));
  auto instances = client()->describeInstances({.instance_ids = {"i-123"}});
  ASSERT_FALSE(instances.has_value());
  EXPECT_EQ(instances.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(instances.error().provider_code, "InvalidInstanceID.Malformed");
  EXPECT_EQ(h_.transport->requests().size(), 1u);
}

// A denial is PermissionDenied naming ec2:DescribeInstances, and is not retried.
TEST_F(Ec2InstancesTest, UnauthorizedOperationIsPermissionDenied) {
  h_.transport->reply(
      403, ec2Error("UnauthorizedOperation", "You are not authorized to perform this operation."));
  auto instances = client()->describeInstances({.filters = {{"tag-key", {"eks:nodegroup-name"}}}});
  ASSERT_FALSE(instances.has_value());
  EXPECT_EQ(instances.error().code, ErrorCode::PermissionDenied);
  EXPECT_EQ(instances.error().action, "ec2:DescribeInstances");
  EXPECT_EQ(instances.error().http_status, 403);
  EXPECT_EQ(h_.transport->requests().size(), 1u);
}

// Every spelling of the EC2 model's InstanceStateName parses to its enumerator and prints back.
TEST(Ec2Enums, InstanceStateSpellingsRoundTrip) {
  for (std::string_view s :
       {"pending", "running", "shutting-down", "terminated", "stopping", "stopped"}) {
    EXPECT_NE(parseInstanceState(s), InstanceState::Unknown) << s;
    EXPECT_EQ(toString(parseInstanceState(s)), s);
  }
  EXPECT_EQ(parseInstanceState("Running"), InstanceState::Unknown);
  EXPECT_EQ(toString(InstanceState::Unknown), "Unknown");
}

}  // namespace
}  // namespace opsy::aws

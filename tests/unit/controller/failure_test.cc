#include "opsy/controller/failure.h"

#include <gtest/gtest.h>

#include <vector>

#include "opsy/core/time_format.h"
#include "opsy/kube/conditions.h"

namespace opsy::controller {
namespace {

const TimePoint kNow = *parseRfc3339("2026-12-01T00:00:00Z");
const FailureContext kContext{.iam_doc = "docs/iam.md#packer-builder-controller"};

Error awsError(ErrorCode code, std::string action, std::string provider_code, std::string message) {
  Error e(code, std::move(message));
  e.action = std::move(action);
  e.provider_code = std::move(provider_code);
  return e;
}

TEST(DescribeFailure, AwsDenialNamesTheActionAndThePolicyDoc) {
  Failure f = describeFailure(
      awsError(ErrorCode::PermissionDenied, "ec2:DescribeImages", "UnauthorizedOperation",
               "ec2 DescribeImages: You are not authorized to perform this operation. User: "
               "arn:aws:sts::1:assumed-role/r/s is not authorized to perform: ec2:DescribeImages"),
      kContext);
  EXPECT_EQ(f.reason, "AWSAccessDenied");
  EXPECT_FALSE(f.transient);
  EXPECT_EQ(f.message.rfind("ec2:DescribeImages denied (UnauthorizedOperation: ", 0), 0U)
      << f.message;
  EXPECT_NE(f.message.find("assumed-role/r/s"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("docs/iam.md#packer-builder-controller"), std::string::npos);
}

TEST(DescribeFailure, EncodedAuthorizationMessageIsCutSoRetriesDoNotRewriteStatus) {
  auto denied = [](const char* encoded) {
    return describeFailure(
        awsError(ErrorCode::PermissionDenied, "ec2:CreateTags", "UnauthorizedOperation",
                 std::string("You are not authorized to perform this operation. Encoded "
                             "authorization failure message: ") +
                     encoded),
        kContext);
  };
  Failure first = denied("AbCdEf0123");
  EXPECT_EQ(first, denied("ZyXwVu9876"));
  EXPECT_EQ(first.message.find("AbCdEf0123"), std::string::npos) << first.message;
}

TEST(DescribeFailure, RejectedCredentialsAreNotAPolicyProblem) {
  Failure f = describeFailure(
      awsError(ErrorCode::Unauthenticated, "eks:ListNodegroups", "ExpiredTokenException",
               "The security token included in the request is expired"),
      kContext);
  EXPECT_EQ(f.reason, "AWSCredentialsRejected");
  EXPECT_FALSE(f.transient);
  EXPECT_NE(f.message.find("eks:ListNodegroups"), std::string::npos);
}

TEST(DescribeFailure, ThrottlingAndOutagesAreTransient) {
  for (ErrorCode code :
       {ErrorCode::Throttled, ErrorCode::Unavailable, ErrorCode::DeadlineExceeded}) {
    Failure f = describeFailure(awsError(code, "ec2:DescribeImages", "", "slow down"), kContext);
    EXPECT_EQ(f.reason, "AWSUnavailable") << toString(code);
    EXPECT_TRUE(f.transient) << toString(code);
  }
}

TEST(DescribeFailure, OtherAwsRefusalsKeepTheServiceWords) {
  Failure f = describeFailure(awsError(ErrorCode::InvalidArgument, "ec2:DescribeImages",
                                       "InvalidParameterValue", "bad filter name"),
                              kContext);
  EXPECT_EQ(f.reason, "AWSRequestRejected");
  EXPECT_EQ(f.message, "ec2:DescribeImages refused: InvalidParameterValue: bad filter name");
}

TEST(DescribeFailure, KubernetesErrorsKeepTheApiServerMessage) {
  Failure denied = describeFailure(
      Error(ErrorCode::PermissionDenied, "jobs.batch is forbidden: User cannot create"), kContext);
  EXPECT_EQ(denied.reason, "KubernetesAccessDenied");
  EXPECT_NE(denied.message.find("jobs.batch is forbidden"), std::string::npos);
  EXPECT_FALSE(denied.transient);
  Failure down = describeFailure(Error(ErrorCode::Unavailable, "connection refused"), kContext);
  EXPECT_EQ(down.reason, "KubernetesUnavailable");
  EXPECT_TRUE(down.transient);
}

const Failure kDenied{.reason = "AWSAccessDenied", .message = "denied", .transient = false};
const Failure kThrottled{.reason = "AWSUnavailable", .message = "throttled", .transient = true};

std::vector<kube::Condition> shown(const Failure& f, std::vector<kube::Condition> before,
                                   bool* news) {
  std::vector<kube::Condition> after = before;
  kube::ConditionWriter w(after, 3, kNow);
  *news = showFailure(f, before, w);
  return after;
}

TEST(ShowFailure, PersistentFailureIsNotReadyAndStalledWithOneEvent) {
  bool news = false;
  auto after = shown(kDenied, {}, &news);
  EXPECT_TRUE(news);
  const kube::Condition* ready = kube::findCondition(after, kube::kConditionReady);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, kube::kConditionFalse);
  EXPECT_EQ(ready->reason, "AWSAccessDenied");
  EXPECT_EQ(ready->observed_generation, 3);
  EXPECT_TRUE(kube::isConditionTrue(after, kube::kConditionStalled));

  auto again = shown(kDenied, after, &news);
  EXPECT_FALSE(news) << "the same failure again is not news";
  EXPECT_EQ(again, after);
}

TEST(ShowFailure, TransientFailureShowsAsProgressingUntilItHappensTwice) {
  bool news = true;
  auto once = shown(kThrottled, {}, &news);
  EXPECT_FALSE(news);
  EXPECT_EQ(kube::findCondition(once, kube::kConditionReady), nullptr);
  EXPECT_TRUE(kube::isConditionTrue(once, kube::kConditionProgressing));
  EXPECT_FALSE(kube::isConditionTrue(once, kube::kConditionStalled));

  auto twice = shown(kThrottled, once, &news);
  EXPECT_TRUE(news);
  const kube::Condition* ready = kube::findCondition(twice, kube::kConditionReady);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->reason, "AWSUnavailable");
  EXPECT_EQ(ready->status, kube::kConditionFalse);
}

}  // namespace
}  // namespace opsy::controller

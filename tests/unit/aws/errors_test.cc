#include "opsy/aws/errors.h"

#include <gtest/gtest.h>

namespace opsy::aws {
namespace {

http::Response response(int status, std::string body, http::Headers headers = {}) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// EC2 errors sit under Response/Errors/Error with the id in RequestID (upper-case D).
TEST(ParseError, Ec2Shape) {
  Error e = parseErrorResponse(
      Protocol::Ec2Query,
      response(400,
               "<?xml version=\"1.0\"?><Response><Errors><Error><Code>InvalidAMIID.NotFound</Code>"
               "<Message>The image id '[ami-1]' does not exist</Message></Error></Errors>"
               "<RequestID>ec2-req-1</RequestID></Response>"));
  EXPECT_EQ(e.code, ErrorCode::NotFound);
  EXPECT_EQ(e.provider_code, "InvalidAMIID.NotFound");
  EXPECT_EQ(e.request_id, "ec2-req-1");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.message, "The image id '[ami-1]' does not exist");
}

// awsQuery errors sit under ErrorResponse/Error with RequestId.
TEST(ParseError, AwsQueryShape) {
  Error e = parseErrorResponse(
      Protocol::AwsQuery,
      response(400,
               "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error>"
               "<Type>Sender</Type><Code>InstanceRefreshInProgress</Code><Message>busy</Message>"
               "</Error><RequestId>asg-req-1</RequestId></ErrorResponse>"));
  EXPECT_EQ(e.code, ErrorCode::Conflict);
  EXPECT_EQ(e.provider_code, "InstanceRefreshInProgress");
  EXPECT_EQ(e.request_id, "asg-req-1");
}

// REST-JSON takes the code from X-Amzn-ErrorType, cut at ':' and after the last '#'.
TEST(ParseError, RestJsonHeaderCodeIsSanitized) {
  Error e = parseErrorResponse(
      Protocol::RestJson,
      response(409, R"({"message":"update in progress"})",
               {{"X-Amzn-ErrorType", "aws.eks#ResourceInUseException:http://internal.amazon.com/"},
                {"x-amzn-RequestId", "eks-req-1"}}));
  EXPECT_EQ(e.provider_code, "ResourceInUseException");
  EXPECT_EQ(e.code, ErrorCode::Conflict);
  EXPECT_EQ(e.request_id, "eks-req-1");
  EXPECT_EQ(e.message, "update in progress");
}

// EKS rate-limits with 400 InvalidRequestException "Request limit exceeded.": that is throttling
// (retried with backoff), while other InvalidRequestExceptions stay permanent.
TEST(ParseError, EksRequestLimitIsThrottling) {
  Error limited = parseErrorResponse(Protocol::RestJson,
                                     response(400, R"({"message":"Request limit exceeded."})",
                                              {{"X-Amzn-ErrorType", "InvalidRequestException"}}));
  EXPECT_EQ(limited.code, ErrorCode::Throttled);
  EXPECT_EQ(classifyAwsError(limited), http::RetryClass::Throttle);
  Error invalid =
      parseErrorResponse(Protocol::RestJson,
                         response(400, R"({"message":"launch template is not used by this group"})",
                                  {{"X-Amzn-ErrorType", "InvalidRequestException"}}));
  EXPECT_EQ(invalid.code, ErrorCode::InvalidArgument);
}

// Auto Scaling says a group is missing only in a ValidationError's words: that is NotFound, while
// other ValidationErrors stay InvalidArgument.
TEST(ParseError, AutoScalingGroupNotFoundIsNotFound) {
  auto asg = [](const std::string& message) {
    return parseErrorResponse(
        Protocol::AwsQuery,
        response(400,
                 "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">"
                 "<Error><Type>Sender</Type><Code>ValidationError</Code><Message>" +
                     message + "</Message></Error><RequestId>r</RequestId></ErrorResponse>"));
  };
  Error missing = asg("AutoScalingGroup name not found - AutoScalingGroup 'gone' not found");
  EXPECT_EQ(missing.code, ErrorCode::NotFound);
  EXPECT_EQ(missing.provider_code, "ValidationError");
  EXPECT_EQ(missing.message, "AutoScalingGroup name not found - AutoScalingGroup 'gone' not found");
  EXPECT_EQ(asg("AutoScalingGroup not found - AutoScaling Group gone not found").code,
            ErrorCode::NotFound);
  EXPECT_EQ(asg("1 validation error detected: Value null at 'autoScalingGroupName'").code,
            ErrorCode::InvalidArgument);
}

// SNS denies with 403 AuthorizationError: a permission problem, whatever the status says.
TEST(ParseError, SnsAuthorizationErrorIsPermissionDenied) {
  Error e = parseErrorResponse(
      Protocol::AwsQuery,
      response(403,
               "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>"
               "<Type>Sender</Type><Code>AuthorizationError</Code><Message>User: u is not "
               "authorized to perform: SNS:Publish on resource: t</Message></Error>"
               "<RequestId>sns-1</RequestId></ErrorResponse>"));
  EXPECT_EQ(e.code, ErrorCode::PermissionDenied);
  EXPECT_EQ(canonicalCode("AuthorizationError", 400), ErrorCode::PermissionDenied);
}

// Without the header the REST-JSON code comes from the body's code or __type.
TEST(ParseError, RestJsonBodyCode) {
  Error e = parseErrorResponse(
      Protocol::RestJson,
      response(404, R"({"__type":"com.amazonaws#ResourceNotFoundException","message":"no ng"})"));
  EXPECT_EQ(e.provider_code, "ResourceNotFoundException");
  EXPECT_EQ(e.code, ErrorCode::NotFound);
}

// A proxy's HTML error page still yields an error classified by its status.
TEST(ParseError, UnparsableBodyFallsBackToStatus) {
  Error e = parseErrorResponse(Protocol::Ec2Query, response(502, "<html>bad gateway</html>"));
  EXPECT_EQ(e.code, ErrorCode::Unavailable);
  EXPECT_TRUE(e.provider_code.empty());
}

// Retry-After and x-amz-retry-after become the error's suggested delay.
TEST(ParseError, RetryAfterHeaders) {
  EXPECT_EQ(parseErrorResponse(Protocol::RestJson, response(429, "{}", {{"Retry-After", "3"}}))
                .retry_after,
            std::chrono::seconds(3));
  EXPECT_EQ(
      parseErrorResponse(Protocol::RestJson, response(429, "{}", {{"x-amz-retry-after", "1500"}}))
          .retry_after,
      std::chrono::milliseconds(1500));
}

struct CodeCase {
  const char* code;
  int status;
  ErrorCode expected;
};

class CanonicalCodes : public testing::TestWithParam<CodeCase> {};

// Each AWS code maps to the canonical code whose retry guidance fits it.
TEST_P(CanonicalCodes, Map) {
  EXPECT_EQ(canonicalCode(GetParam().code, GetParam().status), GetParam().expected)
      << GetParam().code << " " << GetParam().status;
}

INSTANTIATE_TEST_SUITE_P(
    Table, CanonicalCodes,
    testing::Values(CodeCase{"RequestLimitExceeded", 503, ErrorCode::Throttled},
                    CodeCase{"Throttling", 400, ErrorCode::Throttled},
                    CodeCase{"ThrottlingException", 400, ErrorCode::Throttled},
                    CodeCase{"TooManyRequestsException", 429, ErrorCode::Throttled},
                    CodeCase{"", 429, ErrorCode::Throttled},
                    CodeCase{"PriorRequestNotComplete", 400, ErrorCode::Throttled},
                    CodeCase{"", 500, ErrorCode::Unavailable},
                    CodeCase{"", 503, ErrorCode::Unavailable},
                    CodeCase{"", 504, ErrorCode::Unavailable},
                    CodeCase{"RequestTimeout", 400, ErrorCode::Unavailable},
                    CodeCase{"RequestTimeoutException", 408, ErrorCode::Unavailable},
                    CodeCase{"IDPCommunicationError", 400, ErrorCode::Unavailable},
                    CodeCase{"ServiceUnavailableException", 503, ErrorCode::Unavailable},
                    CodeCase{"AuthFailure", 401, ErrorCode::PermissionDenied},
                    CodeCase{"UnauthorizedOperation", 403, ErrorCode::PermissionDenied},
                    CodeCase{"AccessDenied", 403, ErrorCode::PermissionDenied},
                    CodeCase{"AccessDeniedException", 403, ErrorCode::PermissionDenied},
                    CodeCase{"ExpiredToken", 400, ErrorCode::Unauthenticated},
                    CodeCase{"InvalidSignatureException", 403, ErrorCode::Unauthenticated},
                    CodeCase{"InvalidGroup.NotFound", 400, ErrorCode::NotFound},
                    CodeCase{"InvalidLaunchTemplateId.VersionNotFound", 400, ErrorCode::NotFound},
                    CodeCase{"ResourceNotFoundException", 404, ErrorCode::NotFound},
                    // A 404 that names nothing came from a wrong endpoint or a proxy.
                    CodeCase{"", 404, ErrorCode::Unavailable},
                    CodeCase{"ResourceInUseException", 409, ErrorCode::Conflict},
                    CodeCase{"InstanceRefreshInProgress", 400, ErrorCode::Conflict},
                    CodeCase{"IncorrectState", 400, ErrorCode::Conflict},
                    CodeCase{"DependencyViolation", 400, ErrorCode::Conflict},
                    CodeCase{"InvalidGroup.Duplicate", 400, ErrorCode::AlreadyExists},
                    CodeCase{"InvalidParameterValue", 400, ErrorCode::InvalidArgument},
                    CodeCase{"InvalidParameterException", 400, ErrorCode::InvalidArgument},
                    CodeCase{"LimitExceeded", 400, ErrorCode::FailedPrecondition},
                    CodeCase{"DryRunOperation", 412, ErrorCode::FailedPrecondition}));

// Throttles back off as throttles, 5xx retries, client errors never do.
TEST(ClassifyAwsError, RetryClasses) {
  EXPECT_EQ(classifyAwsError(Error{ErrorCode::Throttled, ""}), http::RetryClass::Throttle);
  EXPECT_EQ(classifyAwsError(Error{ErrorCode::Unavailable, ""}), http::RetryClass::Transient);
  EXPECT_EQ(classifyAwsError(Error{ErrorCode::DeadlineExceeded, ""}), http::RetryClass::Timeout);
  EXPECT_EQ(classifyAwsError(Error{ErrorCode::InvalidArgument, ""}), http::RetryClass::Permanent);
  EXPECT_EQ(classifyAwsError(Error{ErrorCode::Conflict, ""}), http::RetryClass::Permanent);
}

}  // namespace
}  // namespace opsy::aws

// File: errors.h
//
// AWS error responses turned into opsy::Error, and the retry rules for them. Three wire shapes:
// EC2 (<Response><Errors><Error>…<RequestID>), awsQuery (<ErrorResponse>…<RequestId>) and
// REST-JSON (X-Amzn-ErrorType header or body code/__type, x-amzn-RequestId). The canonical code
// decides what a caller does next:
//   Throttled         throttling codes (botocore standard list) and any HTTP 429
//   Unavailable       HTTP 500/502/503/504, RequestTimeout*, IDPCommunicationError,
//                     ServiceUnavailable*, InternalError/InternalFailure, ResourceContention
//   PermissionDenied  AuthFailure, UnauthorizedOperation, AccessDenied*, AuthorizationError (SNS),
//                     IDPRejectedClaim, Forbidden, HTTP 403 otherwise unclassified
//   Unauthenticated   InvalidClientTokenId, SignatureDoesNotMatch, ExpiredToken*,
//                     InvalidIdentityToken, MissingAuthenticationToken
//   NotFound          *.NotFound, *NotFound, ResourceNotFoundException, HTTP 404 with a code,
//                     Auto Scaling's ValidationError "AutoScalingGroup name not found - ..."
//   Conflict          ResourceInUseException, InstanceRefreshInProgress, IncorrectState,
//                     IncorrectInstanceState, DependencyViolation, HTTP 409 (re-read, then retry)
//   AlreadyExists     *.Duplicate, AlreadyExists*, IdempotentParameterMismatch
//   InvalidArgument   Invalid*, Malformed*, MissingParameter, ValidationError, other HTTP 400
//   FailedPrecondition LimitExceeded (a quota, not a rate), *LimitExceeded quotas, DryRunOperation
//   Internal          anything else
//
//   Error e = aws::parseErrorResponse(aws::Protocol::Ec2Query, response);
#pragma once

#include <string>
#include <string_view>

#include "opsy/core/result.h"
#include "opsy/http/retry.h"
#include "opsy/http/transport.h"

namespace opsy::aws {

enum class Protocol { Ec2Query, AwsQuery, RestJson };

// True for the botocore standard-mode throttling codes.
bool isThrottlingCode(std::string_view code);

// The canonical code for an AWS error code and HTTP status (see the table above).
ErrorCode canonicalCode(std::string_view provider_code, int http_status);

// An error from a non-2xx response; tolerates empty or non-XML/JSON bodies (proxies, load
// balancers). Fills provider_code, http_status, request_id, message and retry_after.
Error parseErrorResponse(Protocol protocol, const http::Response& response);

// Retry classification for AWS: throttles (by canonical code) back off as throttles, transient
// server and transport failures retry, timeouts retry at the timeout cost, the rest do not.
http::RetryClass classifyAwsError(const Error& e);

// Standard retry mode with the AWS classifier.
http::RetryPolicy awsRetryPolicy();

}  // namespace opsy::aws

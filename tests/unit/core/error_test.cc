#include "opsy/core/error.h"

#include <gtest/gtest.h>

#include "opsy/core/result.h"

namespace opsy {
namespace {

// Only failures that can succeed on a plain retry are retryable; Conflict needs a re-read first,
// and an answer over a size limit (ResourceExhausted) would only come back as large.
TEST(Error, RetryableClassification) {
  EXPECT_TRUE(isRetryable(Error{ErrorCode::Throttled, ""}));
  EXPECT_TRUE(isRetryable(Error{ErrorCode::Unavailable, ""}));
  EXPECT_TRUE(isRetryable(Error{ErrorCode::DeadlineExceeded, ""}));
  for (ErrorCode c : {ErrorCode::InvalidArgument, ErrorCode::NotFound, ErrorCode::AlreadyExists,
                      ErrorCode::Conflict, ErrorCode::Unauthenticated, ErrorCode::PermissionDenied,
                      ErrorCode::Cancelled, ErrorCode::Gone, ErrorCode::FailedPrecondition,
                      ErrorCode::ResourceExhausted, ErrorCode::Internal}) {
    EXPECT_FALSE(isRetryable(Error{c, ""})) << toString(c);
  }
  EXPECT_TRUE(isThrottling(Error{ErrorCode::Throttled, ""}));
  EXPECT_FALSE(isThrottling(Error{ErrorCode::Unavailable, ""}));
}

// The rendered error carries the provider's detail so a log line can be traced with AWS support.
TEST(Error, ToStringIncludesProviderDetail) {
  Error e = Error{ErrorCode::Throttled, "Request limit exceeded."}
                .withHttpStatus(503)
                .withProviderCode("RequestLimitExceeded")
                .withRequestId("req-1")
                .context("describe images");
  EXPECT_EQ(e.toString(),
            "Throttled: describe images: Request limit exceeded. (http=503 "
            "code=RequestLimitExceeded request_id=req-1)");
  EXPECT_EQ(Error(ErrorCode::NotFound, "gone").toString(), "NotFound: gone");
}

Result<int> half(int v) {
  if (v % 2 != 0) {
    return fail(ErrorCode::InvalidArgument, "odd");
  }
  return v / 2;
}

Result<int> quarter(int v) {
  OPSY_ASSIGN_OR_RETURN(int h, half(v));
  OPSY_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

Status checkEven(int v) {
  OPSY_RETURN_IF_ERROR(half(v));
  return ok();
}

// The propagation macros return the first error unchanged and pass values through.
TEST(Result, MacrosPropagateFirstError) {
  EXPECT_EQ(quarter(8).value(), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "odd");
  EXPECT_TRUE(checkEven(4).has_value());
  EXPECT_EQ(checkEven(3).error().code, ErrorCode::InvalidArgument);
}

}  // namespace
}  // namespace opsy

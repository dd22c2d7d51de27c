#include "opsy/ami/eligibility.h"

#include <gtest/gtest.h>

namespace opsy::ami {
namespace {

// "6m" under an hour reads as a months mix-up and is called out; months, hours and long minute
// counts are not.
TEST(ExpiresInWarning, MinutesUnderAnHourAreCalledOut) {
  auto w = expiresInWarning("spec.expiresIn", "6m", std::chrono::minutes(6));
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(*w,
            "spec.expiresIn is 6m: m means minutes, so images expire 6 minutes after they are "
            "made; months are mo (e.g. 6mo)");
  EXPECT_FALSE(expiresInWarning("spec.expiresIn", "6mo", std::chrono::hours(24 * 180)));
  EXPECT_FALSE(expiresInWarning("spec.expiresIn", "90m", std::chrono::minutes(90)));
  EXPECT_FALSE(expiresInWarning("spec.expiresIn", "30s", std::chrono::seconds(30)));
  EXPECT_FALSE(expiresInWarning("spec.expiresIn", "", std::chrono::hours(0)));
}

}  // namespace
}  // namespace opsy::ami

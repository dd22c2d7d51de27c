#include "opsy/core/duration.h"

#include <gtest/gtest.h>

namespace opsy {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

struct ValidCase {
  const char* text;
  Duration want;
};

class ParseDurationValid : public ::testing::TestWithParam<ValidCase> {};

// Every unit of DESIGN.md §3 parses, alone and compounded, with "m" always meaning minutes.
TEST_P(ParseDurationValid, ParsesToExactMilliseconds) {
  auto got = parseDuration(GetParam().text);
  ASSERT_TRUE(got.has_value()) << GetParam().text << ": " << got.error().message;
  EXPECT_EQ(got->count(), GetParam().want.count()) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Units, ParseDurationValid,
    ::testing::Values(ValidCase{"250ms", milliseconds(250)}, ValidCase{"90s", seconds(90)},
                      ValidCase{"5m", minutes(5)}, ValidCase{"48h", hours(48)},
                      ValidCase{"1h30m", minutes(90)}, ValidCase{"7d", hours(24 * 7)},
                      ValidCase{"1w", hours(24 * 7)}, ValidCase{"1mo", hours(24 * 30)},
                      ValidCase{"1y", hours(24 * 365)}, ValidCase{"2w3d", hours(24 * 17)},
                      ValidCase{"1.5h", minutes(90)}, ValidCase{".5s", milliseconds(500)},
                      ValidCase{"1m30s500ms", milliseconds(90500)}, ValidCase{"+10s", seconds(10)},
                      ValidCase{"1mo2d", hours(24 * 32)}, ValidCase{"30d", hours(24 * 30)},
                      ValidCase{"0.001s", milliseconds(1)}, ValidCase{"1h0m", hours(1)}));

struct InvalidCase {
  const char* text;
  const char* message_part;
};

class ParseDurationInvalid : public ::testing::TestWithParam<InvalidCase> {};

// Bad input is an InvalidArgument that quotes the input and says what is wrong, never a zero.
TEST_P(ParseDurationInvalid, RefusesWithReason) {
  auto got = parseDuration(GetParam().text);
  ASSERT_FALSE(got.has_value()) << GetParam().text << " parsed as " << got->count();
  EXPECT_EQ(got.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(got.error().message.find(GetParam().message_part), std::string::npos)
      << got.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ParseDurationInvalid,
    ::testing::Values(
        InvalidCase{"", "empty"}, InvalidCase{"0s", "greater than zero"},
        InvalidCase{"0", "missing unit"}, InvalidCase{"-5m", "negative"},
        InvalidCase{"5", "missing unit"}, InvalidCase{"5x", "unknown unit \"x\""},
        InvalidCase{"5M", "unknown unit \"M\""}, InvalidCase{"5min", "unknown unit \"min\""},
        InvalidCase{"1h 30m", "expected a number"}, InvalidCase{"h", "expected a number"},
        InvalidCase{"+", "missing number"}, InvalidCase{"0.0001s", "greater than zero"},
        InvalidCase{"99999999999999999999s", "too large"}, InvalidCase{"300000000y", "too large"},
        InvalidCase{"9223372036854775807ms1ms", "too large"},
        InvalidCase{"1.2.3s", "missing unit"}));

// The formatted form uses the largest exact units and parses back to the same value.
TEST(FormatDuration, RoundTripsThroughParse) {
  for (Duration d :
       {Duration(1), Duration(1500), Duration(90'000), Duration(3'600'000),
        Duration(36 * 3'600'000LL), Duration(30LL * 24 * 3'600'000), Duration(123'456'789)}) {
    std::string text = formatDuration(d);
    auto back = parseDuration(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(back->count(), d.count()) << text;
  }
  EXPECT_EQ(formatDuration(hours(36)), "1d12h");
  EXPECT_EQ(formatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(formatDuration(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(formatDuration(Duration(0)), "0s");
}

}  // namespace
}  // namespace opsy

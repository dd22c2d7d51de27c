#include "opsy/core/time_format.h"

#include <gtest/gtest.h>

namespace opsy {
namespace {

TimePoint at(int64_t epoch_seconds, int64_t micros = 0) {
  return TimePoint(std::chrono::seconds(epoch_seconds)) + std::chrono::microseconds(micros);
}

// 2015-08-30T12:36:00Z is the SigV4 suite's fixed time; each format renders it exactly.
TEST(TimeFormat, RendersEveryWireFormat) {
  TimePoint t = at(1440938160, 123456);
  EXPECT_EQ(formatRfc3339(t), "2015-08-30T12:36:00Z");
  EXPECT_EQ(formatRfc3339Millis(t), "2015-08-30T12:36:00.123Z");
  EXPECT_EQ(formatMicroTime(t), "2015-08-30T12:36:00.123456Z");
  EXPECT_EQ(formatAmzDate(t), "20150830T123600Z");
  EXPECT_EQ(formatDateStamp(t), "20150830");
}

struct ParseCase {
  const char* text;
  int64_t epoch;
  int64_t micros;
};

class ParseRfc3339Valid : public ::testing::TestWithParam<ParseCase> {};

// Fractions of any length up to nanoseconds and numeric offsets are accepted and normalised to UTC.
TEST_P(ParseRfc3339Valid, NormalisesToUtc) {
  auto got = parseRfc3339(GetParam().text);
  ASSERT_TRUE(got.has_value()) << GetParam().text << ": " << got.error().message;
  EXPECT_EQ(*got, at(GetParam().epoch, GetParam().micros)) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ParseRfc3339Valid,
    ::testing::Values(ParseCase{"2015-08-30T12:36:00Z", 1440938160, 0},
                      ParseCase{"2015-08-30T12:36:00.5Z", 1440938160, 500000},
                      ParseCase{"2015-08-30T12:36:00.123456Z", 1440938160, 123456},
                      ParseCase{"2015-08-30T12:36:00.123456789Z", 1440938160, 123456},
                      ParseCase{"2015-08-30t12:36:00z", 1440938160, 0},
                      ParseCase{"2015-08-30T14:36:00+02:00", 1440938160, 0},
                      ParseCase{"2015-08-30T07:06:00-05:30", 1440938160, 0},
                      ParseCase{"2024-02-29T00:00:00Z", 1709164800, 0},
                      ParseCase{"1970-01-01T00:00:00Z", 0, 0}));

class ParseRfc3339Invalid : public ::testing::TestWithParam<const char*> {};

// Anything that is not RFC 3339 is refused with the input quoted, never read as the epoch.
TEST_P(ParseRfc3339Invalid, Refuses) {
  auto got = parseRfc3339(GetParam());
  ASSERT_FALSE(got.has_value()) << GetParam();
  EXPECT_EQ(got.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(got.error().message.find(GetParam()), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Forms, ParseRfc3339Invalid,
                         ::testing::Values("", "2015-08-30", "2015-08-30T12:36:00",
                                           "2015-08-30 12:36:00Z", "2015-13-01T00:00:00Z",
                                           "2023-02-29T00:00:00Z", "2015-08-30T24:00:00Z",
                                           "2015-08-30T12:36:60Z", "2015-08-30T12:36:00.Z",
                                           "2015-08-30T12:36:00+0200", "2015-08-30T12:36:00Zjunk",
                                           "0000-01-01T00:30:00+01:00", "20150830T123600Z",
                                           "2015-08-30T12:36:00.1234567890Z"));

// The SigV4 date round-trips and refuses anything but the compact form.
TEST(AmzDate, ParsesCompactFormOnly) {
  auto t = parseAmzDate("20150830T123600Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, at(1440938160));
  EXPECT_FALSE(parseAmzDate("2015-08-30T12:36:00Z").has_value());
  EXPECT_FALSE(parseAmzDate("20150830T123600").has_value());
  EXPECT_FALSE(parseAmzDate("20151330T123600Z").has_value());
}

// EKS sends epoch seconds as JSON numbers with a fraction.
TEST(EpochSeconds, KeepsMicroseconds) {
  EXPECT_EQ(fromEpochSeconds(1440938160.25), at(1440938160, 250000));
}

}  // namespace
}  // namespace opsy

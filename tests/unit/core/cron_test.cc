#include "opsy/core/cron.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

namespace opsy {

void PrintTo(const CivilMinute& m, std::ostream* os) {
  *os << fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", m.year, m.month, m.day, m.hour, m.minute);
}

namespace {

CronSchedule parsed(std::string_view text) {
  auto cron = CronSchedule::parse(text);
  EXPECT_TRUE(cron.has_value()) << text << ": " << cron.error().message;
  return std::move(cron).value();
}

int daysIn(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

CivilMinute minuteAfter(CivilMinute m) {
  if (++m.minute < 60)
    return m;
  m.minute = 0;
  if (++m.hour < 24)
    return m;
  m.hour = 0;
  if (++m.day <= daysIn(m.year, m.month))
    return m;
  m.day = 1;
  if (++m.month <= 12)
    return m;
  m.month = 1;
  ++m.year;
  return m;
}

CivilMinute minuteBefore(CivilMinute m) {
  if (--m.minute >= 0)
    return m;
  m.minute = 59;
  if (--m.hour >= 0)
    return m;
  m.hour = 23;
  if (--m.day >= 1)
    return m;
  if (--m.month < 1) {
    m.month = 12;
    --m.year;
  }
  m.day = daysIn(m.year, m.month);
  return m;
}

struct InvalidCase {
  const char* text;
  const char* message_part;
};

class CronParseInvalid : public ::testing::TestWithParam<InvalidCase> {};

// Every refusal is an InvalidArgument that names the field and quotes the token at fault.
TEST_P(CronParseInvalid, RefusesNamingFieldAndToken) {
  auto got = CronSchedule::parse(GetParam().text);
  ASSERT_FALSE(got.has_value()) << GetParam().text << " parsed";
  EXPECT_EQ(got.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(got.error().message.find(GetParam().message_part), std::string::npos)
      << got.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Fields, CronParseInvalid,
    ::testing::Values(
        InvalidCase{"60 * * * *", "field \"minute\": 60 is out of range 0-59"},
        InvalidCase{"0 24 * * *", "field \"hour\": 24 is out of range 0-23"},
        InvalidCase{"0 0 0 * *", "field \"day-of-month\": 0 is out of range 1-31"},
        InvalidCase{"0 0 32 * *", "field \"day-of-month\": 32 is out of range 1-31"},
        InvalidCase{"0 0 * 13 *", "field \"month\": 13 is out of range 1-12"},
        InvalidCase{"0 0 * 0 *", "field \"month\": 0 is out of range 1-12"},
        InvalidCase{"0 0 * * 8", "field \"day-of-week\": 8 is out of range 0-7"},
        InvalidCase{"0 0 * JANUARY *", "field \"month\": unknown name \"JANUARY\""},
        InvalidCase{"0 0 * * FUN", "field \"day-of-week\": unknown name \"FUN\""},
        InvalidCase{"0 0 * * MON-FUN", "field \"day-of-week\": unknown name \"FUN\""},
        InvalidCase{"0 MON * * *", "field \"hour\": \"MON\" is not a number"},
        InvalidCase{"1x * * * *", "field \"minute\": \"1x\" is not a number"},
        InvalidCase{"0 0 L * *", "field \"day-of-month\": \"L\" is not a number"},
        InvalidCase{"0 0 ? * *", "field \"day-of-month\": \"?\" is not a number"},
        InvalidCase{"0 0 * * 1#2", "field \"day-of-week\": \"1#2\" is not a number"},
        InvalidCase{"-5 * * * *", "field \"minute\": \"-5\" is not a range like 1-5"},
        InvalidCase{"0 1-2-3 * * *", "field \"hour\": \"1-2-3\" is not a range like 1-5"},
        InvalidCase{"0 5- * * *", "field \"hour\": \"5-\" is not a range like 1-5"},
        InvalidCase{"1,,2 * * * *", "field \"minute\": empty entry in \"1,,2\""},
        InvalidCase{"1, * * * *", "field \"minute\": empty entry in \"1,\""},
        InvalidCase{"*/0 * * * *", "field \"minute\": step 0 in \"*/0\" is out of range 1-59"},
        InvalidCase{"0 */24 * * *", "field \"hour\": step 24 in \"*/24\" is out of range 1-23"},
        InvalidCase{"*/x * * * *", "field \"minute\": step \"x\" in \"*/x\" is not a number"},
        InvalidCase{"*/ * * * *", "field \"minute\": step \"\" in \"*/\" is not a number"},
        InvalidCase{"*/5/2 * * * *", "field \"minute\": step \"5/2\""},
        InvalidCase{"5/15 * * * *", "write \"5-59/15\" or \"*/15\" instead of \"5/15\""},
        InvalidCase{"0 22-2 * * *", "field \"hour\": range \"22-2\" goes backwards"},
        InvalidCase{"0 0 * * SAT-SUN", "range \"SAT-SUN\" goes backwards; ranges do not wrap"},
        InvalidCase{"0 0 * * SAT-SUN", "(Sunday is 0 or 7)"},
        InvalidCase{"0 99999999999999 * * *",
                    "field \"hour\": 99999999999999 is out of range 0-23"},
        InvalidCase{"*/99999999999999 * * * *", "step 99999999999999 in \"*/99999999999999\""},
        InvalidCase{"/5 * * * *", "field \"minute\": missing value"},
        InvalidCase{"\x01 * * * *", "field \"minute\": \"\\x01\" is not a number"},
        InvalidCase{"0 0 * * \xc3\xa9", "unknown name \"\\xc3\\xa9\""}));

INSTANTIATE_TEST_SUITE_P(
    Shape, CronParseInvalid,
    ::testing::Values(InvalidCase{"", "empty schedule"}, InvalidCase{" \t\n", "empty schedule"},
                      InvalidCase{"* * * *",
                                  "expected 5 fields (minute hour day-of-month month day-of-week), "
                                  "found 4"},
                      InvalidCase{"0 * * * * 2026",
                                  "found 6; seconds and year fields are not supported"},
                      InvalidCase{"@reboot", "unsupported macro \"@reboot\""},
                      InvalidCase{"@every 5m", "unsupported macro \"@every 5m\""},
                      InvalidCase{"@", "unsupported macro"}));

// A day-of-month restriction on its own can leave nothing to match; that is refused up front.
INSTANTIATE_TEST_SUITE_P(
    NeverMatches, CronParseInvalid,
    ::testing::Values(InvalidCase{"0 0 30 2 *",
                                  "schedule never matches: no month in \"2\" has a day in \"30\""},
                      InvalidCase{"0 0 30,31 FEB *", "never matches"},
                      InvalidCase{"0 0 31 4,6,9,11 *", "never matches"},
                      InvalidCase{"0 0 31 APR-APR */1", "never matches"}));

// Length is checked before anything else, so huge input costs nothing.
TEST(CronParse, RefusesInputOverTheLengthLimit) {
  std::string text = "0 0 * * *" + std::string(CronSchedule::kMaxLength, ' ');
  auto got = CronSchedule::parse(text);
  ASSERT_FALSE(got.has_value());
  EXPECT_NE(got.error().message.find("the limit is 256"), std::string::npos) << got.error().message;
  std::string padded = std::string(CronSchedule::kMaxLength - 9, ' ') + "0 0 * * *";
  EXPECT_TRUE(CronSchedule::parse(padded).has_value());
}

// Fields may be separated by any run of whitespace, and text() keeps the schedule as written.
TEST(CronParse, AcceptsAnyWhitespaceBetweenFields) {
  CronSchedule cron = parsed("  0\t2   * *  SUN \n");
  EXPECT_EQ(cron.text(), "0\t2   * *  SUN");
  EXPECT_TRUE(cron.matches(0, 2, 1, 3, 0));
  EXPECT_FALSE(cron.matches(0, 2, 2, 3, 1));
}

TEST(CronMatches, ListsRangesAndSteps) {
  CronSchedule list = parsed("0,15,45 * * * *");
  EXPECT_TRUE(list.matches(15, 3, 1, 1, 4));
  EXPECT_FALSE(list.matches(30, 3, 1, 1, 4));

  CronSchedule range = parsed("0 9-17 * * *");
  EXPECT_TRUE(range.matches(0, 9, 1, 1, 4));
  EXPECT_TRUE(range.matches(0, 17, 1, 1, 4));
  EXPECT_FALSE(range.matches(0, 18, 1, 1, 4));
  EXPECT_FALSE(range.matches(0, 8, 1, 1, 4));

  CronSchedule star_step = parsed("*/15 * * * *");
  for (int m = 0; m < 60; ++m) {
    EXPECT_EQ(star_step.matches(m, 0, 1, 1, 4), m % 15 == 0) << m;
  }
  CronSchedule range_step = parsed("10-50/10 * * * *");
  for (int m = 0; m < 60; ++m) {
    EXPECT_EQ(range_step.matches(m, 0, 1, 1, 4), m >= 10 && m <= 50 && m % 10 == 0) << m;
  }
  // A step starts from the range's first value, not from a multiple of the step.
  CronSchedule offset_step = parsed("0 1-23/6 * * *");
  std::vector<int> hours;
  for (int h = 0; h < 24; ++h) {
    if (offset_step.matches(0, h, 1, 1, 4)) {
      hours.push_back(h);
    }
  }
  EXPECT_EQ(hours, (std::vector<int>{1, 7, 13, 19}));

  CronSchedule mixed = parsed("0 0,12-14,20-23/2 * * *");
  hours.clear();
  for (int h = 0; h < 24; ++h) {
    if (mixed.matches(0, h, 1, 1, 4)) {
      hours.push_back(h);
    }
  }
  EXPECT_EQ(hours, (std::vector<int>{0, 12, 13, 14, 20, 22}));
}

TEST(CronMatches, NamesAreCaseInsensitive) {
  CronSchedule months = parsed("0 0 * jan,Mar-MAY *");
  EXPECT_TRUE(months.matches(0, 0, 1, 1, 4));
  EXPECT_FALSE(months.matches(0, 0, 1, 2, 0));
  EXPECT_TRUE(months.matches(0, 0, 1, 4, 3));
  EXPECT_TRUE(months.matches(0, 0, 1, 5, 5));
  EXPECT_FALSE(months.matches(0, 0, 1, 6, 1));

  CronSchedule weekdays = parsed("0 0 * * mon-Fri");
  for (int wd = 0; wd <= 6; ++wd) {
    EXPECT_EQ(weekdays.matches(0, 0, 1, 1, wd), wd >= 1 && wd <= 5) << wd;
  }
}

// 7 is Sunday as well as 0, in values, ranges and matches() arguments.
TEST(CronMatches, SevenIsSunday) {
  CronSchedule seven = parsed("0 0 * * 7");
  EXPECT_TRUE(seven.matches(0, 0, 1, 1, 0));
  EXPECT_TRUE(seven.matches(0, 0, 1, 1, 7));
  EXPECT_FALSE(seven.matches(0, 0, 1, 1, 6));

  CronSchedule weekend = parsed("0 0 * * 6-7");
  EXPECT_TRUE(weekend.matches(0, 0, 1, 1, 6));
  EXPECT_TRUE(weekend.matches(0, 0, 1, 1, 0));
  EXPECT_FALSE(weekend.matches(0, 0, 1, 1, 1));

  EXPECT_TRUE(parsed("0 0 * * SUN").matches(0, 0, 1, 1, 7));
}

TEST(CronMatches, OutOfRangeArgumentsDoNotMatch) {
  CronSchedule every = parsed("* * * * *");
  EXPECT_TRUE(every.matches(59, 23, 31, 12, 6));
  EXPECT_FALSE(every.matches(60, 0, 1, 1, 0));
  EXPECT_FALSE(every.matches(-1, 0, 1, 1, 0));
  EXPECT_FALSE(every.matches(0, 24, 1, 1, 0));
  EXPECT_FALSE(every.matches(0, 0, 0, 1, 0));
  EXPECT_FALSE(every.matches(0, 0, 32, 1, 0));
  EXPECT_FALSE(every.matches(0, 0, 1, 13, 0));
  EXPECT_FALSE(every.matches(0, 0, 1, 1, 8));
  EXPECT_FALSE(every.matches(CivilMinute{2026, 2, 29, 0, 0}));  // not a leap year
}

// Vixie rule: with both day fields restricted, either one is enough.
TEST(CronMatches, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  CronSchedule both = parsed("0 0 1 * MON");
  EXPECT_TRUE(both.matches(CivilMinute{2026, 7, 1, 0, 0}));   // a Wednesday, the 1st
  EXPECT_TRUE(both.matches(CivilMinute{2026, 7, 6, 0, 0}));   // a Monday, the 6th
  EXPECT_FALSE(both.matches(CivilMinute{2026, 7, 7, 0, 0}));  // a Tuesday, the 7th

  // With either one `*`, only the other restricts.
  CronSchedule weekday_only = parsed("0 0 * * MON");
  EXPECT_FALSE(weekday_only.matches(CivilMinute{2026, 7, 1, 0, 0}));
  EXPECT_TRUE(weekday_only.matches(CivilMinute{2026, 7, 6, 0, 0}));
  CronSchedule day_only = parsed("0 0 1 * *");
  EXPECT_TRUE(day_only.matches(CivilMinute{2026, 7, 1, 0, 0}));
  EXPECT_FALSE(day_only.matches(CivilMinute{2026, 7, 6, 0, 0}));

  // `*/1` is still everything, so the day-of-month alone decides.
  CronSchedule star_one = parsed("0 0 1 * */1");
  EXPECT_TRUE(star_one.matches(CivilMinute{2026, 7, 1, 0, 0}));
  EXPECT_FALSE(star_one.matches(CivilMinute{2026, 7, 6, 0, 0}));

  // `*/2` is a restriction (unlike Vixie, see cron.h): odd days OR Mondays.
  CronSchedule star_two = parsed("0 0 */2 * MON");
  EXPECT_TRUE(star_two.matches(CivilMinute{2026, 7, 3, 0, 0}));   // Friday the 3rd
  EXPECT_TRUE(star_two.matches(CivilMinute{2026, 7, 6, 0, 0}));   // Monday the 6th
  EXPECT_FALSE(star_two.matches(CivilMinute{2026, 7, 8, 0, 0}));  // Wednesday the 8th

  // The OR rule makes an impossible day-of-month harmless: Mondays in February still match.
  CronSchedule feb = parsed("0 0 30 2 MON");
  EXPECT_EQ(feb.next(CivilMinute{2026, 1, 1, 0, 0}), (CivilMinute{2026, 2, 2, 0, 0}));
}

TEST(CronMatches, MacrosExpandToTheirSchedules) {
  EXPECT_TRUE(parsed("@hourly").matches(0, 5, 3, 4, 2));
  EXPECT_FALSE(parsed("@hourly").matches(1, 5, 3, 4, 2));
  EXPECT_TRUE(parsed("@daily").matches(0, 0, 3, 4, 2));
  EXPECT_FALSE(parsed("@daily").matches(0, 1, 3, 4, 2));
  EXPECT_TRUE(parsed("@MIDNIGHT").matches(0, 0, 3, 4, 2));
  EXPECT_TRUE(parsed("@weekly").matches(0, 0, 5, 4, 0));
  EXPECT_FALSE(parsed("@weekly").matches(0, 0, 6, 4, 1));
  EXPECT_TRUE(parsed("@monthly").matches(0, 0, 1, 4, 3));
  EXPECT_FALSE(parsed("@monthly").matches(0, 0, 2, 4, 4));
  EXPECT_TRUE(parsed("@yearly").matches(0, 0, 1, 1, 4));
  EXPECT_FALSE(parsed("@annually").matches(0, 0, 1, 2, 0));
  EXPECT_EQ(parsed(" @daily ").text(), "@daily");
}

// next() is strictly after its argument.
TEST(CronNext, IsStrictlyAfter) {
  CronSchedule quarter = parsed("*/15 * * * *");
  EXPECT_EQ(quarter.next({2026, 5, 4, 10, 7}), (CivilMinute{2026, 5, 4, 10, 15}));
  EXPECT_EQ(quarter.next({2026, 5, 4, 10, 15}), (CivilMinute{2026, 5, 4, 10, 30}));
  EXPECT_EQ(quarter.next({2026, 5, 4, 10, 45}), (CivilMinute{2026, 5, 4, 11, 0}));
}

TEST(CronNext, CrossesDayMonthAndYearBoundaries) {
  EXPECT_EQ(parsed("30 1 * * *").next({2026, 5, 4, 23, 59}), (CivilMinute{2026, 5, 5, 1, 30}));
  EXPECT_EQ(parsed("0 0 1 1 *").next({2026, 12, 31, 23, 59}), (CivilMinute{2027, 1, 1, 0, 0}));
  EXPECT_EQ(parsed("0 0 1 1 *").next({2026, 1, 1, 0, 0}), (CivilMinute{2027, 1, 1, 0, 0}));
  // The 31st skips the months that lack one.
  EXPECT_EQ(parsed("59 23 31 * *").next({2026, 3, 31, 23, 59}), (CivilMinute{2026, 5, 31, 23, 59}));
  EXPECT_EQ(parsed("0 12 * DEC *").next({2026, 1, 15, 0, 0}), (CivilMinute{2026, 12, 1, 12, 0}));
  // Saturday 2026-03-07: the same evening, then a week later.
  CronSchedule saturday = parsed("0 22 * * SAT");
  EXPECT_EQ(saturday.next({2026, 3, 7, 12, 0}), (CivilMinute{2026, 3, 7, 22, 0}));
  EXPECT_EQ(saturday.next({2026, 3, 7, 22, 0}), (CivilMinute{2026, 3, 14, 22, 0}));
  // A Monday on the 31st of a month.
  EXPECT_EQ(parsed("0 0 31 * MON").next({2026, 1, 1, 0, 0}), (CivilMinute{2026, 1, 5, 0, 0}));
}

TEST(CronNext, FindsLeapDays) {
  CronSchedule leap = parsed("0 0 29 2 *");
  EXPECT_EQ(leap.next({2026, 1, 1, 0, 0}), (CivilMinute{2028, 2, 29, 0, 0}));
  EXPECT_EQ(leap.next({2028, 2, 29, 0, 0}), (CivilMinute{2032, 2, 29, 0, 0}));
  // 2100 is not a leap year: the longest gap a schedule can have, and within the search bound.
  EXPECT_EQ(leap.next({2096, 3, 1, 0, 0}), (CivilMinute{2104, 2, 29, 0, 0}));
  EXPECT_EQ(leap.lastAtOrBefore({2104, 2, 28, 23, 59}), (CivilMinute{2096, 2, 29, 0, 0}));
}

TEST(CronNext, GivesUpAtTheEndOfTheCalendar) {
  EXPECT_EQ(parsed("0 0 1 1 *").next({9999, 1, 1, 0, 0}), std::nullopt);
  EXPECT_EQ(parsed("* * * * *").next({9999, 12, 31, 23, 59}), std::nullopt);
  EXPECT_EQ(parsed("* * * * *").lastAtOrBefore({1, 1, 1, 0, 0}), (CivilMinute{1, 1, 1, 0, 0}));
  EXPECT_EQ(parsed("1 * * * *").lastAtOrBefore({1, 1, 1, 0, 0}), std::nullopt);
}

TEST(CronNext, RefusesInvalidStartingMinutes) {
  CronSchedule every = parsed("* * * * *");
  EXPECT_EQ(every.next({2026, 2, 29, 0, 0}), std::nullopt);
  EXPECT_EQ(every.next({2026, 1, 1, 24, 0}), std::nullopt);
  EXPECT_EQ(every.next({0, 1, 1, 0, 0}), std::nullopt);
  EXPECT_EQ(every.lastAtOrBefore({2026, 4, 31, 0, 0}), std::nullopt);
}

TEST(CronLastAtOrBefore, IsInclusiveAndHonoursTheEarliestBound) {
  CronSchedule daily = parsed("30 2 * * *");
  EXPECT_EQ(daily.lastAtOrBefore({2026, 3, 1, 2, 30}), (CivilMinute{2026, 3, 1, 2, 30}));
  EXPECT_EQ(daily.lastAtOrBefore({2026, 3, 1, 2, 29}), (CivilMinute{2026, 2, 28, 2, 30}));
  EXPECT_EQ(daily.lastAtOrBefore({2026, 3, 1, 2, 29}, {2026, 2, 28, 2, 30}),
            (CivilMinute{2026, 2, 28, 2, 30}));
  EXPECT_EQ(daily.lastAtOrBefore({2026, 3, 1, 2, 29}, {2026, 2, 28, 2, 31}), std::nullopt);
  EXPECT_EQ(parsed("0 0 1 1 *").lastAtOrBefore({2026, 12, 31, 23, 59}),
            (CivilMinute{2026, 1, 1, 0, 0}));
}

// The skipping searches agree with a plain minute-by-minute scan of matches().
TEST(CronNext, AgreesWithAMinuteByMinuteScan) {
  const char* schedules[] = {"*/7 */5 * * *", "0 22 * * SAT",    "59 23 31 * *",
                             "0 0 1 * MON",   "15 3 */10 * 1-5", "0,30 9-17 * FEB,MAR *",
                             "0 0 29 2 *",    "5-10/2 0 * * 0",  "* * * * *",
                             "0 12 1-7 * 7",  "@weekly"};
  for (const char* text : schedules) {
    CronSchedule cron = parsed(text);
    // Two months around a leap day, minute by minute.
    std::vector<CivilMinute> all;
    for (CivilMinute c{2028, 1, 20, 0, 0}; c < CivilMinute{2028, 3, 20, 0, 0}; c = minuteAfter(c)) {
      if (cron.matches(c)) {
        all.push_back(c);
      }
    }
    ASSERT_FALSE(all.empty()) << text;
    // Forward: from each match, next() is the following match.
    for (size_t i = 0; i + 1 < all.size(); ++i) {
      ASSERT_EQ(cron.next(all[i]), all[i + 1]) << text;
    }
    // From any minute, next() is the first match after it and lastAtOrBefore() the last one at
    // or before it (every 13th minute, to stay quick under sanitizers).
    size_t first_after = 0;
    size_t count = 0;
    for (CivilMinute c{2028, 1, 20, 0, 0}; c < all.back(); c = minuteAfter(c), ++count) {
      while (all[first_after] <= c) {
        ++first_after;
      }
      if (count % 13 != 0) {
        continue;
      }
      ASSERT_EQ(cron.next(c), all[first_after]) << text;
      if (first_after > 0) {
        ASSERT_EQ(cron.lastAtOrBefore(c), all[first_after - 1]) << text;
      }
    }
    // Backward: at a match, lastAtOrBefore() is that match; a minute earlier, the one before.
    for (size_t i = 1; i < all.size(); ++i) {
      ASSERT_EQ(cron.lastAtOrBefore(all[i]), all[i]) << text;
      ASSERT_EQ(cron.lastAtOrBefore(minuteBefore(all[i])), all[i - 1]) << text;
    }
  }
}

}  // namespace
}  // namespace opsy

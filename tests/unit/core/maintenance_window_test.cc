#include "opsy/core/maintenance_window.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "opsy/core/time_format.h"

namespace opsy {

void PrintTo(const Interval& i, std::ostream* os) {
  *os << "[" << formatRfc3339(i.start) << ", " << formatRfc3339(i.end) << ")";
}

namespace {

using std::chrono::hours;
using std::chrono::minutes;

// RFC 3339 with an offset, so expectations read as the local time they stand for.
TimePoint at(std::string_view text) {
  auto t = parseRfc3339(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(TimePoint{});
}

Interval interval(std::string_view start, std::string_view end) {
  return Interval{at(start), at(end)};
}

MaintenanceWindow window(const char* schedule, const char* duration, const char* zone) {
  auto w = MaintenanceWindow::parse({schedule, duration, zone});
  EXPECT_TRUE(w.has_value()) << schedule << " / " << duration << " / " << zone << ": "
                             << w.error().message;
  return std::move(w).value();
}

struct InvalidCase {
  MaintenanceWindowSpec spec;
  const char* message_part;
};

class MaintenanceWindowInvalid : public ::testing::TestWithParam<InvalidCase> {};

// Every refusal names the spec field at fault first, so a CR status points at the right line.
TEST_P(MaintenanceWindowInvalid, RefusesNamingTheField) {
  auto got = MaintenanceWindow::parse(GetParam().spec);
  ASSERT_FALSE(got.has_value()) << GetParam().message_part;
  EXPECT_EQ(got.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(got.error().message.find(GetParam().message_part), std::string::npos)
      << got.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, MaintenanceWindowInvalid,
    ::testing::Values(
        InvalidCase{{"0 24 * * *", "1h", ""}, "schedule: field \"hour\": 24 is out of range 0-23"},
        InvalidCase{{"", "1h", ""}, "schedule: empty schedule"},
        InvalidCase{{"0 0 30 2 *", "1h", ""}, "schedule: schedule never matches"},
        InvalidCase{{"0 2 * * *", "", ""}, "duration: invalid duration \"\": empty value"},
        InvalidCase{{"0 2 * * *", "5x", ""}, "duration: invalid duration \"5x\""},
        InvalidCase{{"0 2 * * *", "59s", ""},
                    "duration: \"59s\" is shorter than the minimum 1m; a window lasts from 1m "
                    "to 7d"},
        InvalidCase{{"0 2 * * *", "7d1ms", ""},
                    "duration: \"7d1ms\" is longer than the maximum 7d"},
        InvalidCase{{"0 2 * * *", "1mo", ""}, "is longer than the maximum 7d"},
        InvalidCase{{"0 2 * * *", "1h", "Mars/Base"}, "timeZone: unknown time zone \"Mars/Base\""},
        InvalidCase{{"0 2 * * *", "1h", "utc"}, "timeZone: unknown time zone \"utc\""},
        InvalidCase{{"0 2 * * *", "1h", "localtime"}, "unknown time zone \"localtime\""},
        InvalidCase{{"0 2 * * *", "1h", "/etc/localtime"}, "unknown time zone"},
        InvalidCase{{"0 2 * * *", "1h", "/usr/share/zoneinfo/UTC"}, "unknown time zone"},
        InvalidCase{{"0 2 * * *", "1h", "file:/usr/share/zoneinfo/UTC"}, "unknown time zone"},
        InvalidCase{{"0 2 * * *", "1h", "Europe/../Europe/Berlin"}, "unknown time zone"},
        InvalidCase{{"0 2 * * *", "1h", "../zoneinfo/Europe/Berlin"}, "unknown time zone"},
        InvalidCase{{"0 2 * * *", "1h", "Europe//Berlin"}, "unknown time zone"},
        InvalidCase{{"0 2 * * *", "1h", "Europe/Berlin/"}, "unknown time zone"},
        InvalidCase{{"0 2 * * *", "1h", "Fixed/UTC+05:00"}, "unknown time zone"},
        InvalidCase{{"0 2 * * *", "1h", "EST5EDT,M3.2.0,M11.1.0"}, "unknown time zone"},
        InvalidCase{{"0 2 * * *", "1h", "Europe/Berlin\n"}, "\"Europe/Berlin\\x0a\""}));

TEST(MaintenanceWindowParse, AcceptsTheDurationBoundsAndIanaNames) {
  EXPECT_EQ(window("0 2 * * *", "1m", "UTC").duration(), minutes(1));
  EXPECT_EQ(window("0 2 * * *", "7d", "UTC").duration(), hours(24 * 7));
  EXPECT_EQ(window("0 2 * * *", "1h", "").timeZone(), "UTC");
  EXPECT_EQ(window("0 2 * * *", "1h", "Europe/Berlin").timeZone(), "Europe/Berlin");
  EXPECT_EQ(window("0 2 * * *", "1h", "Etc/GMT+5").timeZone(), "Etc/GMT+5");
  EXPECT_EQ(window("0 2 * * *", "1h", "America/Argentina/Buenos_Aires").timeZone(),
            "America/Argentina/Buenos_Aires");
  EXPECT_EQ(window(" 0 2 * * * ", "1h", "").schedule().text(), "0 2 * * *");
}

// Windows are half-open: open at the start, closed again exactly at the end.
TEST(MaintenanceWindowUtc, OpensAtTheStartAndClosesAtTheEnd) {
  MaintenanceWindow w = window("0 2 * * *", "3h", "");
  const Interval today = interval("2026-05-04T02:00:00Z", "2026-05-04T05:00:00Z");
  EXPECT_EQ(w.containing(at("2026-05-04T01:59:59.999999Z")), std::nullopt);
  EXPECT_EQ(w.containing(at("2026-05-04T02:00:00Z")), today);
  EXPECT_EQ(w.containing(at("2026-05-04T04:59:59.999999Z")), today);
  EXPECT_EQ(w.containing(at("2026-05-04T05:00:00Z")), std::nullopt);
  EXPECT_EQ(w.containing(at("2026-05-04T23:00:00Z")), std::nullopt);
}

// nextStart() is strictly after t: at the start of a window, the next one is tomorrow's.
TEST(MaintenanceWindowUtc, NextStartIsStrictlyAfter) {
  MaintenanceWindow w = window("0 2 * * *", "3h", "UTC");
  EXPECT_EQ(w.nextStart(at("2026-05-04T01:00:00Z")),
            interval("2026-05-04T02:00:00Z", "2026-05-04T05:00:00Z"));
  EXPECT_EQ(w.nextStart(at("2026-05-04T02:00:00Z")),
            interval("2026-05-05T02:00:00Z", "2026-05-05T05:00:00Z"));
  EXPECT_EQ(w.nextStart(at("2026-12-31T23:59:00Z")),
            interval("2027-01-01T02:00:00Z", "2027-01-01T05:00:00Z"));
}

// When occurrences overlap, the one reported is the latest, which also ends last.
TEST(MaintenanceWindowUtc, OverlappingOccurrencesReportTheLatest) {
  MaintenanceWindow hourly = window("0 * * * *", "90m", "UTC");
  EXPECT_EQ(hourly.containing(at("2026-05-04T10:15:00Z")),
            interval("2026-05-04T10:00:00Z", "2026-05-04T11:30:00Z"));
  MaintenanceWindow weekly = window("0 0 * * MON", "7d", "UTC");
  EXPECT_EQ(weekly.containing(at("2026-05-10T23:59:59Z")),
            interval("2026-05-04T00:00:00Z", "2026-05-11T00:00:00Z"));
  EXPECT_EQ(weekly.containing(at("2026-05-11T00:00:00Z")),
            interval("2026-05-11T00:00:00Z", "2026-05-18T00:00:00Z"));
}

TEST(MaintenanceWindowUtc, RareSchedulesAreFoundYearsAhead) {
  MaintenanceWindow leap = window("0 0 29 2 *", "1d", "UTC");
  EXPECT_EQ(leap.nextStart(at("2026-01-01T00:00:00Z")),
            interval("2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z"));
  EXPECT_EQ(leap.containing(at("2028-02-29T12:00:00Z")),
            interval("2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z"));
  EXPECT_EQ(leap.containing(at("2028-03-01T00:00:00Z")), std::nullopt);
}

TEST(MaintenanceWindowUtc, FarAwayTimesHaveNoWindows) {
  MaintenanceWindow w = window("* * * * *", "7d", "Europe/Berlin");
  EXPECT_EQ(w.containing(TimePoint::max()), std::nullopt);
  EXPECT_EQ(w.nextStart(TimePoint::max()), std::nullopt);
  EXPECT_EQ(w.containing(TimePoint::min()), std::nullopt);
  EXPECT_EQ(w.nextStart(TimePoint::min()), std::nullopt);
  EXPECT_EQ(w.nextStart(at("9999-12-31T23:58:00Z")), std::nullopt);  // 00:58 local in year 10000
}

// 2026-03-08, New York: 02:00 EST jumps to 03:00 EDT. 02:30 does not exist, so the window opens
// when the gap ends, 03:00 EDT = 07:00Z; a day either side keeps its own offset.
TEST(MaintenanceWindowDst, SpringForwardOpensWhenTheGapEnds) {
  MaintenanceWindow w = window("30 2 * * *", "1h", "America/New_York");
  EXPECT_EQ(w.nextStart(at("2026-03-06T12:00:00Z")),
            interval("2026-03-07T02:30:00-05:00", "2026-03-07T03:30:00-05:00"));
  EXPECT_EQ(w.nextStart(at("2026-03-07T12:00:00Z")),
            interval("2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"));
  EXPECT_EQ(w.nextStart(at("2026-03-07T12:00:00Z"))->start, at("2026-03-08T03:00:00-04:00"));
  EXPECT_EQ(w.containing(at("2026-03-08T07:59:00Z")),
            interval("2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"));
  EXPECT_EQ(w.containing(at("2026-03-08T06:59:59Z")), std::nullopt);
  EXPECT_EQ(w.nextStart(at("2026-03-08T07:00:00Z")),
            interval("2026-03-09T02:30:00-04:00", "2026-03-09T03:30:00-04:00"));
}

// Every start in the gap, and 03:00 itself, lands on the same instant and opens one window.
TEST(MaintenanceWindowDst, StartsInTheGapOpenOnce) {
  MaintenanceWindow w = window("*/30 * * * *", "10m", "America/New_York");
  std::vector<TimePoint> starts;
  for (auto next = w.nextStart(at("2026-03-08T05:45:00Z"));
       next && next->start < at("2026-03-08T08:00:00Z"); next = w.nextStart(next->start)) {
    starts.push_back(next->start);
  }
  EXPECT_EQ(starts,
            (std::vector<TimePoint>{at("2026-03-08T06:00:00Z"), at("2026-03-08T06:30:00Z"),
                                    at("2026-03-08T07:00:00Z"), at("2026-03-08T07:30:00Z")}));
}

// 2026-11-01, New York: 02:00 EDT goes back to 01:00 EST, so 01:30 happens twice. The window opens
// once, at the first 01:30 (EDT, 05:30Z), and not again at 01:30 EST (06:30Z).
TEST(MaintenanceWindowDst, FallBackOpensOnceAtTheFirstOccurrence) {
  MaintenanceWindow w = window("30 1 * * *", "30m", "America/New_York");
  EXPECT_EQ(w.nextStart(at("2026-10-31T12:00:00Z")),
            interval("2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z"));
  EXPECT_EQ(w.nextStart(at("2026-11-01T05:30:00Z")),
            interval("2026-11-02T01:30:00-05:00", "2026-11-02T02:00:00-05:00"));
  EXPECT_EQ(w.containing(at("2026-11-01T05:45:00Z")),
            interval("2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z"));
  EXPECT_EQ(w.containing(at("2026-11-01T01:40:00-05:00")), std::nullopt);
}

// During the second pass through 01:00-02:00, a 01:45 start has already happened (on the first
// pass), even though the wall clock has not reached 01:45 again.
TEST(MaintenanceWindowDst, SecondPassSeesStartsFromTheFirstPass) {
  MaintenanceWindow w = window("45 1 * * *", "1h", "America/New_York");
  EXPECT_EQ(w.containing(at("2026-11-01T01:30:00-05:00")),
            interval("2026-11-01T01:45:00-04:00", "2026-11-01T02:45:00-04:00"));
  EXPECT_EQ(w.nextStart(at("2026-11-01T01:30:00-05:00")),
            interval("2026-11-02T01:45:00-05:00", "2026-11-02T02:45:00-05:00"));

  MaintenanceWindow half_hourly = window("*/30 * * * *", "30m", "America/New_York");
  std::vector<TimePoint> starts;
  for (auto next = half_hourly.nextStart(at("2026-11-01T03:45:00Z"));
       next && next->start < at("2026-11-01T08:00:00Z");
       next = half_hourly.nextStart(next->start)) {
    starts.push_back(next->start);
  }
  EXPECT_EQ(starts,
            (std::vector<TimePoint>{at("2026-11-01T04:00:00Z"), at("2026-11-01T04:30:00Z"),
                                    at("2026-11-01T05:00:00Z"), at("2026-11-01T05:30:00Z"),
                                    at("2026-11-01T07:00:00Z"), at("2026-11-01T07:30:00Z")}));
  EXPECT_EQ(half_hourly.containing(at("2026-11-01T06:15:00Z")), std::nullopt);
}

// Saturday 22:00 in Berlin for 6h runs past midnight into Sunday: Sunday 02:00 local is inside.
TEST(MaintenanceWindowZones, BerlinSaturdayNightCrossesMidnight) {
  MaintenanceWindow w = window("0 22 * * SAT", "6h", "Europe/Berlin");
  const Interval summer = interval("2026-06-13T22:00:00+02:00", "2026-06-14T04:00:00+02:00");
  EXPECT_EQ(w.containing(at("2026-06-14T02:00:00+02:00")), summer);
  EXPECT_EQ(summer.start, at("2026-06-13T20:00:00Z"));
  EXPECT_EQ(w.containing(at("2026-06-14T04:00:00+02:00")), std::nullopt);
  EXPECT_EQ(w.containing(at("2026-06-13T21:59:00+02:00")), std::nullopt);
  EXPECT_EQ(w.nextStart(at("2026-06-10T12:00:00Z")), summer);
  EXPECT_EQ(w.containing(at("2026-01-11T02:00:00+01:00")),
            interval("2026-01-10T22:00:00+01:00", "2026-01-11T04:00:00+01:00"));
}

// The duration is real time: across the spring change the window ends at 05:00 CEST, not 04:00.
TEST(MaintenanceWindowZones, DurationIsAbsoluteAcrossAChange) {
  MaintenanceWindow w = window("0 22 * * SAT", "6h", "Europe/Berlin");
  EXPECT_EQ(w.containing(at("2026-03-29T04:30:00+02:00")),
            interval("2026-03-28T22:00:00+01:00", "2026-03-29T05:00:00+02:00"));
  EXPECT_EQ(w.containing(at("2026-10-25T02:30:00+01:00")),
            interval("2026-10-24T22:00:00+02:00", "2026-10-25T03:00:00+01:00"));
}

// containing() searches backwards and nextStart() forwards; around every kind of change (an hour
// either way, and Lord Howe's half hour) both agree with the list of starts nextStart() walks.
TEST(MaintenanceWindowZones, ContainingAgreesWithTheWalkOfStarts) {
  struct Case {
    const char* schedule;
    const char* duration;
    const char* zone;
    const char* from;
  };
  const Case cases[] = {
      {"*/20 * * * *", "45m", "America/New_York", "2026-03-07T12:00:00Z"},
      {"*/20 * * * *", "45m", "America/New_York", "2026-10-31T12:00:00Z"},
      {"45 1 * * *", "1h", "America/New_York", "2026-10-31T12:00:00Z"},
      {"30 2 * * *", "90m", "America/New_York", "2026-03-07T12:00:00Z"},
      {"0,30 1-3 * * SUN", "40m", "Europe/Berlin", "2026-03-28T12:00:00Z"},
      {"0,30 1-3 * * SUN", "40m", "Europe/Berlin", "2026-10-24T12:00:00Z"},
      {"*/15 1-3 * * *", "20m", "Australia/Lord_Howe", "2026-04-04T00:00:00Z"},
      {"*/15 1-3 * * *", "20m", "Australia/Lord_Howe", "2026-10-03T00:00:00Z"},
      {"0 22 * * SAT", "6h", "Europe/Berlin", "2026-03-27T00:00:00Z"},
  };
  for (const Case& c : cases) {
    MaintenanceWindow w = window(c.schedule, c.duration, c.zone);
    const TimePoint from = at(c.from);
    const TimePoint until = from + hours(72);
    std::vector<Interval> walk;
    for (auto next = w.nextStart(from - hours(24)); next && next->start < until;
         next = w.nextStart(next->start)) {
      walk.push_back(*next);
    }
    ASSERT_FALSE(walk.empty()) << c.schedule << " " << c.zone;
    for (TimePoint t = from; t < until; t += minutes(7)) {
      std::optional<Interval> want;
      std::optional<Interval> next;
      for (const Interval& i : walk) {
        if (i.start <= t) {
          want = i.contains(t) ? std::optional<Interval>(i) : std::nullopt;
        } else if (!next) {
          next = i;
        }
      }
      ASSERT_EQ(w.containing(t), want) << c.schedule << " " << c.zone << " " << formatRfc3339(t);
      if (next) {
        ASSERT_EQ(w.nextStart(t), next) << c.schedule << " " << c.zone << " " << formatRfc3339(t);
      }
    }
  }
}

TEST(MaintenanceWindowParse, CopiesShareTheParsedWindow) {
  MaintenanceWindow original = window("0 22 * * SAT", "6h", "Europe/Berlin");
  MaintenanceWindow copy = original;
  EXPECT_EQ(copy.containing(at("2026-06-14T02:00:00+02:00")),
            original.containing(at("2026-06-14T02:00:00+02:00")));
  copy = window("0 3 * * *", "1h", "UTC");
  EXPECT_EQ(copy.timeZone(), "UTC");
  EXPECT_EQ(original.timeZone(), "Europe/Berlin");
}

TEST(WindowState, ClosedReportsTheEarliestNextStart) {
  // Saturday 22:00 Berlin (20:00Z in June) and daily 03:00Z.
  std::vector<MaintenanceWindow> windows{window("0 22 * * SAT", "6h", "Europe/Berlin"),
                                         window("0 3 * * *", "1h", "UTC")};
  WindowState midweek = windowState(windows, at("2026-06-10T12:00:00Z"));
  EXPECT_FALSE(midweek.open);
  EXPECT_EQ(midweek.closes_at, std::nullopt);
  EXPECT_EQ(midweek.next_opens_at, at("2026-06-11T03:00:00Z"));

  WindowState saturday = windowState(windows, at("2026-06-13T19:00:00Z"));
  EXPECT_FALSE(saturday.open);
  EXPECT_EQ(saturday.next_opens_at, at("2026-06-13T20:00:00Z"));
}

TEST(WindowState, OpenReportsTheLatestEndAmongOpenWindows) {
  // At 01:30Z Sunday both are open: Berlin's until 02:00Z, the UTC one until 03:00Z.
  std::vector<MaintenanceWindow> windows{window("0 22 * * SAT", "6h", "Europe/Berlin"),
                                         window("0 1 * * *", "2h", "UTC"),
                                         window("0 12 * * *", "1h", "UTC")};
  WindowState state = windowState(windows, at("2026-06-14T01:30:00Z"));
  EXPECT_TRUE(state.open);
  EXPECT_EQ(state.closes_at, at("2026-06-14T03:00:00Z"));
  EXPECT_EQ(state.next_opens_at, at("2026-06-14T12:00:00Z"));

  WindowState later = windowState(windows, at("2026-06-14T02:30:00Z"));
  EXPECT_TRUE(later.open);
  EXPECT_EQ(later.closes_at, at("2026-06-14T03:00:00Z"));
}

TEST(WindowState, NoWindowsIsClosedWithNothingNext) {
  WindowState state = windowState({}, at("2026-06-14T01:30:00Z"));
  EXPECT_FALSE(state.open);
  EXPECT_EQ(state.closes_at, std::nullopt);
  EXPECT_EQ(state.next_opens_at, std::nullopt);
}

}  // namespace
}  // namespace opsy

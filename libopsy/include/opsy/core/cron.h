// File: cron.h
//
// Standard 5-field cron schedules ("minute hour day-of-month month day-of-week"), as users write
// them for maintenance windows. The schedule is zone-less: it matches civil (wall-clock) minutes,
// and maintenance_window.h decides which instant a civil minute is in a given time zone.
//
//   OPSY_ASSIGN_OR_RETURN(CronSchedule cron, CronSchedule::parse("0 22 * * SAT"));
//   std::optional<CivilMinute> next = cron.next({2026, 3, 7, 12, 0});  // 2026-03-07 22:00
//
// Syntax, per field: `*`, a value, a range `1-5`, a step over `*` or a range (`*/15`,
// `10-50/10`), or a comma list of those (`1,2,5`, `MON-FRI,SUN`). Months may be named JAN-DEC
// and weekdays SUN-SAT (three letters, any case); day-of-week takes 0-7, where both 0 and 7 are
// Sunday. A step after a single value (`5/15`) is refused rather than guessed (some crons read it
// as 5-59/15, others as 5). Ranges do not wrap: `22-2` is refused, write `22-23,0-2`.
//
// Day-of-month and day-of-week follow the Vixie cron rule: when both are restricted, a day matches
// if EITHER matches ("0 0 1 * MON" is the 1st of each month and every Monday). A field counts as
// unrestricted only when it is exactly `*` (or `*/1`); Vixie also counts `*/2` as unrestricted,
// which surprises people, so here `*/2` is a restriction like any other.
//
// Macros: @hourly, @daily (= @midnight), @weekly (Sunday 00:00), @monthly, @yearly (= @annually).
// @reboot and anything else starting with `@` is refused: a window needs a time of day.
//
// Parsing never throws; errors name the field and the token ("field \"hour\": 24 is out of range
// 0-23"). A schedule that can never match (only February 30, say) is refused at parse time, so
// next() of a parsed schedule finds a match whenever the search bound leaves room for one.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "opsy/core/result.h"

namespace opsy {

// A minute on a wall clock, in no particular zone. Fields are calendar values: month 1-12, day
// 1-31, hour 0-23, minute 0-59. Ordering is chronological.
struct CivilMinute {
  int year = 1970;
  int month = 1;
  int day = 1;
  int hour = 0;
  int minute = 0;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads the defaulted comparison.
  auto operator<=>(const CivilMinute&) const = default;

  // True when the fields name a real minute in years kMinYear..kMaxYear (no February 30th).
  bool valid() const;
  // 0 = Sunday ... 6 = Saturday. Only meaningful when valid().
  int weekday() const;

  static constexpr int kMinYear = 1;
  static constexpr int kMaxYear = 9999;
};

class CronSchedule {
 public:
  // Longer input is refused before it is looked at: real schedules are a few dozen characters.
  static constexpr size_t kMaxLength = 256;
  // next() looks this many years past its starting year. Eight is the longest gap a parseable
  // schedule can have: "0 0 29 2 *" skips 2100, which is not a leap year (2096 -> 2104).
  static constexpr int kSearchYears = 8;

  [[nodiscard]] static Result<CronSchedule> parse(std::string_view text);

  // The schedule as given to parse(), without surrounding whitespace.
  const std::string& text() const { return text_; }

  // Whether the schedule fires at this minute. weekday: 0-6 from Sunday (7 is also Sunday); it
  // must agree with the date, which is not checked. Out-of-range arguments do not match.
  bool matches(int minute, int hour, int day, int month, int weekday) const;
  bool matches(const CivilMinute& m) const;

  // The first matching minute strictly after `after`, or nullopt when there is none through the
  // end of year after.year + kSearchYears (or kMaxYear), or when `after` is not valid().
  std::optional<CivilMinute> next(const CivilMinute& after) const;
  // The last matching minute at or before `at`, looking no further back than `earliest`
  // (default: the start of year at.year - kSearchYears); nullopt when none or `at` is not valid().
  std::optional<CivilMinute> lastAtOrBefore(const CivilMinute& at) const;
  std::optional<CivilMinute> lastAtOrBefore(const CivilMinute& at,
                                            const CivilMinute& earliest) const;

 private:
  CronSchedule() = default;
  bool dayMatches(int day, int weekday) const;

  std::string text_;
  // Bit i set = value i allowed. Day-of-week uses bits 0-6 (7 is folded onto 0).
  uint64_t minutes_ = 0;
  uint32_t hours_ = 0;
  uint32_t days_ = 0;
  uint16_t months_ = 0;
  uint8_t weekdays_ = 0;
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;
};

}  // namespace opsy

#include "opsy/core/cron.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <vector>

#include "opsy/core/strings.h"

namespace opsy {
namespace {

constexpr std::array<std::string_view, 12> kMonthNames{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdayNames{"SUN", "MON", "TUE", "WED",
                                                        "THU", "FRI", "SAT"};

struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  // Names for min, min+1, ...; null when the field takes numbers only.
  const std::string_view* names = nullptr;
  size_t name_count = 0;
  // What `*` expands to; differs from max only for day-of-week, whose 7 repeats 0.
  int star_max;
};

constexpr FieldSpec kMinute{"minute", 0, 59, nullptr, 0, 59};
constexpr FieldSpec kHour{"hour", 0, 23, nullptr, 0, 23};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31, nullptr, 0, 31};
constexpr FieldSpec kMonth{"month", 1, 12, kMonthNames.data(), kMonthNames.size(), 12};
constexpr FieldSpec kDayOfWeek{"day-of-week", 0, 7, kWeekdayNames.data(), kWeekdayNames.size(), 6};

struct Field {
  uint64_t bits = 0;
  bool restricted = true;
};

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

// The value of a run of digits, saturating: anything that large is out of range anyway.
int64_t digitsValue(std::string_view digits) {
  int64_t value = 0;
  for (char c : digits) {
    value = std::min<int64_t>(value * 10 + (c - '0'), 1'000'000);
  }
  return value;
}

tl::unexpected<Error> fieldError(const FieldSpec& spec, std::string_view why) {
  return fail(ErrorCode::InvalidArgument, fmt::format("field \"{}\": {}", spec.name, why));
}

// A number or (for month and day-of-week) a three-letter name.
Result<int> parseValue(const FieldSpec& spec, std::string_view token) {
  if (token.empty()) {
    return fieldError(spec, "missing value");
  }
  if (isDigit(token[0])) {
    if (!std::all_of(token.begin(), token.end(), isDigit)) {
      return fieldError(spec, fmt::format("{} is not a number", quoteForMessage(token)));
    }
    int64_t value = digitsValue(token);
    if (value < spec.min || value > spec.max) {
      return fieldError(spec, fmt::format("{} is out of range {}-{}", token, spec.min, spec.max));
    }
    return static_cast<int>(value);
  }
  if (spec.names == nullptr) {
    return fieldError(spec, fmt::format("{} is not a number", quoteForMessage(token)));
  }
  if (token.size() == 3) {
    for (size_t i = 0; i < spec.name_count; ++i) {
      std::string_view name = spec.names[i];
      if (upper(token[0]) == name[0] && upper(token[1]) == name[1] && upper(token[2]) == name[2]) {
        return spec.min + static_cast<int>(i);
      }
    }
  }
  return fieldError(
      spec, fmt::format("unknown name {} (use {}-{} or {}-{})", quoteForMessage(token),
                        spec.names[0], spec.names[spec.name_count - 1], spec.min, spec.max));
}

Result<Field> parseField(const FieldSpec& spec, std::string_view text) {
  Field field;
  // Only a bare `*` (or `*/1`) leaves the field unrestricted for the day-of-month/day-of-week
  // rule; the header explains why `*/2` does not.
  field.restricted = !(text == "*" || text == "*/1");
  size_t pos = 0;
  while (true) {
    size_t comma = text.find(',', pos);
    std::string_view term =
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (term.empty()) {
      return fieldError(spec, fmt::format("empty entry in {}", quoteForMessage(text)));
    }
    std::string_view range = term;
    int step = 1;
    size_t slash = term.find('/');
    if (slash != std::string_view::npos) {
      range = term.substr(0, slash);
      std::string_view step_text = term.substr(slash + 1);
      if (step_text.empty() || !std::all_of(step_text.begin(), step_text.end(), isDigit)) {
        return fieldError(spec, fmt::format("step {} in {} is not a number",
                                            quoteForMessage(step_text), quoteForMessage(term)));
      }
      int64_t value = digitsValue(step_text);
      int max_step = spec.max - spec.min;
      if (value < 1 || value > max_step) {
        return fieldError(spec, fmt::format("step {} in {} is out of range 1-{}", step_text,
                                            quoteForMessage(term), max_step));
      }
      step = static_cast<int>(value);
    }
    int lo = 0;
    int hi = 0;
    if (range == "*") {
      lo = spec.min;
      hi = spec.star_max;
    } else {
      size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        OPSY_ASSIGN_OR_RETURN(lo, parseValue(spec, range));
        hi = lo;
        if (slash != std::string_view::npos) {
          return fieldError(spec, fmt::format("a step needs \"*\" or a range before it: write "
                                              "\"{}-{}/{}\" or \"*/{}\" instead of {}",
                                              lo, spec.max, step, step, quoteForMessage(term)));
        }
      } else {
        std::string_view first = range.substr(0, dash);
        std::string_view last = range.substr(dash + 1);
        if (first.empty() || last.empty() || last.find('-') != std::string_view::npos) {
          return fieldError(spec,
                            fmt::format("{} is not a range like 1-5", quoteForMessage(range)));
        }
        OPSY_ASSIGN_OR_RETURN(lo, parseValue(spec, first));
        OPSY_ASSIGN_OR_RETURN(hi, parseValue(spec, last));
        if (lo > hi) {
          std::string hint = spec.names == kWeekdayNames.data() ? " (Sunday is 0 or 7)" : "";
          return fieldError(spec, fmt::format("range {} goes backwards; ranges do not wrap, so "
                                              "split it in two with a comma{}",
                                              quoteForMessage(range), hint));
        }
      }
    }
    for (int v = lo; v <= hi; v += step) {
      // Day-of-week 7 is Sunday, stored as 0.
      field.bits |= uint64_t{1} << (v == 7 && spec.max == 7 ? 0 : v);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    pos = comma + 1;
  }
  return field;
}

bool isLeapYear(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int daysInMonth(int year, int month) {
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && isLeapYear(year) ? 29 : kDays[static_cast<size_t>(month - 1)];
}

bool hasBit(uint64_t bits, int i) {
  return i >= 0 && i < 64 && ((bits >> i) & 1U) != 0;
}

// The lowest set bit at or above `from`, or -1.
int nextBit(uint64_t bits, int from) {
  if (from >= 64) {
    return -1;
  }
  uint64_t rest = bits & (~uint64_t{0} << from);
  return rest == 0 ? -1 : std::countr_zero(rest);
}

// The highest set bit at or below `from`, or -1.
int prevBit(uint64_t bits, int from) {
  if (from < 0) {
    return -1;
  }
  uint64_t rest = from >= 63 ? bits : bits & ((uint64_t{1} << (from + 1)) - 1);
  return rest == 0 ? -1 : 63 - std::countl_zero(rest);
}

struct Macro {
  std::string_view name;
  std::string_view expansion;
};
constexpr std::array<Macro, 7> kMacros{{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
}};

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return upper(x) == upper(y); });
}

}  // namespace

bool CivilMinute::valid() const {
  return year >= kMinYear && year <= kMaxYear && month >= 1 && month <= 12 && day >= 1 &&
         day <= daysInMonth(year, month) && hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59;
}

int CivilMinute::weekday() const {
  std::chrono::sys_days date{std::chrono::year{year} /
                             std::chrono::month{static_cast<unsigned>(month)} /
                             std::chrono::day{static_cast<unsigned>(day)}};
  return static_cast<int>(std::chrono::weekday{date}.c_encoding());
}

Result<CronSchedule> CronSchedule::parse(std::string_view text) {
  if (text.size() > kMaxLength) {
    return fail(
        ErrorCode::InvalidArgument,
        fmt::format("schedule is {} characters long; the limit is {}", text.size(), kMaxLength));
  }
  text = trimSpace(text);
  if (text.empty()) {
    return fail(ErrorCode::InvalidArgument,
                "empty schedule; write 5 fields: minute hour day-of-month month day-of-week, "
                "such as \"0 2 * * SUN\"");
  }
  std::string_view fields_text = text;
  if (text.front() == '@') {
    auto macro = std::find_if(kMacros.begin(), kMacros.end(),
                              [&](const Macro& m) { return equalsIgnoreCase(m.name, text); });
    if (macro == kMacros.end()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("unsupported macro {}; use 5 fields or one of @hourly, @daily, "
                              "@midnight, @weekly, @monthly, @yearly, @annually",
                              quoteForMessage(text)));
    }
    fields_text = macro->expansion;
  }

  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < fields_text.size()) {
    while (i < fields_text.size() && isSpace(fields_text[i])) {
      ++i;
    }
    size_t start = i;
    while (i < fields_text.size() && !isSpace(fields_text[i])) {
      ++i;
    }
    if (i > start) {
      parts.push_back(fields_text.substr(start, i - start));
    }
  }
  if (parts.size() != 5) {
    return fail(
        ErrorCode::InvalidArgument,
        fmt::format("expected 5 fields (minute hour day-of-month month day-of-week), "
                    "found {}{}",
                    parts.size(),
                    parts.size() == 6 ? "; seconds and year fields are not supported" : ""));
  }

  CronSchedule cron;
  cron.text_ = std::string(text);
  OPSY_ASSIGN_OR_RETURN(Field minutes, parseField(kMinute, parts[0]));
  OPSY_ASSIGN_OR_RETURN(Field hours, parseField(kHour, parts[1]));
  OPSY_ASSIGN_OR_RETURN(Field days, parseField(kDayOfMonth, parts[2]));
  OPSY_ASSIGN_OR_RETURN(Field months, parseField(kMonth, parts[3]));
  OPSY_ASSIGN_OR_RETURN(Field weekdays, parseField(kDayOfWeek, parts[4]));
  cron.minutes_ = minutes.bits;
  cron.hours_ = static_cast<uint32_t>(hours.bits);
  cron.days_ = static_cast<uint32_t>(days.bits);
  cron.months_ = static_cast<uint16_t>(months.bits);
  cron.weekdays_ = static_cast<uint8_t>(weekdays.bits);
  cron.days_restricted_ = days.restricted;
  cron.weekdays_restricted_ = weekdays.restricted;

  // Only a day-of-month restriction on its own can rule out every day: with both restricted the
  // OR rule lets any weekday through, and every month has every weekday.
  if (cron.days_restricted_ && !cron.weekdays_restricted_) {
    bool possible = false;
    for (int month = 1; month <= 12 && !possible; ++month) {
      // 2000 is a leap year, so February counts its 29th.
      possible = hasBit(cron.months_, month) && prevBit(cron.days_, daysInMonth(2000, month)) >= 1;
    }
    if (!possible) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("schedule never matches: no month in {} has a day in {}",
                              quoteForMessage(parts[3]), quoteForMessage(parts[2])));
    }
  }
  return cron;
}

bool CronSchedule::dayMatches(int day, int weekday) const {
  bool day_ok = hasBit(days_, day);
  bool weekday_ok = hasBit(weekdays_, weekday == 7 ? 0 : weekday);
  if (days_restricted_ && weekdays_restricted_) {
    return day_ok || weekday_ok;
  }
  // The unrestricted one has every bit set, so this is just the restricted one.
  return day_ok && weekday_ok;
}

bool CronSchedule::matches(int minute, int hour, int day, int month, int weekday) const {
  if (weekday < 0 || weekday > 7 || day < 1 || day > 31) {
    return false;
  }
  return hasBit(minutes_, minute) && hasBit(hours_, hour) && hasBit(months_, month) &&
         dayMatches(day, weekday);
}

bool CronSchedule::matches(const CivilMinute& m) const {
  return m.valid() && matches(m.minute, m.hour, m.day, m.month, m.weekday());
}

// Both searches move a whole month, day or hour at a time whenever that unit cannot match, so a
// year is at most a few hundred steps, whatever the schedule.
std::optional<CivilMinute> CronSchedule::next(const CivilMinute& after) const {
  if (!after.valid()) {
    return std::nullopt;
  }
  const int last_year = std::min(after.year + kSearchYears, CivilMinute::kMaxYear);
  CivilMinute c = after;
  // Start at the minute after `after`; the hour step below handles carrying.
  c.minute += 1;
  while (c.year <= last_year) {
    if (c.minute > 59) {
      c.minute = 0;
      c.hour += 1;
    }
    if (c.hour > 23) {
      c.hour = 0;
      c.day += 1;
    }
    if (c.day > daysInMonth(c.year, c.month)) {
      c.day = 1;
      c.month += 1;
    }
    if (c.month > 12) {
      c.month = 1;
      c.year += 1;
      continue;  // re-check the year bound
    }
    if (!hasBit(months_, c.month)) {
      c.month += 1;
      c.day = 1;
      c.hour = 0;
      c.minute = 0;
      if (c.month > 12) {
        c.month = 1;
        c.year += 1;
      }
      continue;
    }
    if (!dayMatches(c.day, c.weekday())) {
      c.day += 1;
      c.hour = 0;
      c.minute = 0;
      continue;
    }
    int hour = nextBit(hours_, c.hour);
    if (hour < 0) {
      c.hour = 24;  // carries into the next day
      c.minute = 0;
      continue;
    }
    if (hour != c.hour) {
      c.hour = hour;
      c.minute = 0;
    }
    int minute = nextBit(minutes_, c.minute);
    if (minute < 0) {
      c.hour += 1;
      c.minute = 0;
      continue;
    }
    c.minute = minute;
    return c;
  }
  return std::nullopt;
}

std::optional<CivilMinute> CronSchedule::lastAtOrBefore(const CivilMinute& at) const {
  return lastAtOrBefore(
      at, CivilMinute{std::max(at.year - kSearchYears, CivilMinute::kMinYear), 1, 1, 0, 0});
}

std::optional<CivilMinute> CronSchedule::lastAtOrBefore(const CivilMinute& at,
                                                        const CivilMinute& earliest) const {
  if (!at.valid()) {
    return std::nullopt;
  }
  CivilMinute c = at;
  while (c >= earliest && c.year >= CivilMinute::kMinYear) {
    // Borrowing: a negative field moves to the end of the unit above it.
    if (c.minute < 0) {
      c.minute = 59;
      c.hour -= 1;
    }
    if (c.hour < 0) {
      c.hour = 23;
      c.day -= 1;
    }
    if (c.day < 1) {
      c.month -= 1;
      if (c.month < 1) {
        c.month = 12;
        c.year -= 1;
        if (c.year < CivilMinute::kMinYear) {
          break;
        }
      }
      c.day = daysInMonth(c.year, c.month);
      continue;  // re-check the bound
    }
    if (!hasBit(months_, c.month)) {
      c.day = 0;  // borrows into the last day of the previous month
      c.hour = 23;
      c.minute = 59;
      continue;
    }
    if (!dayMatches(c.day, c.weekday())) {
      c.day -= 1;
      c.hour = 23;
      c.minute = 59;
      continue;
    }
    int hour = prevBit(hours_, c.hour);
    if (hour < 0) {
      c.hour = -1;
      c.minute = 59;
      continue;
    }
    if (hour != c.hour) {
      c.hour = hour;
      c.minute = 59;
    }
    int minute = prevBit(minutes_, c.minute);
    if (minute < 0) {
      c.hour -= 1;
      c.minute = 59;
      continue;
    }
    c.minute = minute;
    return c >= earliest ? std::optional<CivilMinute>(c) : std::nullopt;
  }
  return std::nullopt;
}

}  // namespace opsy

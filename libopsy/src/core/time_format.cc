#include "opsy/core/time_format.h"

#include <fmt/format.h>

#include <cmath>

namespace opsy {
namespace {

using std::chrono::days;
using std::chrono::microseconds;

struct Civil {
  int year;
  unsigned month, day, hour, minute, second;
  int64_t micros;
};

Civil toCivil(TimePoint t) {
  auto day_point = std::chrono::floor<days>(t);
  std::chrono::year_month_day ymd{std::chrono::sys_days(day_point)};
  auto in_day = t - day_point;
  std::chrono::hh_mm_ss<microseconds> hms{std::chrono::duration_cast<microseconds>(in_day)};
  return Civil{static_cast<int>(ymd.year()),
               static_cast<unsigned>(ymd.month()),
               static_cast<unsigned>(ymd.day()),
               static_cast<unsigned>(hms.hours().count()),
               static_cast<unsigned>(hms.minutes().count()),
               static_cast<unsigned>(hms.seconds().count()),
               hms.subseconds().count()};
}

tl::unexpected<Error> badTime(std::string_view text, std::string_view format) {
  return fail(ErrorCode::InvalidArgument,
              fmt::format("invalid timestamp \"{}\": expected {}", text, format));
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) {
    return false;
  }
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

Result<TimePoint> fromCivil(std::string_view text, std::string_view format, int y, int mo, int d,
                            int h, int mi, int s) {
  std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(mo),
                                  std::chrono::day(d)};
  // RFC 3339 allows a leap second (60); AWS and Kubernetes never send one, so it is refused.
  if (!ymd.ok() || h > 23 || mi > 59 || s > 59) {
    return badTime(text, format);
  }
  return TimePoint(std::chrono::sys_days(ymd)) + std::chrono::hours(h) + std::chrono::minutes(mi) +
         std::chrono::seconds(s);
}

}  // namespace

std::string formatRfc3339(TimePoint t) {
  Civil c = toCivil(t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour,
                     c.minute, c.second);
}

std::string formatRfc3339Millis(TimePoint t) {
  Civil c = toCivil(t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", c.year, c.month, c.day, c.hour,
                     c.minute, c.second, c.micros / 1000);
}

std::string formatMicroTime(TimePoint t) {
  Civil c = toCivil(t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", c.year, c.month, c.day, c.hour,
                     c.minute, c.second, c.micros);
}

Result<TimePoint> parseRfc3339(std::string_view text) {
  constexpr std::string_view kFormat = "RFC 3339 such as 2026-01-02T15:04:05Z";
  int y, mo, d, h, mi, s;
  if (!digits(text, 0, 4, &y) || text.size() < 20 || text[4] != '-' || !digits(text, 5, 2, &mo) ||
      text[7] != '-' || !digits(text, 8, 2, &d) || (text[10] != 'T' && text[10] != 't') ||
      !digits(text, 11, 2, &h) || text[13] != ':' || !digits(text, 14, 2, &mi) || text[16] != ':' ||
      !digits(text, 17, 2, &s)) {
    return badTime(text, kFormat);
  }
  size_t pos = 19;
  int64_t micros = 0;
  if (text[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 6) {
        micros += (text[pos] - '0') * scale;
        scale /= 10;
      }
      ++pos;
    }
    if (pos == start || pos - start > 9) {
      return badTime(text, kFormat);
    }
  }
  if (pos >= text.size()) {
    return badTime(text, kFormat);
  }
  int offset_minutes = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    int oh, om;
    if (!digits(text, pos + 1, 2, &oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !digits(text, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return badTime(text, kFormat);
    }
    offset_minutes = (oh * 60 + om) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return badTime(text, kFormat);
  }
  if (pos != text.size()) {
    return badTime(text, kFormat);
  }
  auto base = fromCivil(text, kFormat, y, mo, d, h, mi, s);
  if (!base) {
    return base;
  }
  TimePoint t = *base + std::chrono::microseconds(micros) - std::chrono::minutes(offset_minutes);
  // An offset can carry 0000-01-01 or 9999-12-31 out of the four-digit years we can write back.
  static const TimePoint kEarliest = TimePoint(std::chrono::sys_days(std::chrono::year_month_day{
      std::chrono::year(1), std::chrono::January, std::chrono::day(1)}));
  static const TimePoint kLatest = TimePoint(std::chrono::sys_days(std::chrono::year_month_day{
      std::chrono::year(10000), std::chrono::January, std::chrono::day(1)}));
  if (t < kEarliest || t >= kLatest) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("invalid timestamp \"{}\": outside years 0001-9999", text));
  }
  return t;
}

namespace {

// Fixed-width digits without a formatting library: every signed AWS request formats two dates.
void putDigits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

}  // namespace

std::string formatAmzDate(TimePoint t) {
  Civil c = toCivil(t);
  std::string out = "00000000T000000Z";
  putDigits(&out[0], static_cast<unsigned>(c.year), 4);
  putDigits(&out[4], c.month, 2);
  putDigits(&out[6], c.day, 2);
  putDigits(&out[9], c.hour, 2);
  putDigits(&out[11], c.minute, 2);
  putDigits(&out[13], c.second, 2);
  return out;
}

Result<TimePoint> parseAmzDate(std::string_view text) {
  constexpr std::string_view kFormat = "YYYYMMDDTHHMMSSZ such as 20150830T123600Z";
  int y, mo, d, h, mi, s;
  if (text.size() != 16 || !digits(text, 0, 4, &y) || !digits(text, 4, 2, &mo) ||
      !digits(text, 6, 2, &d) || text[8] != 'T' || !digits(text, 9, 2, &h) ||
      !digits(text, 11, 2, &mi) || !digits(text, 13, 2, &s) || text[15] != 'Z') {
    return badTime(text, kFormat);
  }
  return fromCivil(text, kFormat, y, mo, d, h, mi, s);
}

std::string formatDateStamp(TimePoint t) {
  Civil c = toCivil(t);
  std::string out = "00000000";
  putDigits(&out[0], static_cast<unsigned>(c.year), 4);
  putDigits(&out[4], c.month, 2);
  putDigits(&out[6], c.day, 2);
  return out;
}

TimePoint fromEpochSeconds(double seconds) {
  return TimePoint(std::chrono::microseconds(static_cast<int64_t>(std::llround(seconds * 1e6))));
}

}  // namespace opsy

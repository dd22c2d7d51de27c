#include "opsy/core/duration.h"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <limits>

namespace opsy {
namespace {

__extension__ using Int128 = __int128;

struct Unit {
  std::string_view name;
  int64_t ms;
};

// Longest names first so "ms" and "mo" win over "m".
constexpr std::array<Unit, 8> kUnits{{
    {"ms", 1},
    {"mo", 30LL * 24 * 3600 * 1000},
    {"s", 1000},
    {"m", 60LL * 1000},
    {"h", 3600LL * 1000},
    {"d", 24LL * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"y", 365LL * 24 * 3600 * 1000},
}};

constexpr std::string_view kValidUnits = "ms, s, m, h, d, w, mo, y";

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isUnitChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\xc2' || c == '\xb5';
}

tl::unexpected<Error> invalid(std::string_view text, std::string_view why) {
  return fail(ErrorCode::InvalidArgument, fmt::format("invalid duration \"{}\": {}", text, why));
}

}  // namespace

Result<Duration> parseDuration(std::string_view text) {
  if (text.empty()) {
    return invalid(text, "empty value; write a number and a unit such as 30m, 48h or 7d");
  }
  size_t i = 0;
  if (text[0] == '-') {
    return invalid(text, "negative durations are not allowed");
  }
  if (text[0] == '+') {
    i = 1;
  }
  if (i == text.size()) {
    return invalid(text, "missing number");
  }
  const Int128 kMax = std::numeric_limits<int64_t>::max();
  Int128 total_ms = 0;
  while (i < text.size()) {
    // Integer part.
    Int128 whole = 0;
    size_t start = i;
    while (i < text.size() && isDigit(text[i])) {
      whole = whole * 10 + (text[i] - '0');
      if (whole > kMax) {
        return invalid(text, "value is too large");
      }
      ++i;
    }
    bool has_whole = i > start;
    // Fraction part.
    Int128 frac = 0;
    Int128 frac_scale = 1;
    bool has_frac = false;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && isDigit(text[i])) {
        if (frac_scale < static_cast<Int128>(1000000000000000000LL)) {  // 18 digits suffice
          frac = frac * 10 + (text[i] - '0');
          frac_scale *= 10;
        }
        has_frac = true;
        ++i;
      }
    }
    if (!has_whole && !has_frac) {
      return invalid(text, fmt::format("expected a number at position {}", start + 1));
    }
    // Unit.
    size_t unit_start = i;
    while (i < text.size() && isUnitChar(text[i])) {
      ++i;
    }
    std::string_view unit_text = text.substr(unit_start, i - unit_start);
    if (unit_text.empty()) {
      return invalid(text, fmt::format("missing unit after \"{}\" (valid units: {})",
                                       text.substr(start, i - start), kValidUnits));
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (u.name == unit_text) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) {
      return invalid(text,
                     fmt::format("unknown unit \"{}\" (valid units: {})", unit_text, kValidUnits));
    }
    Int128 part = whole * unit->ms + (frac * unit->ms) / frac_scale;
    if (whole > kMax / unit->ms || part > kMax || total_ms + part > kMax) {
      return invalid(text, "value is too large");
    }
    total_ms += part;
  }
  if (total_ms <= 0) {
    return invalid(text, "must be greater than zero (at least 1ms)");
  }
  return Duration(static_cast<int64_t>(total_ms));
}

std::string formatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) {
    return "0s";
  }
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  constexpr std::array<Unit, 5> kFormatUnits{{{"d", 24LL * 3600 * 1000},
                                              {"h", 3600LL * 1000},
                                              {"m", 60LL * 1000},
                                              {"s", 1000},
                                              {"ms", 1}}};
  for (const Unit& u : kFormatUnits) {
    if (ms >= u.ms) {
      out += fmt::format("{}{}", ms / u.ms, u.name);
      ms %= u.ms;
    }
  }
  return out;
}

}  // namespace opsy

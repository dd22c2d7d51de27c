// File: duration.h
//
// Durations as users write them in a spec: Go-style compound values ("90s", "1h30m", "1.5h")
// plus the calendar-ish units operators expect for expiry ("d" = 24h, "w" = 7d, "mo" = 30d,
// "y" = 365d). "m" is always minutes. Empty, zero, negative, unknown-unit and overflowing input
// is an error that says what was wrong, never a silent 0.
//
//   OPSY_ASSIGN_OR_RETURN(Duration ttl, parseDuration(spec.expiresIn));
//   status.message = "expires in " + formatDuration(ttl);  // "9d"
#pragma once

#include <string>
#include <string_view>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy {

// Parses a positive duration. Units: ms s m h d w mo y. Values may have a decimal fraction; the
// result is truncated to whole milliseconds and must be at least 1 ms.
[[nodiscard]] Result<Duration> parseDuration(std::string_view text);

// Formats with the units d, h, m, s and ms, largest first, omitting zero parts: 36h -> "1d12h",
// 90s -> "1m30s", 1500ms -> "1s500ms", zero -> "0s". The output parses back to the same value.
std::string formatDuration(Duration d);

}  // namespace opsy

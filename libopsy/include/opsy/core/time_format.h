// File: time_format.h
//
// The timestamp formats on our wires: RFC 3339 (AMI tags, Kubernetes Time, AWS ISO-8601 JSON and
// XML), Kubernetes MicroTime (events, leases), and SigV4's compact forms. All output is UTC.
//
//   tags["create-timestamp"] = formatRfc3339(clock.now());        // 2026-11-21T05:35:00Z
//   OPSY_ASSIGN_OR_RETURN(TimePoint t, parseRfc3339(image.tags.at("create-timestamp")));
#pragma once

#include <string>
#include <string_view>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy {

// "2026-11-21T05:35:00Z" (seconds precision, the Kubernetes metav1.Time form).
std::string formatRfc3339(TimePoint t);
// "2026-11-21T05:35:00.123Z" (millisecond fraction, the AWS and JavaScript form).
std::string formatRfc3339Millis(TimePoint t);
// "2026-11-21T05:35:00.123456Z" (Kubernetes metav1.MicroTime).
std::string formatMicroTime(TimePoint t);
// Accepts RFC 3339 with or without a fraction (up to 9 digits, truncated to microseconds), with
// "Z"/"z" or a "+hh:mm"/"-hh:mm" offset. MicroTime is a subset.
[[nodiscard]] Result<TimePoint> parseRfc3339(std::string_view text);

// SigV4 x-amz-date: "20150830T123600Z".
std::string formatAmzDate(TimePoint t);
[[nodiscard]] Result<TimePoint> parseAmzDate(std::string_view text);
// SigV4 credential-scope date: "20150830".
std::string formatDateStamp(TimePoint t);

// Seconds since the Unix epoch (EKS returns timestamps as JSON numbers, possibly fractional).
TimePoint fromEpochSeconds(double seconds);

}  // namespace opsy

// File: maintenance_window.h
//
// Maintenance windows for AMI rollouts: a cron schedule read in an IANA time zone, each match
// opening a window for a fixed duration. A controller asks whether a rollout may start now, and if
// not, when to look again.
//
//   OPSY_ASSIGN_OR_RETURN(MaintenanceWindow w, MaintenanceWindow::parse(
//       {.schedule = "0 22 * * SAT", .duration = "6h", .time_zone = "Europe/Berlin"}));
//   WindowState state = windowState({w}, clock.now());
//   if (!state.open && state.next_opens_at) requeueAt(*state.next_opens_at);
//
// Semantics. Each schedule match, read as a wall-clock time in the window's zone, opens a window
// lasting `duration` of real (absolute) time, so a 6h window across a DST change still lasts 6h.
// Daylight saving time:
//   - a start that does not exist locally (the spring-forward gap: 02:30 on the day clocks jump
//     from 02:00 to 03:00) opens when the gap ends, at 03:00 local; starts inside one gap that
//     land on the same instant open one window;
//   - a start that happens twice (fall-back: 01:30 when clocks go from 02:00 back to 01:00) opens
//     once, at the first occurrence (still on summer time).
// Windows of one schedule may overlap (duration longer than the schedule's period); containing()
// reports the occurrence that started last, which is also the one that ends last.
//
// Time zones are IANA names ("Europe/Berlin"), read from the tz database in /usr/share/zoneinfo
// (Debian package tzdata) through libcctz. An empty name and "UTC" mean UTC and work without the
// database; any other name needs it, so a container image without tzdata refuses every zone but
// UTC ("unknown time zone"). Names that are not plain IANA-style paths ("localtime", absolute or
// relative paths, POSIX TZ strings) are refused, so a window never depends on the host's zone.
//
// Times before year 1 or after year 9999 (local) have no windows.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/cron.h"
#include "opsy/core/result.h"

namespace opsy {

// A window as written in a custom resource.
struct MaintenanceWindowSpec {
  std::string schedule;   // 5-field cron (cron.h)
  std::string duration;   // duration.h syntax, 1m to 7d
  std::string time_zone;  // IANA name; empty = "UTC"
};

// [start, end): open at `start`, closed again at `end`.
struct Interval {
  TimePoint start;
  TimePoint end;

  bool contains(TimePoint t) const { return start <= t && t < end; }
  bool operator==(const Interval&) const = default;
};

class MaintenanceWindow {
 public:
  static constexpr Duration kMinDuration = std::chrono::minutes(1);
  static constexpr Duration kMaxDuration = std::chrono::hours(24 * 7);

  // Errors are InvalidArgument and start with the spec field at fault: "schedule: ...",
  // "duration: ...", "timeZone: unknown time zone \"Mars/Base\"".
  [[nodiscard]] static Result<MaintenanceWindow> parse(const MaintenanceWindowSpec& spec);

  // The occurrence containing t, if any.
  std::optional<Interval> containing(TimePoint t) const;
  // The first occurrence starting strictly after t; nullopt when the schedule has none within its
  // search bound (CronSchedule::kSearchYears).
  std::optional<Interval> nextStart(TimePoint t) const;

  const CronSchedule& schedule() const;
  Duration duration() const;
  // "UTC" when the spec left it empty.
  const std::string& timeZone() const;

 private:
  struct Impl;
  explicit MaintenanceWindow(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

  // Immutable once parsed, so copies share it.
  std::shared_ptr<const Impl> impl_;
};

// Where a set of windows stands at one instant.
struct WindowState {
  // Some window contains now.
  bool open = false;
  // When open: the latest end among the windows containing now. A window that starts before that
  // and runs longer is not chained in; ask again at closes_at.
  std::optional<TimePoint> closes_at;
  // The earliest start strictly after now among all windows, open or not; nullopt when none
  // starts within the search bound (or the list is empty).
  std::optional<TimePoint> next_opens_at;
};

WindowState windowState(const std::vector<MaintenanceWindow>& windows, TimePoint now);

}  // namespace opsy

#include "opsy/core/maintenance_window.h"

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>
#include <fmt/format.h>

#include <algorithm>
#include <string_view>

#include "opsy/core/duration.h"
#include "opsy/core/strings.h"

namespace opsy {

struct MaintenanceWindow::Impl {
  CronSchedule schedule;
  Duration duration;
  std::string zone_name;
  cctz::time_zone zone;
};

namespace {

using CivilLookup = cctz::time_zone::civil_lookup;
using std::chrono::seconds;

// IANA names are paths under the zoneinfo directory. cctz would also open "localtime" (the
// host's zone), absolute paths and "file:" names; none of those belongs in a custom resource.
bool isZoneName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "localtime") {
    return false;
  }
  bool component_start = true;
  for (char c : name) {
    if (c == '/') {
      if (component_start) {
        return false;  // leading slash or empty component
      }
      component_start = true;
      continue;
    }
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '+';
    if (!plain && !(c == '.' && !component_start)) {
      return false;  // also refuses "." and ".." components
    }
    component_start = false;
  }
  return !component_start;
}

std::optional<CivilMinute> fromCctz(const cctz::civil_minute& m) {
  if (m.year() < CivilMinute::kMinYear || m.year() > CivilMinute::kMaxYear) {
    return std::nullopt;
  }
  return CivilMinute{static_cast<int>(m.year()), m.month(), m.day(), m.hour(), m.minute()};
}

cctz::civil_minute toCctz(const CivilMinute& m) {
  return cctz::civil_minute(m.year, m.month, m.day, m.hour, m.minute);
}

// The instant a schedule match at wall-clock minute `m` opens (the header's DST rules).
TimePoint openingInstant(const cctz::time_zone& zone, const CivilMinute& m) {
  const CivilLookup cl = zone.lookup(cctz::civil_second(toCctz(m)));
  // Skipped: `trans` is where the gap ends. Repeated: `pre` is the first occurrence.
  const auto at = cl.kind == CivilLookup::SKIPPED ? cl.trans : cl.pre;
  return std::chrono::time_point_cast<std::chrono::microseconds>(at);
}

// The last wall-clock minute whose opening instant is at or before t. openingInstant() never
// decreases as the wall clock advances (cctz guarantees it for convert(), which it mirrors), so
// every later minute opens after t: searching back from here finds the last start at or before t,
// and searching forward the first start after it.
std::optional<CivilMinute> lastMinuteOpenedBy(const cctz::time_zone& zone, TimePoint t) {
  const auto secs = std::chrono::floor<seconds>(t);
  cctz::civil_second cs = cctz::convert(secs, zone);
  const CivilLookup cl = zone.lookup(cs);
  if (cl.kind == CivilLookup::REPEATED && secs >= cl.trans) {
    // The second pass through a repeated hour: every minute of it opened on the first pass, up to
    // the last one before the clocks went back.
    cs = cctz::convert(cl.trans - seconds(1), zone);
  }
  return fromCctz(cctz::civil_minute(cs));
}

}  // namespace

Result<MaintenanceWindow> MaintenanceWindow::parse(const MaintenanceWindowSpec& spec) {
  auto cron = CronSchedule::parse(spec.schedule);
  if (!cron) {
    return fail(std::move(cron).error().context("schedule"));
  }
  auto duration = parseDuration(spec.duration);
  if (!duration) {
    return fail(std::move(duration).error().context("duration"));
  }
  if (*duration < kMinDuration || *duration > kMaxDuration) {
    return fail(
        ErrorCode::InvalidArgument,
        fmt::format("duration: {} is {} than the {} {}; a window lasts from 1m to 7d",
                    quoteForMessage(spec.duration), *duration < kMinDuration ? "shorter" : "longer",
                    *duration < kMinDuration ? "minimum" : "maximum",
                    formatDuration(*duration < kMinDuration ? kMinDuration : kMaxDuration)));
  }
  std::string zone_name = spec.time_zone.empty() ? "UTC" : spec.time_zone;
  cctz::time_zone zone;
  if (zone_name == "UTC") {
    zone = cctz::utc_time_zone();  // needs no tz database
  } else if (!isZoneName(zone_name) || !cctz::load_time_zone(zone_name, &zone)) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("timeZone: unknown time zone {}; use an IANA name such as "
                            "\"Europe/Berlin\" or \"UTC\"",
                            quoteForMessage(zone_name)));
  }
  return MaintenanceWindow(
      std::make_shared<const Impl>(Impl{std::move(*cron), *duration, std::move(zone_name), zone}));
}

std::optional<Interval> MaintenanceWindow::containing(TimePoint t) const {
  const Impl& w = *impl_;
  std::optional<CivilMinute> last = lastMinuteOpenedBy(w.zone, t);
  if (!last) {
    return std::nullopt;
  }
  // A start that could still be open is less than `duration` before t; the wall clock differs from
  // UTC by less than a day either way, so two extra days of wall-clock time cover any zone.
  const auto span = std::chrono::ceil<std::chrono::minutes>(w.duration) + std::chrono::hours(48);
  const CivilMinute earliest = fromCctz(toCctz(*last) - span.count())
                                   .value_or(CivilMinute{CivilMinute::kMinYear, 1, 1, 0, 0});
  std::optional<CivilMinute> start = w.schedule.lastAtOrBefore(*last, earliest);
  while (start) {
    TimePoint opens = openingInstant(w.zone, *start);
    if (opens <= t) {
      // The latest start at or before t also ends last: if it is closed, so is every other.
      if (t < opens + w.duration) {
        return Interval{opens, opens + w.duration};
      }
      return std::nullopt;
    }
    // Only zones whose historical offsets have seconds can put a minute's opening past t; step
    // back over it.
    std::optional<CivilMinute> before = fromCctz(toCctz(*start) - 1);
    if (!before) {
      return std::nullopt;
    }
    start = w.schedule.lastAtOrBefore(*before, earliest);
  }
  return std::nullopt;
}

std::optional<Interval> MaintenanceWindow::nextStart(TimePoint t) const {
  const Impl& w = *impl_;
  std::optional<CivilMinute> last = lastMinuteOpenedBy(w.zone, t);
  if (!last) {
    return std::nullopt;
  }
  for (std::optional<CivilMinute> start = w.schedule.next(*last); start;
       start = w.schedule.next(*start)) {
    TimePoint opens = openingInstant(w.zone, *start);
    // Normally true at once; see containing() for the exception.
    if (opens > t) {
      return Interval{opens, opens + w.duration};
    }
  }
  return std::nullopt;
}

const CronSchedule& MaintenanceWindow::schedule() const {
  return impl_->schedule;
}

Duration MaintenanceWindow::duration() const {
  return impl_->duration;
}

const std::string& MaintenanceWindow::timeZone() const {
  return impl_->zone_name;
}

WindowState windowState(const std::vector<MaintenanceWindow>& windows, TimePoint now) {
  WindowState state;
  for (const MaintenanceWindow& window : windows) {
    if (std::optional<Interval> open = window.containing(now)) {
      state.open = true;
      state.closes_at = std::max(state.closes_at.value_or(open->end), open->end);
    }
    if (std::optional<Interval> next = window.nextStart(now)) {
      state.next_opens_at = std::min(state.next_opens_at.value_or(next->start), next->start);
    }
  }
  return state;
}

}  // namespace opsy

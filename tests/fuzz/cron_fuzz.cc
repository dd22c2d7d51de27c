// The cron parser and the window calculator on hostile schedules: any bytes must neither crash nor
// break the promises the headers make. Whatever parses has a next match (never-matching schedules
// are refused), every answer matches the schedule, and windows contain and follow the time asked
// about, in zones with and without DST changes at the fixed instants used.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "opsy/core/cron.h"
#include "opsy/core/maintenance_window.h"
#include "opsy/core/time_format.h"

namespace {

void require(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void checkSchedule(const opsy::CronSchedule& cron, const opsy::CivilMinute& at) {
  std::optional<opsy::CivilMinute> next = cron.next(at);
  require(next.has_value());
  require(*next > at && cron.matches(*next));
  std::optional<opsy::CivilMinute> last = cron.lastAtOrBefore(at);
  if (last) {
    require(*last <= at && cron.matches(*last));
    require(cron.next(*last) == next);  // nothing matches between the two
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cron = opsy::CronSchedule::parse(text);
  if (!cron) {
    require(!cron.error().message.empty());
    return 0;
  }
  // A leap day, the end of a year, and a time just before a February 29th that is 8 years away.
  checkSchedule(*cron, {2028, 2, 29, 23, 59});
  checkSchedule(*cron, {2026, 12, 31, 23, 59});
  checkSchedule(*cron, {2096, 3, 1, 0, 0});

  // Sizes pick a zone and a duration so the corpus explores them without a second input format.
  static constexpr std::array<const char*, 4> kZones{"UTC", "America/New_York", "Europe/Berlin",
                                                     "Australia/Lord_Howe"};
  static constexpr std::array<const char*, 4> kDurations{"1m", "45m", "25h", "7d"};
  auto window = opsy::MaintenanceWindow::parse(
      {std::string(text), kDurations[(size / 4) % 4], kZones[size % 4]});
  if (!window) {
    // Only a zone missing from this machine's tz database can refuse what CronSchedule accepted.
    require(window.error().message.find("timeZone:") == 0);
    return 0;
  }
  // The New York fall-back change, in its second pass, and the spring-forward gap.
  for (std::string_view instant : {"2026-11-01T06:30:00Z", "2026-03-08T07:00:00Z"}) {
    opsy::TimePoint t = *opsy::parseRfc3339(instant);
    if (auto open = window->containing(t)) {
      require(open->contains(t) && open->end - open->start == window->duration());
    }
    if (auto next = window->nextStart(t)) {
      require(next->start > t);
      auto again = window->containing(next->start);
      require(again.has_value() && again->start == next->start);
    }
  }
  return 0;
}

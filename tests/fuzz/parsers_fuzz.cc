// Fuzzes the parsers that read user input (spec durations) and wire input (timestamps from AWS and
// Kubernetes): they must never crash, and whatever they accept must round-trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "opsy/core/duration.h"
#include "opsy/core/time_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto d = opsy::parseDuration(text)) {
    if (d->count() <= 0) {
      std::abort();
    }
    auto back = opsy::parseDuration(opsy::formatDuration(*d));
    if (!back || *back != *d) {
      std::abort();
    }
  }
  if (auto t = opsy::parseRfc3339(text)) {
    auto back = opsy::parseRfc3339(opsy::formatMicroTime(*t));
    if (!back || *back != *t) {
      std::abort();
    }
  }
  (void)opsy::parseAmzDate(text);  // any answer will do; only a crash is a finding
  return 0;
}

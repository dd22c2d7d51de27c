// Parsing costs on hot paths: durations are parsed on every reconcile, timestamps for every image
// of every DescribeImages page, and every log line is scrubbed.
#include <benchmark/benchmark.h>

#include "opsy/core/duration.h"
#include "opsy/core/log.h"
#include "opsy/core/time_format.h"

namespace {

void BM_ParseDuration(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(opsy::parseDuration("1w2d3h4m5s"));
  }
}
BENCHMARK(BM_ParseDuration);

void BM_ParseRfc3339(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(opsy::parseRfc3339("2026-11-21T05:35:00.123456Z"));
  }
}
BENCHMARK(BM_ParseRfc3339);

void BM_ScrubLogLine(benchmark::State& state) {
  const std::string line =
      "2026-11-21T05:35:00.123Z info aws request sent operation=DescribeImages code=200 "
      "request_id=7f4c1a2e-0000-4000-8000-000000000000 duration_ms=42";
  for (auto _ : state) {
    benchmark::DoNotOptimize(opsy::log::scrub(line));
  }
}
BENCHMARK(BM_ScrubLogLine);

}  // namespace

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

// The scrubber's cost per byte from a 100-byte line to a 1 MiB error body: linear, so the
// bytes/second figure should stay flat across sizes. The text mixes ordinary words with the
// keywords the scrubber looks at (token=, authorization:, a URL with a password).
void BM_ScrubBytes(benchmark::State& state) {
  const std::string unit =
      "error calling https://api.example.com/v1/things?limit=500 token=abc123secretvalue "
      "authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln "
      "https://user:pa55word@git.example.com/repo.git failed with status 503; ";
  std::string text;
  while (text.size() < static_cast<size_t>(state.range(0))) {
    text += unit;
  }
  text.resize(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(opsy::log::scrub(text));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ScrubBytes)->Arg(100)->Arg(200)->Arg(1 << 10)->Arg(16 << 10)->Arg(1 << 20);

}  // namespace

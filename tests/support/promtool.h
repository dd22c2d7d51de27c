// File: promtool.h
//
// Runs Prometheus's own linter, `promtool check metrics`, on a text exposition, so tests can hold
// what a process serves on /metrics to the rules Prometheus applies (names, HELP, units, counter
// suffixes). Also sums sample values of one family, for asserting that real work was counted.
// promtool comes from the Debian package prometheus (scripts/bootstrap installs it).
//
//   if (!promtoolAvailable()) GTEST_SKIP() << "promtool missing; scripts/bootstrap installs it";
//   PromtoolResult r = promtoolCheckMetrics(text);  // r.exit_code == 0 && r.problems().empty()
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace opsy::testing {

struct PromtoolResult {
  // promtool's exit status; -1 when it could not be run.
  int exit_code = -1;
  // stdout and stderr together.
  std::string output;

  // Every non-empty output line: a clean exposition yields none.
  std::vector<std::string> problems() const;
};

// True when `promtool` is on PATH.
bool promtoolAvailable();

// Writes `exposition` to a temporary file and feeds it to `promtool check metrics` on stdin.
PromtoolResult promtoolCheckMetrics(std::string_view exposition);

// The sum of the samples of metric `name` (exact name, so `x_total` does not match `x_total_y`)
// whose label text contains `label_part` (e.g. `controller="ami-refresh"`; empty matches all).
// Returns -1 when no such sample exists.
double sampleSum(std::string_view exposition, std::string_view name,
                 std::string_view label_part = "");

struct MetricSelector {
  std::string_view name;
  std::string_view label_part;  // as for sampleSum
};

// The selectors of `wanted` whose samples do not sum above zero, as "name{label_part}": empty once
// every one has counted something. Counters move after the status a test waits for is written,
// so tests poll until this is empty.
std::vector<std::string> uncounted(std::string_view exposition,
                                   const std::vector<MetricSelector>& wanted);

}  // namespace opsy::testing

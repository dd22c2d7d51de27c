// File: scale.h
//
// The scale benchmark's driver, shared by the `scale_bench` binary (scripts/bench) and the N=100
// smoke test in ctest: it starts FakeKube and FakeAws in this process and one real controller
// binary as a child, creates N custom resources in a cold world (nothing built or rolled) or a
// steady one (everything built and on target), and measures what the controller costs: time to
// caches synced, to N reconciles and to idle; requests per idle controllerTimer by verb and
// operation; memory, threads and CPU at idle; CR -> Job (or -> node group update) latency.
//
//   ScaleResult r = runScale({.controller = ScaleController::PackerBuilder, .n = 100, ...});
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace opsy::bench {

enum class ScaleController { PackerBuilder, AmiRefresh };
enum class ScaleWorld { Cold, Steady };

std::string toString(ScaleController c);
std::string toString(ScaleWorld w);

struct ScaleOptions {
  ScaleController controller = ScaleController::PackerBuilder;
  ScaleWorld world = ScaleWorld::Steady;
  int n = 1;
  // Every resource's spec.timeOuts.controllerTimer, and the idle window counted.
  std::chrono::seconds period{10};
  // The controller binary to run (release build for numbers, the test build in ctest).
  std::string binary;
  // The repository root (for crds/).
  std::string source_dir;
  // Refreshers: each cluster has `groups` node groups, each rolled by its own refresher (the
  // others excluded): refresher i rolls group i % groups of cluster i / groups.
  int groups = 3;
  // Resources created into the idle world to time CR -> Job (builders) or CR -> first
  // UpdateNodegroupVersion (refreshers); 0 skips it.
  int latency_samples = 50;
  // Steady world: let a first controller reach idle, then measure a restarted one.
  bool restart = true;
  // Bounds every wait; a phase that runs out is reported, not waited for.
  std::chrono::seconds sync_timeout{120};
  std::chrono::seconds idle_timeout{300};
  // No Kubernetes or AWS write for this long (and an empty work queue) is idle.
  std::chrono::milliseconds quiet{3000};
  // Controller logs and the kubeconfig go here; a fresh temporary directory when empty.
  std::string work_dir;
  // The controller's --log-level (its log is <work_dir>/<warmup|measured>.log).
  std::string log_level = "info";
  // Extra environment entries for the controller (sanitizer options).
  std::vector<std::string> extra_env;
  std::function<void(const std::string&)> progress;  // phase messages; may be empty
};

// Requests per key ("get packerbuilders", "DescribeImages us-west-2").
using Counts = std::map<std::string, long>;

struct ScaleResult {
  ScaleController controller = ScaleController::PackerBuilder;
  ScaleWorld world = ScaleWorld::Steady;
  int n = 0;
  int period_seconds = 0;
  int clusters = 0;
  int groups = 0;
  bool restarted = false;
  // Empty when the run got through; otherwise what failed ("never idle within 300 s").
  std::string error;

  // Seconds from the (measured) controller's start. nullopt: not reached within the timeout.
  std::optional<double> warmup_idle_s;  // steady world: the first controller, before the restart
  std::optional<double> synced_s;       // /readyz 200: every informer cache synced
  std::optional<double> reconciled_s;   // opsy_reconcile_total >= N
  std::optional<double> idle_s;         // empty queue and no writes for `quiet`

  // Requests of the measured controller from its start to idle (the restart's cost).
  Counts startup_kube;
  Counts startup_aws;

  // One idle period (one controllerTimer) after idle.
  double window_s = 0;
  long reconciles = 0;  // opsy_reconcile_total delta over the window
  Counts kube;          // "<verb> <resource>[/<subresource>]"
  Counts aws;           // "<operation> <region>"
  long kube_reads = 0;  // get + list
  long kube_writes = 0;
  long kube_watches = 0;
  long aws_calls = 0;
  long describe_images_max_per_region = 0;

  // At idle, after the window.
  long rss_bytes = 0;
  long hwm_bytes = 0;
  long private_bytes = 0;
  int threads = 0;
  double cpu_seconds_per_hour = 0;
  long metrics_bytes = 0;
  // Steady world, at idle: resources whose Ready condition is not True, by its reason.
  Counts not_ready;

  // CR -> Job (builders) / CR -> first UpdateNodegroupVersion (refreshers), milliseconds.
  std::vector<double> latencies_ms;
  std::optional<double> latency_p50_ms;
  std::optional<double> latency_p99_ms;
  std::string latency_note;
};

// Runs one (controller, world, N). Never throws; failures are in `error` with what was measured.
ScaleResult runScale(const ScaleOptions& options);

// Kills (SIGKILL) the controller a runScale() in this process is running, if any. Only
// async-signal-safe calls: for a SIGINT/SIGTERM handler, so an interrupted benchmark leaves no
// controller behind.
void killRunningController();

// The results as JSON (an object with "runs": [...]) and as one table for a terminal.
std::string toJson(const std::vector<ScaleResult>& results);
std::string formatTable(const std::vector<ScaleResult>& results);
// The goals against these results, one line each: met, missed or not measured.
std::string formatGoals(const std::vector<ScaleResult>& results);

// Parses a Prometheus text exposition: the sum of every sample of `family` whose label text
// contains `label_part` (empty: every sample).
double sumSamples(const std::string& exposition, const std::string& family,
                  const std::string& label_part = "");

}  // namespace opsy::bench

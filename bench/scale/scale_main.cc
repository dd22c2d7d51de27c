// scale_bench: runs the scale benchmark (bench/scale/scale.h) over a matrix of controllers,
// worlds and N, prints one table and the goals, and writes the results as JSON.
// scripts/bench builds and runs it on the release binaries; `scale_bench --help` lists the flags.
#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "opsy/core/flags.h"
#include "scale/scale.h"

namespace {

using opsy::bench::ScaleController;
using opsy::bench::ScaleWorld;

// Splits "a,b" (also accepting repeated flags already collected into a list).
std::vector<std::string> items(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& v : values) {
    std::size_t start = 0;
    while (start <= v.size()) {
      std::size_t end = v.find(',', start);
      if (end == std::string::npos) {
        end = v.size();
      }
      if (end > start) {
        out.push_back(v.substr(start, end - start));
      }
      start = end + 1;
    }
  }
  return out;
}

// Ctrl-C or a timeout's SIGTERM: no controller may outlive the benchmark.
void interrupted(int sig) {
  opsy::bench::killRunningController();
  ::_exit(128 + sig);
}

int usageError(const std::string& message) {
  std::fprintf(stderr, "scale_bench: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> controllers;
  std::vector<std::string> worlds;
  std::vector<std::string> ns;
  int period = 10;
  int large_n_period = 60;
  int groups = 3;
  int latency_samples = 50;
  int idle_timeout = 240;
  int cold_max_n = 10000;
  bool restart = true;
  std::string bin_dir;
  std::string source_dir = OPSY_SOURCE_DIR;
  std::string out;
  std::string work_dir;
  std::string log_level = "info";

  opsy::FlagSet flags("scale_bench", "0", "The scale benchmark of both controllers on the fakes.");
  flags.addStringList("controller", &controllers,
                      "packer-builder, ami-refresh (repeatable or comma-separated; default both).");
  flags.addStringList("world", &worlds, "cold, steady (default both).");
  flags.addStringList("n", &ns, "Resource counts (default 1,100,1000,10000).");
  flags.addInt("period", &period,
               "Seconds: every resource's controllerTimer and the idle window counted.");
  flags.addInt("large-n-period", &large_n_period,
               "Seconds: the controllerTimer and idle window for N above 1000 (at 10 s a "
               "controller cannot get through 10,000 resources in one period); 0 = --period.");
  flags.addInt("groups", &groups,
               "Refreshers: node groups per cluster, each rolled by its own refresher (N "
               "refreshers: N / groups clusters).");
  flags.addInt("latency-samples", &latency_samples,
               "Resources created into the steady world to time CR -> Job (0 skips it).");
  flags.addInt("idle-timeout", &idle_timeout,
               "Seconds a controller may take to become idle before the run is reported as never "
               "idle.");
  flags.addInt("cold-max-n", &cold_max_n,
               "Cold-world runs above this N are skipped (reported as such).");
  flags.addBool("restart", &restart,
                "Steady world: measure a restarted controller (the first one reaches idle).");
  flags.addString("bin-dir", &bin_dir,
                  "Build directory holding the controller binaries (default: this binary's).");
  flags.addString("source-dir", &source_dir, "Repository root (for crds/).");
  flags.addString("work-dir", &work_dir,
                  "Keep each run's kubeconfig and controller logs under this directory "
                  "(default: a temporary directory, removed).");
  flags.addString("log-level", &log_level, "The controller's --log-level.");
  flags.addString("out", &out, "JSON output path (default <bin-dir>/bench/scale.json).");
  auto outcome = flags.parse(argc, argv);
  if (!outcome) {
    return usageError(outcome.error().message);
  }
  if (*outcome != opsy::FlagSet::Outcome::Run) {
    return 0;
  }
  if (bin_dir.empty()) {
    bin_dir = OPSY_BINARY_DIR;
  }
  if (out.empty()) {
    out = bin_dir + "/bench/scale.json";
  }
  controllers = items(controllers);
  worlds = items(worlds);
  ns = items(ns);
  if (controllers.empty()) {
    controllers = {"packer-builder", "ami-refresh"};
  }
  if (worlds.empty()) {
    worlds = {"cold", "steady"};
  }
  if (ns.empty()) {
    ns = {"1", "100", "1000", "10000"};
  }
  if (period < 1 || groups < 1) {
    return usageError("--period and --groups must be at least 1");
  }

  ::signal(SIGINT, interrupted);
  ::signal(SIGTERM, interrupted);
  std::vector<opsy::bench::ScaleResult> results;
  const auto started = std::chrono::steady_clock::now();
  for (const std::string& c : controllers) {
    ScaleController controller;
    if (c == "packer-builder") {
      controller = ScaleController::PackerBuilder;
    } else if (c == "ami-refresh") {
      controller = ScaleController::AmiRefresh;
    } else {
      return usageError("unknown --controller " + c);
    }
    const std::string binary = bin_dir + "/" + c + "-controller/" + c + "-controller";
    if (!std::filesystem::exists(binary)) {
      return usageError(binary + " does not exist; build it first (scripts/bench does)");
    }
    for (const std::string& w : worlds) {
      if (w != "cold" && w != "steady") {
        return usageError("unknown --world " + w);
      }
      const ScaleWorld world = w == "cold" ? ScaleWorld::Cold : ScaleWorld::Steady;
      for (const std::string& n_text : ns) {
        const int n = std::atoi(n_text.c_str());
        if (n < 1) {
          return usageError("bad --n " + n_text);
        }
        const int run_period = n > 1000 && large_n_period > 0 ? large_n_period : period;
        if (world == ScaleWorld::Cold && n > cold_max_n) {
          opsy::bench::ScaleResult skipped;
          skipped.controller = controller;
          skipped.world = world;
          skipped.n = n;
          skipped.period_seconds = run_period;
          skipped.error =
              fmt::format("skipped: cold runs are capped at N={} (--cold-max-n)", cold_max_n);
          results.push_back(skipped);
          continue;
        }
        opsy::bench::ScaleOptions o{
            .controller = controller,
            .world = world,
            .n = n,
            .period = std::chrono::seconds(run_period),
            .binary = binary,
            .source_dir = source_dir,
            .groups = groups,
            .latency_samples = latency_samples,
            .restart = restart,
            .idle_timeout = std::chrono::seconds(idle_timeout),
            .work_dir = work_dir.empty() ? "" : fmt::format("{}/{}-{}-{}", work_dir, c, w, n),
            .log_level = log_level,
            .progress = [&](const std::string& what) {
              const double at =
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
              std::fprintf(stderr, "[%6.1f s] %s\n", at, what.c_str());
            }};
        results.push_back(opsy::bench::runScale(o));
        if (!results.back().error.empty()) {
          std::fprintf(stderr, "scale_bench: %s %s N=%d: %s\n", c.c_str(), w.c_str(), n,
                       results.back().error.c_str());
        }
      }
    }
  }

  std::filesystem::create_directories(std::filesystem::path(out).parent_path());
  std::ofstream(out) << opsy::bench::toJson(results);
  std::printf("%s\n%s\nJSON: %s\n", opsy::bench::formatTable(results).c_str(),
              opsy::bench::formatGoals(results).c_str(), out.c_str());
  return 0;
}

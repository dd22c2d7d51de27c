// File: metrics.h
//
// The Prometheus metrics every controller exposes, under one registry per process. Names and
// labels are fixed here so dashboards and alerts can rely on them (docs/metrics.md): reconciles,
// AWS and Kubernetes calls, the work queue, leader status and build info. Known label sets start
// at zero so series exist before the first event.
//
// A controller adds its own domain metrics to the same registry through counter(), gauge() and
// histogram() (the refresher's rollout metrics live with the refresher, not here).
//
//   Metrics metrics("packer-builder");
//   metrics.reconcileDone(ReconcileResult::RequeueAfter, elapsed);
//   Metrics::Counter builds = metrics.counter("opsy_builds_total", "Builds started.");
//   builds.increment({{"controller", metrics.controller()}});
//   std::string text = metrics.exposition();  // served on /metrics
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"

namespace opsy::runtime {

enum class ReconcileResult { Success, Error, RequeueAfter, Terminal };

std::string_view toString(ReconcileResult r);

class Metrics {
 public:
  explicit Metrics(std::string controller, std::string version = "");
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  const std::string& controller() const { return controller_; }

  // `reason` (controller/failure.h) labels opsy_reconcile_errors_total for Error and Terminal.
  void reconcileDone(ReconcileResult result, Duration elapsed, std::string_view reason = "");
  // A reconcile that ended without an error but shows a failure on its object (a denied call
  // waiting for the next controllerTimer): counted in opsy_reconcile_errors_total by reason.
  void reconcileFailed(std::string_view reason);
  // `code` is the HTTP status as text, or the provider error code, or "network" when no response.
  void awsCall(std::string_view service, std::string_view operation, std::string_view code,
               Duration elapsed);
  void kubeCall(std::string_view verb, std::string_view resource, std::string_view code,
                Duration elapsed);

  // Work queue (named so a binary may run several queues).
  void queueDepth(std::string_view queue, int64_t depth);
  void queueAdd(std::string_view queue);
  void queueRetry(std::string_view queue);
  void queueLatency(std::string_view queue, Duration waited);
  void queueWorkDuration(std::string_view queue, Duration worked);

  void leader(bool is_leader);

  // One notification's outcome: `destination` is "slack", "sns", "ses", "discord" or "webhook";
  // `result` is "sent", "failed" or "dropped". Series appear on first use.
  void notification(std::string_view destination, std::string_view result);

  // The registry in the Prometheus text exposition format (version 0.0.4).
  std::string exposition() const;

  // Label values by label name.
  using Labels = std::map<std::string, std::string>;

  // A family of counters a controller registered; a series appears on its first use.
  class Counter {
   public:
    void increment(const Labels& labels, double by = 1) const;

   private:
    friend class Metrics;
    explicit Counter(void* family) : family_(family) {}
    void* family_;
  };
  class Gauge {
   public:
    void set(const Labels& labels, double value) const;
    // Drops the series (an object that is gone keeps no series).
    void remove(const Labels& labels) const;

   private:
    friend class Metrics;
    explicit Gauge(void* family) : family_(family) {}
    void* family_;
  };
  class Histogram {
   public:
    void observe(const Labels& labels, double value) const;

   private:
    friend class Metrics;
    Histogram(void* family, std::vector<double> buckets)
        : family_(family), buckets_(std::move(buckets)) {}
    void* family_;
    std::vector<double> buckets_;
  };

  // Registers a family on the process's registry; call once per name, before serving.
  Counter counter(std::string_view name, std::string_view help);
  Gauge gauge(std::string_view name, std::string_view help);
  Histogram histogram(std::string_view name, std::string_view help, std::vector<double> buckets);

 private:
  struct Impl;
  std::string controller_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opsy::runtime

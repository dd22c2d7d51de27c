// File: metrics.h
//
// The Prometheus metrics every controller exposes, under one registry per process. Names and
// labels are fixed here so dashboards and alerts can rely on them (docs/metrics.md): reconciles,
// AWS and Kubernetes calls, the work queue, leader status and build info. Known label sets start
// at zero so series exist before the first event.
//
//   Metrics metrics("packer-builder");
//   metrics.reconcileDone(ReconcileResult::RequeueAfter, elapsed);
//   std::string text = metrics.exposition();  // served on /metrics
#pragma once

#include <memory>
#include <string>
#include <string_view>

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

  void reconcileDone(ReconcileResult result, Duration elapsed);
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

  // Node group rollouts (ami-refresh-controller); series appear on first use.
  void rolloutStarted();
  void rolloutFinished();
  void rolloutFailed();
  // One group from update start to success.
  void groupRolled(Duration elapsed);
  // Groups of one object ("ns/name") in one phase, as of its last reconcile.
  void groupsInPhase(std::string_view object, std::string_view phase, int64_t count);

  // One notification's outcome: `destination` is "slack", "sns", "ses", "discord" or "webhook";
  // `result` is "sent", "failed" or "dropped". Series appear on first use.
  void notification(std::string_view destination, std::string_view result);

  // The registry in the Prometheus text exposition format (version 0.0.4).
  std::string exposition() const;

 private:
  struct Impl;
  std::string controller_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace opsy::runtime

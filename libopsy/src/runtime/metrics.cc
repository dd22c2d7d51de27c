#include "opsy/runtime/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>

namespace opsy::runtime {
namespace {

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// Buckets from 5 ms to about 17 minutes: reconciles are fast, AWS calls under throttling and queue
// waits under backoff are not.
prometheus::Histogram::BucketBoundaries latencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 1000};
}

}  // namespace

std::string_view toString(ReconcileResult r) {
  switch (r) {
    case ReconcileResult::Success: return "success";
    case ReconcileResult::Error: return "error";
    case ReconcileResult::RequeueAfter: return "requeue_after";
    case ReconcileResult::Terminal: return "terminal";
  }
  return "unknown";
}

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& reconcile_total =
      prometheus::BuildCounter()
          .Name("opsy_reconcile_total")
          .Help("Reconciles by controller and result.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& reconcile_errors =
      prometheus::BuildCounter()
          .Name("opsy_reconcile_errors_total")
          .Help(
              "Reconciles that ended on a failure (retried, terminal, or shown on the object "
              "until the next look), by reason.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& reconcile_duration =
      prometheus::BuildHistogram()
          .Name("opsy_reconcile_duration_seconds")
          .Help("Time spent in one reconcile.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& aws_total =
      prometheus::BuildCounter()
          .Name("opsy_aws_requests_total")
          .Help("AWS API calls by service, operation and result code.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& aws_duration =
      prometheus::BuildHistogram()
          .Name("opsy_aws_request_duration_seconds")
          .Help("AWS API call latency, retries included.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& kube_total =
      prometheus::BuildCounter()
          .Name("opsy_kube_requests_total")
          .Help("Kubernetes API calls by verb, resource and HTTP code.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& kube_duration =
      prometheus::BuildHistogram()
          .Name("opsy_kube_request_duration_seconds")
          .Help("Kubernetes API call latency.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& queue_depth = prometheus::BuildGauge()
                                                           .Name("opsy_workqueue_depth")
                                                           .Help("Keys waiting in the work queue.")
                                                           .Register(*registry);
  prometheus::Family<prometheus::Counter>& queue_adds = prometheus::BuildCounter()
                                                            .Name("opsy_workqueue_adds_total")
                                                            .Help("Keys added to the work queue.")
                                                            .Register(*registry);
  prometheus::Family<prometheus::Counter>& queue_retries =
      prometheus::BuildCounter()
          .Name("opsy_workqueue_retries_total")
          .Help("Keys re-added with backoff after an error.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& queue_latency =
      prometheus::BuildHistogram()
          .Name("opsy_workqueue_queue_duration_seconds")
          .Help("Time a key waited in the queue before a worker took it.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& queue_work =
      prometheus::BuildHistogram()
          .Name("opsy_workqueue_work_duration_seconds")
          .Help("Time a worker spent on one key.")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& leader =
      prometheus::BuildGauge()
          .Name("opsy_leader")
          .Help("1 while this replica holds the leader lease.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& notifications =
      prometheus::BuildCounter()
          .Name("opsy_notifications_total")
          .Help(
              "Notifications by destination kind and outcome (sent, failed after retries, "
              "dropped on a full queue).")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& build_info =
      prometheus::BuildGauge()
          .Name("opsy_build_info")
          .Help("Always 1; labels carry the controller and version.")
          .Register(*registry);
};

Metrics::Metrics(std::string controller, std::string version)
    : controller_(std::move(controller)), impl_(std::make_unique<Impl>()) {
  for (ReconcileResult r : {ReconcileResult::Success, ReconcileResult::Error,
                            ReconcileResult::RequeueAfter, ReconcileResult::Terminal}) {
    impl_->reconcile_total.Add({{"controller", controller_}, {"result", std::string(toString(r))}});
  }
  impl_->reconcile_duration.Add({{"controller", controller_}}, latencyBuckets());
  impl_->leader.Add({{"controller", controller_}}).Set(0);
  impl_->build_info
      .Add({{"controller", controller_},
            {"version", version.empty() ? std::string(OPSY_VERSION) : version}})
      .Set(1);
}

Metrics::~Metrics() = default;

void Metrics::reconcileDone(ReconcileResult result, Duration elapsed, std::string_view reason) {
  impl_->reconcile_total
      .Add({{"controller", controller_}, {"result", std::string(toString(result))}})
      .Increment();
  if (result == ReconcileResult::Error || result == ReconcileResult::Terminal) {
    reconcileFailed(reason.empty() ? std::string_view("InternalError") : reason);
  }
  impl_->reconcile_duration.Add({{"controller", controller_}}, latencyBuckets())
      .Observe(seconds(elapsed));
}

void Metrics::reconcileFailed(std::string_view reason) {
  impl_->reconcile_errors.Add({{"controller", controller_}, {"reason", std::string(reason)}})
      .Increment();
}

void Metrics::awsCall(std::string_view service, std::string_view operation, std::string_view code,
                      Duration elapsed) {
  impl_->aws_total
      .Add({{"service", std::string(service)},
            {"operation", std::string(operation)},
            {"code", std::string(code)}})
      .Increment();
  impl_->aws_duration
      .Add({{"service", std::string(service)}, {"operation", std::string(operation)}},
           latencyBuckets())
      .Observe(seconds(elapsed));
}

void Metrics::kubeCall(std::string_view verb, std::string_view resource, std::string_view code,
                       Duration elapsed) {
  impl_->kube_total
      .Add({{"verb", std::string(verb)},
            {"resource", std::string(resource)},
            {"code", std::string(code)}})
      .Increment();
  impl_->kube_duration
      .Add({{"verb", std::string(verb)}, {"resource", std::string(resource)}}, latencyBuckets())
      .Observe(seconds(elapsed));
}

void Metrics::queueDepth(std::string_view queue, int64_t depth) {
  impl_->queue_depth.Add({{"name", std::string(queue)}}).Set(static_cast<double>(depth));
}
void Metrics::queueAdd(std::string_view queue) {
  impl_->queue_adds.Add({{"name", std::string(queue)}}).Increment();
}
void Metrics::queueRetry(std::string_view queue) {
  impl_->queue_retries.Add({{"name", std::string(queue)}}).Increment();
}
void Metrics::queueLatency(std::string_view queue, Duration waited) {
  impl_->queue_latency.Add({{"name", std::string(queue)}}, latencyBuckets())
      .Observe(seconds(waited));
}
void Metrics::queueWorkDuration(std::string_view queue, Duration worked) {
  impl_->queue_work.Add({{"name", std::string(queue)}}, latencyBuckets()).Observe(seconds(worked));
}

void Metrics::leader(bool is_leader) {
  impl_->leader.Add({{"controller", controller_}}).Set(is_leader ? 1 : 0);
}

void Metrics::notification(std::string_view destination, std::string_view result) {
  impl_->notifications
      .Add({{"controller", controller_},
            {"destination", std::string(destination)},
            {"result", std::string(result)}})
      .Increment();
}

Metrics::Counter Metrics::counter(std::string_view name, std::string_view help) {
  return Counter(&prometheus::BuildCounter()
                      .Name(std::string(name))
                      .Help(std::string(help))
                      .Register(*impl_->registry));
}

Metrics::Gauge Metrics::gauge(std::string_view name, std::string_view help) {
  return Gauge(&prometheus::BuildGauge()
                    .Name(std::string(name))
                    .Help(std::string(help))
                    .Register(*impl_->registry));
}

Metrics::Histogram Metrics::histogram(std::string_view name, std::string_view help,
                                      std::vector<double> buckets) {
  return Histogram(&prometheus::BuildHistogram()
                        .Name(std::string(name))
                        .Help(std::string(help))
                        .Register(*impl_->registry),
                   std::move(buckets));
}

void Metrics::Counter::increment(const Labels& labels, double by) const {
  static_cast<prometheus::Family<prometheus::Counter>*>(family_)->Add(labels).Increment(by);
}

void Metrics::Gauge::set(const Labels& labels, double value) const {
  static_cast<prometheus::Family<prometheus::Gauge>*>(family_)->Add(labels).Set(value);
}

void Metrics::Gauge::remove(const Labels& labels) const {
  auto* family = static_cast<prometheus::Family<prometheus::Gauge>*>(family_);
  if (family->Has(labels)) {
    family->Remove(&family->Add(labels));
  }
}

void Metrics::Histogram::observe(const Labels& labels, double value) const {
  static_cast<prometheus::Family<prometheus::Histogram>*>(family_)
      ->Add(labels, prometheus::Histogram::BucketBoundaries(buckets_))
      .Observe(value);
}

std::string Metrics::exposition() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(impl_->registry->Collect());
}

}  // namespace opsy::runtime

#include "opsy/runtime/failure_metrics.h"

namespace opsy::runtime {
namespace {

class MetricsFailureCounter : public controller::FailureCounter {
 public:
  explicit MetricsFailureCounter(Metrics& metrics) : metrics_(metrics) {}
  void count(std::string_view reason) override { metrics_.reconcileFailed(reason); }

 private:
  Metrics& metrics_;
};

}  // namespace

controller::FailureCounterPtr failureCounter(Metrics& metrics) {
  return std::make_shared<MetricsFailureCounter>(metrics);
}

}  // namespace opsy::runtime

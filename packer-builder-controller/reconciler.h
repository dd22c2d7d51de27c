// File: reconciler.h
//
// One reconcile of a PackerBuilder, level-triggered: read the builder, its Jobs, the newest base
// image (through the shared ami::ImageLookupCache), its managed images and, when its recorded Job
// has finished, that Job's build log and image; decide(); execute. Nothing is remembered between
// calls, and no call waits for a build: the Job's completion is an informer event that requeues
// the key. A steady builder with spec.retention has a retention pass: once its decision asks, the
// reconciler reads whether the old images are still in use (instances, and the launch template
// versions of the region's Auto Scaling groups) and its marked snapshots, then decides again. The
// outcome maps onto the work queue like controller-runtime's Result.
//
//   Reconciler r({.reader = manager.reader(), .writer = manager.writer(), ...});
//   manager.addController({..., .reconcile = controller::workFn(r)});
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "opsy/ami/image_cache.h"
#include "opsy/ami/lineage_images.h"
#include "opsy/aws/autoscaling.h"
#include "opsy/aws/ec2.h"
#include "opsy/controller/failure.h"
#include "opsy/controller/reconciler.h"
#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/kube/client.h"
#include "opsy/kube/events.h"
#include "opsy/kube/store.h"
#include "opsy/kube/work_queue.h"
#include "packer-builder-controller/decide.h"
#include "packer-builder-controller/execute.h"

namespace opsy::packer_builder {

// The EC2 client for a region ("" = the controller's default region).
using Ec2ForRegion = std::function<Result<aws::Ec2ApiPtr>(std::string_view region)>;
// The Auto Scaling client for a region; used only by retention (is an old image still in use?).
using AutoScalingForRegion = std::function<Result<aws::AutoScalingApiPtr>(std::string_view region)>;

struct ReconcilerDeps {
  kube::ObjectReader& reader;  // builders, Jobs and pods (a live client, or a synced cache)
  kube::ObjectWriter& writer;
  kube::StatusWriter& status;
  kube::PodLogReader& logs;  // the build container's log (packer-builder-controller/build_log.h)
  SecretKeyLister& secrets;  // the Secrets a build Job uses, read only before creating one
  // The admin's build policy; null: none. With it, `accounts` reads (uncached, only before a
  // build) the ServiceAccount a build would use when the policy does not list it.
  const packer::BuildPolicy* policy = nullptr;
  kube::ObjectReader* accounts = nullptr;
  Ec2ForRegion ec2;
  AutoScalingForRegion autoscaling;  // unset: retention cannot check use and deletes nothing
  ami::ImageLookupCache& images;     // base-image lookups, shared
  ami::LineageImageCache& lineage;   // managed-image lookups, shared
  kube::EventRecorder& events;
  notify::NotifierFactory* notifiers = nullptr;
  Clock& clock;
  controller::FailureCounterPtr failures;  // optional: opsy_reconcile_errors_total
  // The AMIRefresher cache with ami::builderRefIndex(), for status.followers; null: not listed.
  const kube::Store* refreshers = nullptr;
};

class Reconciler : public controller::Reconciler {
 public:
  explicit Reconciler(ReconcilerDeps deps);

  // One reconcile; the requeue delay decided, or nullopt.
  [[nodiscard]] Result<std::optional<Duration>> reconcile(const kube::ObjectKey& key) override;

  // Gathers what decide() needs about `o.builder` into `o`; an error stops the gathering and
  // is what decide() reports.
  [[nodiscard]] Status observe(Observed& o);

 private:
  // Fills o.secrets with the keys of the Secrets a build Job would use, and o.service_account.
  void readBuildInputs(Observed& o);
  // Fills o.retention (copy_region "") or o.retention_in[copy_region] (or o.retention_failure)
  // for a retention pass that asks about `image_ids`.
  void readRetention(Observed& o, const std::string& copy_region,
                     const std::vector<std::string>& image_ids);
  // What a pass in `region` needs, `managed` being the lineage's images there.
  [[nodiscard]] Result<RetentionObservation> observeRetention(
      const PackerBuilderSpec& spec, const std::string& region, const Observed& o,
      const std::vector<aws::Image>& managed, const std::vector<std::string>& image_ids);
  [[nodiscard]] Result<FinishedBuild> readFinishedBuild(const kube::Job& job,
                                                        const PackerBuilderSpec& spec,
                                                        aws::ImageApi& ec2);

  ReconcilerDeps deps_;
  Executor executor_;
};

}  // namespace opsy::packer_builder

// File: execute.h
//
// Carries out a Decision: each Action becomes one idempotent call (a Job created under its
// deterministic name, AlreadyExists and NotFound treated as done, tags that are set again to the
// same values, merge patches). Actions run in order and the first failure stops the rest, which
// decide() will ask for again on the next reconcile. Writes to the builder carry the
// resourceVersion it was read at, so a decision made from a stale cache is refused (Conflict) and
// made again. The seams are narrow interfaces so tests use the gmock mocks:
// kube::ObjectWriter/StatusWriter, aws::Ec2Api (its image, build-cleanup and image-lifecycle
// roles), kube::EventRecorder, notify::NotifierFactory and SecretKeyLister.
//
//   Executor executor({.writer = client, .status = client, .secrets = secret_keys, ...});
//   OPSY_RETURN_IF_ERROR(executor.execute(builder, decision, ec2.get()));
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/aws/ec2.h"
#include "opsy/core/result.h"
#include "opsy/kube/client.h"
#include "opsy/kube/events.h"
#include "opsy/notify/notifiers.h"
#include "packer-builder-controller/api.h"
#include "packer-builder-controller/decide.h"

namespace opsy::packer_builder {

inline constexpr std::string_view kFieldManager = "packer-builder-controller";

// Knows the key names of a Secret (never hands out the values).
class SecretKeyLister {
 public:
  virtual ~SecretKeyLister() = default;
  /** The keys of Secret ns/name, sorted. NotFound when the Secret does not exist. */
  [[nodiscard]] virtual Result<std::vector<std::string>> keys(std::string_view ns,
                                                              std::string_view name) = 0;
};

// SecretKeyLister over an ObjectReader (GET the Secret, return its data keys).
class SecretKeyListerImpl : public SecretKeyLister {
 public:
  explicit SecretKeyListerImpl(kube::ObjectReader& reader) : reader_(reader) {}
  [[nodiscard]] Result<std::vector<std::string>> keys(std::string_view ns,
                                                      std::string_view name) override;

 private:
  kube::ObjectReader& reader_;
};

struct ExecutorDeps {
  kube::ObjectWriter& writer;
  kube::StatusWriter& status;
  kube::EventRecorder& events;
  notify::NotifierFactory* notifiers = nullptr;  // null: notifications are dropped
};

// The EC2 clients of the regions that hold copies (an action's `region`), by region.
using Ec2ByRegion = std::map<std::string, aws::Ec2Api*, std::less<>>;

class Executor {
 public:
  explicit Executor(ExecutorDeps deps) : deps_(deps) {}

  // What running a decision did.
  struct Execution {
    Status status = ok();
    // The action that failed (an element of the decision's actions), or null.
    const Action* failed = nullptr;
    // The builder's metadata as the last write left it (resourceVersion, finalizers).
    kube::ObjectMeta meta;
  };

  // Runs the actions of `decision` about `builder` in order; stops at the first failure. `ec2`
  // is spec.region's client, `regional` those of the other regions the actions name.
  [[nodiscard]] Execution run(const kube::Object& builder, const Decision& decision,
                              aws::Ec2Api* ec2, const Ec2ByRegion& regional = {});
  [[nodiscard]] Status execute(const kube::Object& builder, const Decision& decision,
                               aws::Ec2Api* ec2) {
    return run(builder, decision, ec2).status;
  }

 private:
  // `meta` is the builder's, with the resourceVersion of our last write.
  Status runOne(const kube::Object& builder, kube::ObjectMeta& meta, const Action& action,
                aws::Ec2Api* ec2, const Ec2ByRegion& regional);
  Status setFinalizer(kube::ObjectMeta& meta, bool present);
  Status createJob(const kube::Object& builder, const CreateJob& action) const;
  Status cleanup(const CleanupTemporaries& action, aws::BuildCleanupApi& ec2);
  Status deleteImage(const kube::Object& builder, const DeleteImage& action,
                     aws::ImageLifecycleApi& lifecycle, aws::ImageApi& images);

  ExecutorDeps deps_;
};

}  // namespace opsy::packer_builder

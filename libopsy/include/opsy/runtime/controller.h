// File: controller.h
//
// One controller inside a Manager: what it reconciles and owns (ControllerSpec), and the loop
// that runs it, like controller-runtime's internal controller: informer events become
// "namespace/name" keys on a rate-limited work queue, N workers call the reconcile, and every
// outcome is timed, logged and counted in opsy_reconcile_* before the queue acts on it (retry
// with backoff, requeue after a delay, or forget). The Manager wires informers to it.
//
//   Controller c(spec, metrics, clock);
//   builders.addHandlers(c.primaryHandlers());  jobs.addHandlers(c.ownedHandlers(spec.owns[0]));
//   c.start(2);  ...  c.shutDown();  c.join();
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/kube/informer.h"
#include "opsy/kube/object.h"
#include "opsy/kube/store.h"
#include "opsy/kube/work_queue.h"
#include "opsy/runtime/metrics.h"

namespace opsy::runtime {

// Maps an object a controller owns to the key ("namespace/name") of the object to reconcile, or
// nullopt to ignore it.
using OwnerMapper = std::function<std::optional<std::string>(const kube::Object& owned)>;

// Maps a watched object to the keys of every object to reconcile because of it (e.g. the
// refreshers that follow a builder, looked up in an index of their cache); none to ignore it.
using KeysMapper = std::function<std::vector<std::string>(const kube::Object& watched)>;

// The default mapper: the object named by `owned`'s controller ownerReference, when that
// reference's kind and API group are `owner`'s.
OwnerMapper controllerOwnerOf(const kube::Resource& owner);

struct OwnedResource {
  kube::Resource resource;
  // Empty: controllerOwnerOf(the controller's resource).
  OwnerMapper map_to_owner;
  // For a resource that is watched rather than owned (one object, many dependents): when set it
  // is used instead of map_to_owner, and each event enqueues every key it returns (an update:
  // those of the old object and of the new one).
  KeysMapper map_to_keys;
  // Narrows the owned informer (e.g. "app.kubernetes.io/managed-by=opsy"), and so what the
  // Manager's cache-backed reader sees of this resource.
  std::string label_selector;
  // Indexes the reconciler's lookups use (kube::labelIndex(...), kube::ownerUidIndex()).
  std::vector<kube::Index> indexes;
};

using ReconcileFn = std::function<kube::WorkOutcome(const std::string& key)>;

struct ControllerSpec {
  std::string name;
  // The resource reconciled; its add/update/delete events enqueue the object's key.
  kube::Resource resource;
  // Resources whose events enqueue their owner's key.
  std::vector<OwnedResource> owns;
  // Called with "namespace/name" on a worker thread; several keys run concurrently, one key
  // never twice at once. Error -> retried with backoff; Terminal -> counted, not retried;
  // RequeueAfter -> runs again after the delay. A thrown exception counts as an Error.
  ReconcileFn reconcile;
  // Every cached object of `resource` is enqueued again this often; zero disables it.
  Duration resync = std::chrono::minutes(10);
  // Concurrent reconciles; 0 uses ManagerOptions::workers.
  int workers = 0;
  // Indexes on the cache of `resource`.
  std::vector<kube::Index> indexes;
};

class Controller {
 public:
  Controller(ControllerSpec spec, Metrics& metrics, Clock& clock);
  // Shuts the queue down and waits for the workers.
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  const ControllerSpec& spec() const { return spec_; }
  kube::WorkQueue& queue() { return *queue_; }

  // Handlers for the informer of spec().resource: every event enqueues the object's key.
  kube::ResourceEventHandlers primaryHandlers();
  // Handlers for an owned resource's informer: events enqueue the owner's key.
  kube::ResourceEventHandlers ownedHandlers(const OwnedResource& owned);

  // Starts spec().workers workers (default_workers when that is 0). Once only.
  void start(int default_workers);
  // Stops handing out keys; in-flight reconciles finish.
  void shutDown();
  // Waits for the workers to exit (after shutDown()).
  void join();

 private:
  ControllerSpec spec_;
  Metrics& metrics_;
  Clock& clock_;
  std::unique_ptr<kube::WorkQueue> queue_;
  kube::WorkerGroup workers_;
};

using ControllerPtr = std::unique_ptr<Controller>;

}  // namespace opsy::runtime

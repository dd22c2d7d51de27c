// File: manager.h
//
// The Manager turns libopsy into a running controller process, the way controller-runtime's
// manager does: it resolves the cluster config, sets up logging, builds the REST client, the
// metrics and the probe server, keeps the informer cache (kube/cache.h) that reconcilers read
// through reader(), runs each controller's loop (controller.h), the events recorder and,
// optionally, Lease leader election. Workers run only while this replica leads; losing the lease
// stops taking work and makes run() return 1 so Kubernetes restarts the pod. SIGTERM/SIGINT stop
// it gracefully: no new work, in-flight reconciles finish (bounded), the lease is released.
//
//   runtime::addManagerFlags(flags, options);  ... flags.parse(argc, argv) ...
//   auto manager = runtime::Manager::create(options);         // fatal on error
//   Reconciler r((*manager)->reader(), (*manager)->writer(), (*manager)->client());
//   Status added = (*manager)->addController(
//       {.name = "packer-builder", .resource = kPackerBuilders,
//        .owns = {{.resource = kube::resources::jobs(),
//                  .indexes = {kube::labelIndex(kLabelBuilderUid)}}},
//        .reconcile = controller::workFn(r)});
//   return added ? (*manager)->run() : 1;
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/flags.h"
#include "opsy/core/result.h"
#include "opsy/http/transport.h"
#include "opsy/kube/cache.h"
#include "opsy/kube/cache_reader.h"
#include "opsy/kube/client.h"
#include "opsy/kube/config.h"
#include "opsy/kube/events.h"
#include "opsy/kube/leader_election.h"
#include "opsy/kube/store.h"
#include "opsy/runtime/aws_clients.h"
#include "opsy/runtime/controller.h"
#include "opsy/runtime/manager_options.h"
#include "opsy/runtime/metrics.h"
#include "opsy/runtime/probe_server.h"
#include "opsy/runtime/shutdown.h"

namespace opsy::runtime {

// Seams for tests and unusual deployments; production leaves every field empty.
struct ManagerDeps {
  Clock* clock = nullptr;  // realClock()
  // Environment for config resolution (KUBECONFIG, HOME, KUBERNETES_SERVICE_*), POD_NAME and
  // POD_NAMESPACE; the process environment when empty.
  kube::EnvLookup env;
  kube::InClusterOptions in_cluster;
  // Skip config resolution / the libcurl transport.
  std::optional<kube::RestConfig> rest_config;
  http::TransportPtr kube_transport;
  // Leader election's store; default kube::ClientLeaseStore over the manager's client.
  std::function<kube::LeaseStorePtr(const kube::ClientPtr& client, const std::string& ns,
                                    const std::string& name)>
      lease_store;
  // Leader identity; default "<hostname>_<random hex>".
  std::string identity;
  // AWS clients' transport, credentials and environment (AwsClientsOptions defaults when empty).
  http::TransportPtr aws_transport;
  aws::CredentialsProviderPtr aws_credentials;
  aws::EnvLookup aws_env;
  // Install the SIGTERM/SIGINT handler (before any thread starts) and configure logging.
  bool handle_signals = true;
  bool setup_logging = true;
};

class Manager {
 public:
  // Validates the options, configures logging, resolves the config and builds the client, the
  // metrics, the events recorder and (with leader election) the elector. Nothing is started.
  [[nodiscard]] static Result<std::unique_ptr<Manager>> create(ManagerOptions options,
                                                               ManagerDeps deps = {});
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Registers a controller (before run()). Informers for its resources are shared with other
  // controllers and cache() callers; its indexes are added to them.
  [[nodiscard]] Status addController(ControllerSpec spec);
  // The read-only informer cache of `resource` in the watched namespaces. Registers an informer
  // when none exists yet (before run(), or it starts at once); the reference stays valid for the
  // Manager's life. Empty until synced, and workers start only after every cache has synced.
  const kube::Store& cache(const kube::Resource& resource, const std::string& label_selector = "");
  // Adds an index to the cache of `resource` (registering its informer like cache()).
  void addIndex(const kube::Resource& resource, kube::Index index,
                const std::string& label_selector = "");

  // Reads for reconcilers: served from the informer cache for the resources it watches (no API
  // request), from the API server for everything else. An owned resource's label_selector
  // narrows what this reader sees of that resource.
  kube::ObjectReader& reader() { return *reader_; }
  // Writes for reconcilers: the API server, remembering creations until the cache has them, so
  // a reconcile right after a create still finds the object through reader().
  kube::ObjectWriter& writer() { return *writer_; }
  // Status writes for reconcilers, remembered the same way: the next reconcile of the object reads
  // at least what this one wrote.
  kube::StatusWriter& statusWriter() { return *writer_; }
  // The REST client (ObjectReader, ObjectWriter and StatusWriter roles), with metrics.
  kube::Client& client() { return *client_; }
  kube::ClientPtr clientPtr() const { return client_; }
  kube::EventRecorder& events();
  Metrics& metrics() { return *metrics_; }
  Clock& clock() { return clock_; }
  AwsClients& aws() { return *aws_; }
  const ManagerOptions& options() const { return options_; }
  // The namespace of the resolved config (the pod's own namespace in-cluster).
  const std::string& defaultNamespace() const { return rest_config_.default_namespace; }

  // Runs until a stop is requested (signal or requestShutdown()) or the lease is lost. Returns
  // the process exit code: 0 after a requested stop, 1 when leadership was lost, the caches did
  // not sync in time, or a server could not start. Call once.
  int run();
  void requestShutdown(const std::string& reason);

  // What /readyz answers: every informer synced and, with leader election, the election settled
  // (leading, or another holder observed).
  Status readiness() const;
  bool leading() const;
  // Bound ports of the probe server while running (for port 0 in tests).
  int metricsPort() const;
  int probePort() const;

 private:
  Manager(ManagerOptions options, ManagerDeps deps, Clock& clock);
  void startControllers();
  void controllerLoop();
  void stopLeading();
  bool waitForCaches();
  // Stops workers within the grace period; false when they did not finish in time.
  bool stopControllers();

  ManagerOptions options_;
  ManagerDeps deps_;
  Clock& clock_;
  std::unique_ptr<SignalHandler> signals_;
  kube::RestConfig rest_config_;
  kube::ClientPtr client_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<AwsClients> aws_;
  std::unique_ptr<kube::EventSink> event_sink_;
  std::unique_ptr<kube::EventRecorderImpl> events_;
  std::unique_ptr<kube::InformerCache> cache_;
  std::unique_ptr<kube::CacheReader> reader_;
  std::unique_ptr<kube::CacheAwareWriter> writer_;
  std::vector<ControllerPtr> controllers_;
  kube::LeaseStorePtr lease_store_;
  kube::LeaderElectorPtr elector_;
  ServingCertificatePtr metrics_certificate_;
  std::unique_ptr<MetricsAccess> metrics_access_;
  std::unique_ptr<ProbeServer> probes_;
  Shutdown shutdown_;

  std::mutex mu_;
  std::thread starter_;
  std::thread elector_thread_;
  bool running_ = false;
  bool controllers_started_ = false;
  std::atomic<bool> lost_lease_{false};
  std::atomic<bool> failed_{false};
};

using ManagerPtr = std::unique_ptr<Manager>;

}  // namespace opsy::runtime

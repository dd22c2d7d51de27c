// File: manager.h
//
// The Manager turns libopsy into a running controller process, the way controller-runtime's
// manager does: it resolves the cluster config, sets up logging, builds the REST client, the
// metrics and the probe server, runs one informer per watched resource (watch, don't poll), one
// work queue with N workers per controller, the events recorder and, optionally, Lease leader
// election. Workers run only while this replica leads; losing the lease stops taking work and
// makes run() return 1 so Kubernetes restarts the pod. SIGTERM/SIGINT stop it gracefully: no new
// work, in-flight reconciles finish (bounded), the lease is released, run() returns 0.
//
//   runtime::ManagerOptions options{.name = "packer-builder"};
//   FlagSet flags("packer-builder-controller", OPSY_VERSION, "Builds AMIs with Packer.");
//   runtime::addManagerFlags(flags, options);
//   ... flags.parse(argc, argv) ...
//   auto manager = runtime::Manager::create(options);         // fatal on error
//   const kube::Store& builders = (*manager)->cache(kPackerBuilders);
//   Status added = (*manager)->addController(
//       {.name = "packer-builder", .resource = kPackerBuilders,
//        .owns = {{.resource = kube::resources::jobs()}},
//        .reconcile = [&](const std::string& key) { return r.run(key); }});
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
#include "opsy/kube/client.h"
#include "opsy/kube/config.h"
#include "opsy/kube/events.h"
#include "opsy/kube/informer.h"
#include "opsy/kube/leader_election.h"
#include "opsy/kube/work_queue.h"
#include "opsy/runtime/aws_clients.h"
#include "opsy/runtime/metrics.h"
#include "opsy/runtime/probe_server.h"
#include "opsy/runtime/shutdown.h"

namespace opsy::runtime {

// What a controller binary is configured with; addManagerFlags() binds the flag-settable fields.
struct ManagerOptions {
  // The controller's short name ("packer-builder"): the metrics' controller label, the default
  // leader election id ("<name>.ami.refresh.ops") and events' reportingController
  // ("ami.refresh.ops/<name>-controller").
  std::string name;
  std::string version;

  // --kubeconfig, else KUBECONFIG, else in-cluster, else ~/.kube/config.
  std::string kubeconfig;
  std::string context;
  // Namespaces to watch (repeatable); empty watches every namespace.
  std::vector<std::string> namespaces;
  // "0" disables an endpoint; both may name the same address.
  std::string metrics_bind_address = ":8080";
  std::string health_probe_bind_address = ":8081";
  bool leader_elect = false;
  // Default: the namespace of the config (the pod's own namespace in-cluster).
  std::string leader_election_namespace;
  // The Lease name; default "<name>.ami.refresh.ops".
  std::string leader_election_id;
  // Default number of concurrent reconciles per controller.
  int workers = 2;
  std::string log_format = "text";
  std::string log_level = "info";
  // Region for AWS clients asked for without one; empty: AWS_REGION / AWS_DEFAULT_REGION.
  std::string aws_region;

  // Not flags: timings a binary or a test may tune.
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  // How long in-flight reconciles may run after a stop before the process exits anyway (with 1).
  Duration graceful_shutdown_timeout = std::chrono::seconds(30);
  // Workers start only once every informer has synced; longer than this is a fatal error.
  Duration cache_sync_timeout = std::chrono::minutes(2);
};

// Binds --kubeconfig, --context, --namespace, --metrics-bind-address,
// --health-probe-bind-address, --leader-elect, --leader-election-namespace,
// --leader-election-id, --workers, --log-format, --log-level and --aws-region to `options`, each
// with an environment fallback (WATCH_NAMESPACE, METRICS_BIND_ADDRESS, LEADER_ELECT, ...,
// AWS_REGION; see usage()). The current values of `options` are the defaults.
void addManagerFlags(FlagSet& flags, ManagerOptions& options);

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

// Maps an object a controller owns to the key ("namespace/name") of the object to reconcile, or
// nullopt to ignore it.
using OwnerMapper = std::function<std::optional<std::string>(const kube::Object& owned)>;

// The default mapper: the object named by `owned`'s controller ownerReference, when that
// reference's kind and API group are `owner`'s.
OwnerMapper controllerOwnerOf(const kube::Resource& owner);

struct OwnedResource {
  kube::Resource resource;
  // Empty: controllerOwnerOf(the controller's resource).
  OwnerMapper map_to_owner;
  // Narrows the owned informer (e.g. "app.kubernetes.io/managed-by=opsy").
  std::string label_selector;
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
  // controllers and cache() callers.
  [[nodiscard]] Status addController(ControllerSpec spec);
  // The read-only informer cache of `resource` in the watched namespaces, for reconcilers to read
  // instead of the API server. Registers an informer when none exists yet, so call it before
  // run(); the reference stays valid for the Manager's life. Empty until synced, and workers
  // start only after every cache has synced.
  const kube::Store& cache(const kube::Resource& resource, const std::string& label_selector = "");

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
  struct InformerSet;
  struct Controller;

  Manager(ManagerOptions options, ManagerDeps deps, Clock& clock);
  InformerSet& informerFor(const kube::Resource& resource, const std::string& label_selector,
                           Duration resync);
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
  std::vector<std::unique_ptr<InformerSet>> informers_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  kube::LeaseStorePtr lease_store_;
  kube::LeaderElectorPtr elector_;
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

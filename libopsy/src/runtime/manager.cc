#include "opsy/runtime/manager.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <random>

#include "opsy/core/duration.h"
#include "opsy/core/log.h"
#include "opsy/kube/event_sink.h"
#include "opsy/kube/lease_store.h"
#include "opsy/kube/transport.h"
#include "runtime/manager_internal.h"

namespace opsy::runtime {
namespace {

constexpr const char* kGroupSuffix = "ami.refresh.ops";

log::Logger logger() {
  return log::get("runtime");
}

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string apiGroupOf(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? "" : std::string(api_version.substr(0, slash));
}

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

std::string randomHex() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

// A short id that ties the log lines of one reconcile together. Stepping by the golden-ratio
// constant keeps consecutive ids visibly different.
std::string nextReconcileId() {
  static std::atomic<std::uint32_t> next{std::random_device{}()};
  return fmt::format("{:08x}", next.fetch_add(0x9E3779B9U, std::memory_order_relaxed));
}

class QueueMetricsAdapter : public kube::WorkQueueMetrics {
 public:
  QueueMetricsAdapter(Metrics& metrics, std::string queue)
      : metrics_(metrics), queue_(std::move(queue)) {}
  void setDepth(std::int64_t depth) override { metrics_.queueDepth(queue_, depth); }
  void onAdd() override { metrics_.queueAdd(queue_); }
  void observeQueueLatency(double s) override { metrics_.queueLatency(queue_, toDuration(s)); }
  void observeWorkDuration(double s) override { metrics_.queueWorkDuration(queue_, toDuration(s)); }
  void onRetry() override { metrics_.queueRetry(queue_); }
  void setUnfinishedWork(double, double) override {}

 private:
  static Duration toDuration(double s) {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
  }
  Metrics& metrics_;
  std::string queue_;
};

}  // namespace

// ---- decisions (manager_internal.h) ----

ReconcileResult resultOf(const kube::WorkOutcome& outcome) {
  switch (outcome.kind) {
    case kube::WorkOutcome::Kind::Success: return ReconcileResult::Success;
    case kube::WorkOutcome::Kind::Error: return ReconcileResult::Error;
    case kube::WorkOutcome::Kind::Terminal: return ReconcileResult::Terminal;
    case kube::WorkOutcome::Kind::RequeueAfter: return ReconcileResult::RequeueAfter;
  }
  return ReconcileResult::Error;
}

kube::WorkFn instrumentReconcile(std::string controller, ReconcileFn fn, Metrics& metrics,
                                 Clock& clock) {
  auto out = log::get("controller." + controller);
  return [name = std::move(controller), fn = std::move(fn), &metrics, &clock,
          out](const std::string& key) {
    const std::string id = nextReconcileId();
    const auto started = clock.steadyNow();
    kube::WorkOutcome outcome;
    try {
      outcome = fn(key);
    } catch (const std::exception& e) {
      outcome = kube::WorkOutcome::failed(
          Error(ErrorCode::Internal, std::string("reconcile threw: ") + e.what()));
    } catch (...) {
      outcome = kube::WorkOutcome::failed(Error(ErrorCode::Internal, "reconcile threw"));
    }
    const auto elapsed = std::chrono::duration_cast<Duration>(clock.steadyNow() - started);
    const ReconcileResult result = resultOf(outcome);
    metrics.reconcileDone(result, elapsed);
    const std::string error_text = outcome.error ? outcome.error->toString() : "";
    switch (result) {
      case ReconcileResult::Error:
        out.error("reconcile failed", log::kv("controller", name, "object", key, "reconcile_id", id,
                                              "error", error_text, "duration_s", seconds(elapsed)));
        break;
      case ReconcileResult::Terminal:
        out.error("reconcile failed terminally",
                  log::kv("controller", name, "object", key, "reconcile_id", id, "error",
                          error_text, "duration_s", seconds(elapsed)));
        break;
      case ReconcileResult::RequeueAfter:
        out.debug("reconcile done", log::kv("controller", name, "object", key, "reconcile_id", id,
                                            "result", toString(result), "requeue_after",
                                            formatDuration(outcome.requeue_after)));
        break;
      case ReconcileResult::Success:
        out.debug("reconcile done", log::kv("controller", name, "object", key, "reconcile_id", id,
                                            "result", toString(result)));
        break;
    }
    return outcome;
  };
}

kube::WorkQueueMetricsPtr queueMetrics(Metrics& metrics, std::string queue) {
  return std::make_shared<QueueMetricsAdapter>(metrics, std::move(queue));
}

Status cachesReady(const std::vector<std::string>& unsynced) {
  if (unsynced.empty()) {
    return ok();
  }
  std::string names;
  for (const auto& n : unsynced) {
    names += (names.empty() ? "" : ", ") + n;
  }
  return fail(ErrorCode::Unavailable, "caches not synced: " + names);
}

Status electionSettled(bool enabled, bool leading, const std::string& observed_leader) {
  if (!enabled || leading || !observed_leader.empty()) {
    return ok();
  }
  return fail(ErrorCode::Unavailable, "leader election has not observed a leader yet");
}

Result<kube::RestConfig> resolveRestConfig(const ManagerOptions& options, const ManagerDeps& deps,
                                           Clock& clock) {
  if (deps.rest_config.has_value()) {
    return *deps.rest_config;
  }
  kube::KubeconfigOptions kubeconfig;
  kubeconfig.explicit_path = options.kubeconfig;
  kubeconfig.context = options.context;
  kubeconfig.env = deps.env;
  kube::InClusterOptions in_cluster = deps.in_cluster;
  if (!in_cluster.env) {
    in_cluster.env = deps.env;
  }
  return kube::loadConfig(clock, kubeconfig, in_cluster);
}

Status validateOptions(const ManagerOptions& options) {
  if (options.name.empty()) {
    return fail(ErrorCode::InvalidArgument, "manager: a controller name is required");
  }
  if (options.workers < 1) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("flag --workers: must be at least 1, got {}", options.workers));
  }
  for (const auto& ns : options.namespaces) {
    if (ns.empty()) {
      return fail(ErrorCode::InvalidArgument, "flag --namespace: empty namespace");
    }
  }
  if (auto a = parseBindAddress(options.metrics_bind_address); !a) {
    return fail(ErrorCode::InvalidArgument, "flag --metrics-bind-address: " + a.error().message);
  }
  if (auto a = parseBindAddress(options.health_probe_bind_address); !a) {
    return fail(ErrorCode::InvalidArgument,
                "flag --health-probe-bind-address: " + a.error().message);
  }
  if (auto f = log::parseFormat(options.log_format); !f) {
    return fail(ErrorCode::InvalidArgument, "flag --log-format: " + f.error().message);
  }
  if (auto l = log::parseLevel(options.log_level); !l) {
    return fail(ErrorCode::InvalidArgument, "flag --log-level: " + l.error().message);
  }
  if (options.graceful_shutdown_timeout.count() <= 0 || options.cache_sync_timeout.count() <= 0) {
    return fail(ErrorCode::InvalidArgument, "manager: timeouts must be positive");
  }
  return ok();
}

// ---- flags ----

void addManagerFlags(FlagSet& flags, ManagerOptions& options) {
  flags.addString("kubeconfig", &options.kubeconfig,
                  "Path to a kubeconfig. Without it: KUBECONFIG, then the in-cluster service "
                  "account, then ~/.kube/config.");
  flags.addString("context", &options.context, "kubeconfig context to use.", "OPSY_CONTEXT");
  flags.addStringList("namespace", &options.namespaces,
                      "Namespace to watch (repeatable). Default: every namespace.",
                      "WATCH_NAMESPACE");
  flags.addString("metrics-bind-address", &options.metrics_bind_address,
                  "Address for /metrics; \"0\" disables it.", "OPSY_METRICS_BIND_ADDRESS");
  flags.addString("health-probe-bind-address", &options.health_probe_bind_address,
                  "Address for /healthz and /readyz; \"0\" disables it.",
                  "OPSY_HEALTH_PROBE_BIND_ADDRESS");
  flags.addBool("leader-elect", &options.leader_elect,
                "Elect a leader with a Lease so only one replica acts.", "OPSY_LEADER_ELECT");
  flags.addString("leader-election-namespace", &options.leader_election_namespace,
                  "Namespace of the leader election Lease. Default: the pod's namespace.",
                  "OPSY_LEADER_ELECTION_NAMESPACE");
  flags.addString("leader-election-id", &options.leader_election_id,
                  "Name of the leader election Lease. Default: <controller>.ami.refresh.ops.",
                  "OPSY_LEADER_ELECTION_ID");
  flags.addInt("workers", &options.workers, "Concurrent reconciles per controller.",
               "OPSY_WORKERS");
  flags.addString("log-format", &options.log_format, "Log format: text or json.",
                  "OPSY_LOG_FORMAT");
  flags.addString("log-level", &options.log_level,
                  "Log level: trace, debug, info, warn, error or off.", "OPSY_LOG_LEVEL");
  flags.addString("aws-region", &options.aws_region, "AWS region for objects that do not name one.",
                  "AWS_REGION");
}

OwnerMapper controllerOwnerOf(const kube::Resource& owner) {
  return [owner](const kube::Object& owned) -> std::optional<std::string> {
    for (const auto& ref : owned.metadata.owner_references) {
      if (ref.controller && ref.kind == owner.kind && apiGroupOf(ref.api_version) == owner.group) {
        return kube::objectKey(owner.namespaced ? owned.metadata.ns : "", ref.name);
      }
    }
    return std::nullopt;
  };
}

// ---- Manager ----

// One resource (and label selector) watched in every configured namespace, seen as one Store.
struct Manager::InformerSet : kube::Store {
  kube::Resource resource;
  std::string label_selector;
  // Namespace -> informer; a single "" entry watches every namespace.
  std::vector<std::pair<std::string, std::unique_ptr<kube::Informer>>> informers;

  std::string describe() const {
    return (resource.group.empty() ? resource.plural : resource.plural + "." + resource.group) +
           (label_selector.empty() ? "" : "{" + label_selector + "}");
  }

  kube::ObjectPtr get(std::string_view ns, std::string_view name) const override {
    for (const auto& [informer_ns, informer] : informers) {
      if (informer_ns.empty() || informer_ns == ns) {
        return informer->store().get(ns, name);
      }
    }
    return nullptr;
  }
  std::vector<kube::ObjectPtr> list() const override {
    if (informers.size() == 1) {
      return informers.front().second->store().list();
    }
    std::vector<kube::ObjectPtr> all;
    for (const auto& entry : informers) {
      auto part = entry.second->store().list();
      all.insert(all.end(), part.begin(), part.end());
    }
    std::sort(all.begin(), all.end(), [](const kube::ObjectPtr& a, const kube::ObjectPtr& b) {
      return a->key() < b->key();
    });
    return all;
  }
  bool hasSynced() const override {
    return std::all_of(informers.begin(), informers.end(),
                       [](const auto& entry) { return entry.second->store().hasSynced(); });
  }
};

struct Manager::Controller {
  ControllerSpec spec;
  std::unique_ptr<kube::WorkQueue> queue;
  kube::WorkerGroup workers;
};

Manager::Manager(ManagerOptions options, ManagerDeps deps, Clock& clock)
    : options_(std::move(options)), deps_(std::move(deps)), clock_(clock) {}

Result<std::unique_ptr<Manager>> Manager::create(ManagerOptions options, ManagerDeps deps) {
  OPSY_RETURN_IF_ERROR(validateOptions(options));
  Clock& clock = deps.clock != nullptr ? *deps.clock : realClock();
  if (!deps.env) {
    deps.env = kube::processEnv();
  }
  std::unique_ptr<Manager> m(new Manager(std::move(options), std::move(deps), clock));
  const ManagerOptions& o = m->options_;
  if (m->deps_.handle_signals) {
    // Before any thread starts, so every later thread inherits the blocked signal mask.
    m->signals_ = std::make_unique<SignalHandler>(m->shutdown_);
  }
  if (m->deps_.setup_logging) {
    log::setup({*log::parseFormat(o.log_format), *log::parseLevel(o.log_level)});
  }

  OPSY_ASSIGN_OR_RETURN(m->rest_config_, resolveRestConfig(o, m->deps_, clock));
  http::TransportPtr transport = m->deps_.kube_transport;
  if (!transport) {
    http::CurlTransportOptions base;
    base.user_agent = o.name + "-controller/" + o.version;
    OPSY_ASSIGN_OR_RETURN(transport, kube::makeTransport(m->rest_config_, base));
  }
  m->metrics_ = std::make_unique<Metrics>(o.name, o.version);
  kube::ClientOptions client_options;
  client_options.user_agent = o.name + "-controller/" + (o.version.empty() ? "dev" : o.version);
  client_options.observer = [metrics = m->metrics_.get()](const kube::RequestObservation& r) {
    if (r.http_status == 0 && r.error_code == toString(ErrorCode::Cancelled)) {
      return;  // a watch stopped before the server answered: nothing happened
    }
    metrics->kubeCall(r.verb, r.resource,
                      r.http_status == 0 ? std::string("network") : std::to_string(r.http_status),
                      r.elapsed);
  };
  m->client_ = kube::makeClient(m->rest_config_, transport, clock, client_options);

  AwsClientsOptions aws_options;
  aws_options.default_region = o.aws_region;
  aws_options.transport = m->deps_.aws_transport;
  aws_options.credentials = m->deps_.aws_credentials;
  aws_options.clock = ClockPtr(std::shared_ptr<Clock>(), &clock);
  if (m->deps_.aws_env) {
    aws_options.env = m->deps_.aws_env;
  }
  m->aws_ = std::make_unique<AwsClients>(std::move(aws_options), m->metrics_.get());

  const std::string host = hostName();
  m->event_sink_ = std::make_unique<kube::ClientEventSink>(m->client_);
  kube::EventRecorderOptions event_options;
  event_options.reporting_controller = std::string(kGroupSuffix) + "/" + o.name + "-controller";
  event_options.reporting_instance = m->deps_.env("POD_NAME").value_or(host);
  m->events_ = std::make_unique<kube::EventRecorderImpl>(*m->event_sink_, clock, event_options);

  if (o.leader_elect) {
    const std::string ns = o.leader_election_namespace.empty() ? m->rest_config_.default_namespace
                                                               : o.leader_election_namespace;
    const std::string id =
        o.leader_election_id.empty() ? o.name + "." + kGroupSuffix : o.leader_election_id;
    m->lease_store_ = m->deps_.lease_store
                          ? m->deps_.lease_store(m->client_, ns, id)
                          : std::make_unique<kube::ClientLeaseStore>(m->client_, ns, id);
    kube::LeaderElectionConfig config;
    config.identity = m->deps_.identity.empty() ? host + "_" + randomHex() : m->deps_.identity;
    config.lease_duration = o.lease_duration;
    config.renew_deadline = o.renew_deadline;
    config.retry_period = o.retry_period;
    Manager* self = m.get();
    kube::LeaderCallbacks callbacks;
    callbacks.on_started_leading = [self] {
      logger().info("became leader", log::kv("lease", self->lease_store_->describe(), "identity",
                                             self->elector_->identity()));
      self->metrics_->leader(true);
      self->startControllers();
    };
    callbacks.on_stopped_leading = [self] { self->stopLeading(); };
    callbacks.on_new_leader = [self](const std::string& identity) {
      logger().info("leader observed",
                    log::kv("lease", self->lease_store_->describe(), "leader", identity));
    };
    auto elector =
        kube::LeaderElector::create(config, *m->lease_store_, clock, std::move(callbacks));
    if (!elector) {
      return fail(std::move(elector).error().context("leader election"));
    }
    m->elector_ = std::move(*elector);
  }
  logger().info("manager configured",
                log::kv("controller", o.name, "config", m->rest_config_.origin, "server",
                        m->rest_config_.server, "leader_elect", o.leader_elect, "namespaces",
                        o.namespaces.empty() ? std::string("*")
                                             : fmt::format("{}", fmt::join(o.namespaces, ","))));
  return m;
}

Manager::~Manager() {
  // Informer handlers point at the queues; stop them before anything they use goes away.
  for (auto& set : informers_) {
    for (auto& entry : set->informers) {
      entry.second->stop();
    }
  }
  for (auto& c : controllers_) {
    c->queue->shutDown();
  }
  if (starter_.joinable()) {
    starter_.join();
  }
  for (auto& c : controllers_) {
    c->workers.join();
  }
  if (elector_thread_.joinable()) {
    elector_->stop();
    elector_thread_.join();
  }
  if (events_) {
    events_->shutDown();
  }
}

kube::EventRecorder& Manager::events() {
  return *events_;
}

Manager::InformerSet& Manager::informerFor(const kube::Resource& resource,
                                           const std::string& label_selector, Duration resync) {
  for (auto& set : informers_) {
    if (set->resource.group == resource.group && set->resource.version == resource.version &&
        set->resource.plural == resource.plural && set->label_selector == label_selector) {
      return *set;
    }
  }
  auto set = std::make_unique<InformerSet>();
  set->resource = resource;
  set->label_selector = label_selector;
  std::vector<std::string> namespaces = options_.namespaces;
  if (namespaces.empty() || !resource.namespaced) {
    namespaces = {""};
  }
  for (const auto& ns : namespaces) {
    kube::InformerOptions io;
    io.resource = resource;
    io.ns = ns;
    io.label_selector = label_selector;
    io.resync_period = resync;
    set->informers.emplace_back(ns, std::make_unique<kube::Informer>(client_, io, clock_));
  }
  informers_.push_back(std::move(set));
  return *informers_.back();
}

const kube::Store& Manager::cache(const kube::Resource& resource,
                                  const std::string& label_selector) {
  return informerFor(resource, label_selector, Duration{0});
}

Status Manager::addController(ControllerSpec spec) {
  if (spec.name.empty() || !spec.reconcile || spec.resource.plural.empty()) {
    return fail(ErrorCode::InvalidArgument,
                "controller: name, resource and reconcile function are required");
  }
  {
    std::lock_guard lock(mu_);
    if (running_) {
      return fail(ErrorCode::FailedPrecondition,
                  "controller " + spec.name + ": added after the manager started");
    }
  }
  for (const auto& c : controllers_) {
    if (c->spec.name == spec.name) {
      return fail(ErrorCode::AlreadyExists, "controller " + spec.name + ": already registered");
    }
  }
  auto controller = std::make_unique<Controller>();
  kube::WorkQueueOptions qo;
  qo.name = spec.name;
  qo.metrics = queueMetrics(*metrics_, spec.name);
  controller->queue = std::make_unique<kube::WorkQueue>(clock_, qo);
  kube::WorkQueue* queue = controller->queue.get();

  kube::ResourceEventHandlers primary;
  primary.on_add = [queue](const kube::Object& obj) { queue->add(obj.key()); };
  primary.on_update = [queue](const kube::Object&, const kube::Object& obj) {
    queue->add(obj.key());
  };
  primary.on_delete = [queue](const kube::Object& obj) { queue->add(obj.key()); };
  InformerSet& primary_set = informerFor(spec.resource, "", spec.resync);
  for (auto& entry : primary_set.informers) {
    entry.second->addHandlers(primary);
  }

  for (const auto& owned : spec.owns) {
    OwnerMapper map = owned.map_to_owner ? owned.map_to_owner : controllerOwnerOf(spec.resource);
    auto enqueue = [queue, map](const kube::Object& obj) {
      if (auto key = map(obj); key.has_value()) {
        queue->add(*key);
      }
    };
    kube::ResourceEventHandlers handlers;
    handlers.on_add = enqueue;
    handlers.on_update = [enqueue](const kube::Object&, const kube::Object& obj) { enqueue(obj); };
    handlers.on_delete = enqueue;
    InformerSet& set = informerFor(owned.resource, owned.label_selector, Duration{0});
    for (auto& entry : set.informers) {
      entry.second->addHandlers(handlers);
    }
  }
  controller->spec = std::move(spec);
  controllers_.push_back(std::move(controller));
  return ok();
}

Status Manager::readiness() const {
  if (shutdown_.requested()) {
    return fail(ErrorCode::Unavailable, "shutting down");
  }
  std::vector<std::string> unsynced;
  for (const auto& set : informers_) {
    if (!set->hasSynced()) {
      unsynced.push_back(set->describe());
    }
  }
  OPSY_RETURN_IF_ERROR(cachesReady(unsynced));
  return electionSettled(elector_ != nullptr, elector_ && elector_->isLeader(),
                         elector_ ? elector_->observedLeader() : "");
}

bool Manager::leading() const {
  return elector_ ? elector_->isLeader() : true;
}

int Manager::metricsPort() const {
  return probes_ ? probes_->metricsPort() : 0;
}

int Manager::probePort() const {
  return probes_ ? probes_->probePort() : 0;
}

void Manager::requestShutdown(const std::string& reason) {
  shutdown_.request(reason);
}

void Manager::startControllers() {
  std::lock_guard lock(mu_);
  if (controllers_started_ || shutdown_.requested()) {
    return;
  }
  controllers_started_ = true;
  starter_ = std::thread([this] { controllerLoop(); });
}

bool Manager::waitForCaches() {
  const auto deadline = std::chrono::steady_clock::now() + options_.cache_sync_timeout;
  for (;;) {
    bool synced = std::all_of(informers_.begin(), informers_.end(),
                              [](const auto& set) { return set->hasSynced(); });
    if (synced) {
      return true;
    }
    if (shutdown_.requested() || std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    shutdown_.waitFor(std::chrono::milliseconds(20));
  }
}

void Manager::controllerLoop() {
  if (!waitForCaches()) {
    if (!shutdown_.requested()) {
      logger().error("caches did not sync",
                     log::kv("timeout", formatDuration(options_.cache_sync_timeout)));
      failed_ = true;
      shutdown_.request("caches did not sync");
    }
    return;
  }
  for (auto& c : controllers_) {
    std::lock_guard lock(mu_);
    if (shutdown_.requested()) {
      return;
    }
    const int n = c->spec.workers > 0 ? c->spec.workers : options_.workers;
    c->workers = kube::runWorkers(
        *c->queue, n, instrumentReconcile(c->spec.name, c->spec.reconcile, *metrics_, clock_));
    logger().info("controller started", log::kv("controller", c->spec.name, "workers", n));
  }
}

void Manager::stopLeading() {
  metrics_->leader(false);
  if (shutdown_.requested()) {
    return;
  }
  // Another replica may take over after the lease expires: stop handing out work now.
  lost_lease_ = true;
  logger().error("leader election lost", log::kv("lease", lease_store_->describe()));
  for (auto& c : controllers_) {
    c->queue->shutDown();
  }
  shutdown_.request("leader election lost");
}

bool Manager::stopControllers() {
  for (auto& c : controllers_) {
    c->queue->shutDown();
  }
  std::thread starter;
  {
    std::lock_guard lock(mu_);
    starter = std::move(starter_);
  }
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  std::thread joiner([this, done, starter = std::move(starter)]() mutable {
    if (starter.joinable()) {
      starter.join();
    }
    for (auto& c : controllers_) {
      c->workers.join();
    }
    done->set_value();
  });
  if (finished.wait_for(options_.graceful_shutdown_timeout) == std::future_status::ready) {
    joiner.join();
    return true;
  }
  joiner.detach();
  return false;
}

int Manager::run() {
  {
    std::lock_guard lock(mu_);
    if (running_) {
      logger().error("manager run twice");
      return 1;
    }
    running_ = true;
  }
  ProbeServerOptions po;
  po.metrics_address = options_.metrics_bind_address;
  po.probe_address = options_.health_probe_bind_address;
  probes_ = std::make_unique<ProbeServer>(po, *metrics_);
  probes_->addHealthCheck("ping", [] { return ok(); });
  probes_->addReadyCheck("informers", [this]() -> Status {
    std::vector<std::string> unsynced;
    for (const auto& set : informers_) {
      if (!set->hasSynced()) {
        unsynced.push_back(set->describe());
      }
    }
    return cachesReady(unsynced);
  });
  probes_->addReadyCheck("leader-election", [this] {
    return electionSettled(elector_ != nullptr, elector_ && elector_->isLeader(),
                           elector_ ? elector_->observedLeader() : "");
  });
  if (auto started = probes_->start(); !started) {
    logger().error("probe server failed", log::kv("error", started.error().message));
    failed_ = true;
    shutdown_.request("probe server failed");
  } else {
    for (auto& set : informers_) {
      for (auto& entry : set->informers) {
        entry.second->start();
      }
    }
    if (elector_) {
      elector_thread_ = std::thread([this] { elector_->run(); });
    } else {
      metrics_->leader(true);
      startControllers();
    }
    logger().info("manager started",
                  log::kv("controller", options_.name, "metrics_port", probes_->metricsPort(),
                          "probe_port", probes_->probePort()));
  }

  shutdown_.wait();
  logger().info("stopping", log::kv("reason", shutdown_.reason()));
  if (!stopControllers()) {
    logger().error("reconciles still running after the grace period, exiting",
                   log::kv("grace_period", formatDuration(options_.graceful_shutdown_timeout)));
    log::flush();
    std::_Exit(1);
  }
  if (elector_thread_.joinable()) {
    elector_->stop();  // releases the lease when this replica holds it
    elector_thread_.join();
  }
  for (auto& set : informers_) {
    for (auto& entry : set->informers) {
      entry.second->stop();
    }
  }
  events_->shutDown();
  probes_->stop();
  metrics_->leader(false);
  const int code = (lost_lease_ || failed_) ? 1 : 0;
  logger().info("stopped", log::kv("exit_code", code));
  return code;
}

}  // namespace opsy::runtime

#include "opsy/runtime/manager.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
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

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

// The files named by the flags, or a self-signed certificate for the names a scraper may use.
Result<ServingCertificatePtr> metricsCertificate(const ManagerOptions& o) {
  if (o.metrics_cert_path.empty()) {
    return ServingCertificate::selfSigned({hostName(), "localhost", "127.0.0.1", "::1"});
  }
  const std::string dir = o.metrics_cert_path + (o.metrics_cert_path.back() == '/' ? "" : "/");
  auto loaded = ServingCertificate::fromFiles(dir + o.metrics_cert_name, dir + o.metrics_cert_key);
  if (!loaded) {
    return fail(loaded.error().code, "flag --metrics-cert-path: " + loaded.error().message);
  }
  return loaded;
}

std::string randomHex() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

}  // namespace

// ---- decisions (manager_internal.h) ----

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

Status plaintextCredentialsAllowed(const kube::RestConfig& config, const ManagerOptions& options) {
  const bool allowed = options.insecure_allow_http_credentials_on_loopback;
  Status checked = kube::checkPlaintextCredentials(config, allowed);
  if (checked) {
    if (allowed && config.credentials) {
      logger().warn("sending credentials over plain http to a loopback server",
                    log::kv("server", config.server));
    }
    return ok();
  }
  return fail(ErrorCode::FailedPrecondition,
              checked.error().message +
                  (allowed ? "; use an https:// server"
                           : "; use an https:// server, or, for a development API server on this "
                             "machine (127.0.0.0/8, ::1, localhost), pass "
                             "--insecure-allow-http-credentials-on-loopback"));
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

// ---- Manager ----

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
  OPSY_RETURN_IF_ERROR(plaintextCredentialsAllowed(m->rest_config_, o));
  http::TransportPtr transport = m->deps_.kube_transport;
  if (!transport) {
    http::CurlTransportOptions base;
    base.user_agent = o.name + "-controller/" + o.version;
    base.max_response_body_bytes = static_cast<size_t>(o.kube_max_response_bytes);
    OPSY_ASSIGN_OR_RETURN(transport, kube::makeTransport(m->rest_config_, base));
  }
  m->metrics_ = std::make_unique<Metrics>(o.name, o.version);
  if (o.metrics_secure) {
    OPSY_ASSIGN_OR_RETURN(m->metrics_certificate_, metricsCertificate(o));
  }
  kube::ClientOptions client_options;
  client_options.user_agent = o.name + "-controller/" + (o.version.empty() ? "dev" : o.version);
  client_options.watch_idle_timeout = o.watch_idle_timeout;
  client_options.max_watch_event_bytes = static_cast<size_t>(o.watch_max_event_bytes);
  client_options.allow_http_credentials_on_loopback = o.insecure_allow_http_credentials_on_loopback;
  client_options.observer = [metrics = m->metrics_.get()](const kube::RequestObservation& r) {
    if (r.http_status == 0 && r.error_code == toString(ErrorCode::Cancelled)) {
      return;  // a watch stopped before the server answered: nothing happened
    }
    metrics->kubeCall(r.verb, r.resource,
                      r.http_status == 0 ? std::string("network") : std::to_string(r.http_status),
                      r.elapsed);
  };
  m->client_ = kube::makeClient(m->rest_config_, transport, clock, client_options);
  m->cache_ = std::make_unique<kube::InformerCache>(
      m->client_, kube::InformerCacheOptions{.namespaces = o.namespaces}, clock);
  m->reader_ = std::make_unique<kube::CacheReader>(*m->cache_, *m->client_);
  m->writer_ = std::make_unique<kube::CacheAwareWriter>(*m->client_, *m->cache_);

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
  if (cache_) {
    cache_->stop();
  }
  for (auto& c : controllers_) {
    c->shutDown();
  }
  if (starter_.joinable()) {
    starter_.join();
  }
  for (auto& c : controllers_) {
    c->join();
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

const kube::Store& Manager::cache(const kube::Resource& resource,
                                  const std::string& label_selector) {
  return cache_->informerFor(resource, label_selector);
}

void Manager::addIndex(const kube::Resource& resource, kube::Index index,
                       const std::string& label_selector) {
  cache_->informerFor(resource, label_selector).addIndex(index);
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
    if (c->spec().name == spec.name) {
      return fail(ErrorCode::AlreadyExists, "controller " + spec.name + ": already registered");
    }
  }
  auto controller = std::make_unique<Controller>(std::move(spec), *metrics_, clock_);
  const ControllerSpec& added = controller->spec();
  kube::MultiNamespaceInformer& primary = cache_->informerFor(added.resource);
  primary.requestResync(added.resync);
  for (const auto& index : added.indexes) {
    primary.addIndex(index);
  }
  primary.addHandlers(controller->primaryHandlers());
  for (const auto& owned : added.owns) {
    kube::MultiNamespaceInformer& informer =
        cache_->informerFor(owned.resource, owned.label_selector);
    for (const auto& index : owned.indexes) {
      informer.addIndex(index);
    }
    informer.addHandlers(controller->ownedHandlers(owned));
  }
  controllers_.push_back(std::move(controller));
  return ok();
}

Status Manager::readiness() const {
  if (shutdown_.requested()) {
    return fail(ErrorCode::Unavailable, "shutting down");
  }
  OPSY_RETURN_IF_ERROR(cachesReady(cache_->unsynced()));
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
    if (cache_->hasSynced()) {
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
    c->start(options_.workers);
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
    c->shutDown();
  }
  shutdown_.request("leader election lost");
}

bool Manager::stopControllers() {
  for (auto& c : controllers_) {
    c->shutDown();
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
      c->join();
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
  if (metrics_certificate_) {
    po.metrics_tls = metrics_certificate_;
    metrics_access_ = std::make_unique<MetricsAccess>(*client_, clock_);
    po.metrics_access = [access = metrics_access_.get()](std::string_view authorization) {
      return access->review(authorization);
    };
  }
  probes_ = std::make_unique<ProbeServer>(po, *metrics_);
  probes_->addHealthCheck("ping", [] { return ok(); });
  probes_->addReadyCheck("informers", [this] { return cachesReady(cache_->unsynced()); });
  probes_->addReadyCheck("leader-election", [this] {
    return electionSettled(elector_ != nullptr, elector_ && elector_->isLeader(),
                           elector_ ? elector_->observedLeader() : "");
  });
  if (auto started = probes_->start(); !started) {
    logger().error("probe server failed", log::kv("error", started.error().message));
    failed_ = true;
    shutdown_.request("probe server failed");
  } else {
    cache_->start();
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
  cache_->stop();
  events_->shutDown();
  probes_->stop();
  metrics_->leader(false);
  const int code = (lost_lease_ || failed_) ? 1 : 0;
  logger().info("stopped", log::kv("exit_code", code));
  return code;
}

}  // namespace opsy::runtime

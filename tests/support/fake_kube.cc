// FakeKube lifecycle, the direct test API, fault configuration and request accounting.
#include "support/fake_kube.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "opsy/core/time_format.h"
#include "support/fake_kube_impl.h"

namespace opsy::testing {

namespace {

ApiError toNotFound(std::string_view api_version, std::string_view kind) {
  ApiError e =
      simpleError(404, "NotFound",
                  fmt::format("no matches for kind \"{}\" in version \"{}\"", kind, api_version));
  return e;
}

Error toError(const ApiError& e) {
  ErrorCode code = ErrorCode::Internal;
  switch (e.code) {
    case 400:
    case 422: code = ErrorCode::InvalidArgument; break;
    case 404: code = ErrorCode::NotFound; break;
    case 409:
      code = e.reason == "AlreadyExists" ? ErrorCode::AlreadyExists : ErrorCode::Conflict;
      break;
    default: break;
  }
  return Error{code, e.message}.withHttpStatus(e.code).withProviderCode(e.reason);
}

}  // namespace

FakeKube::Impl::Impl(FakeKubeOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : realClockPtr()),
      rng_(options_.fault_seed),
      fault_rng_(options_.fault_seed),
      runner_(options_.job_runner != nullptr ? options_.job_runner : completingJobRunner()),
      capture_(WriteCapture::fromEnvironment()) {
  token_ = options_.token;
  for (auto& t : builtinResourceTypes()) {
    types_.push_back(std::make_shared<ResourceType>(std::move(t)));
  }
  std::lock_guard lock(mu_);
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    Json doc;
    doc.Parse(
        fmt::format(R"({{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{}"}}}})", ns)
            .c_str());
    (void)createLocked(*types_[0], "", std::move(doc), {});
  }
}

std::string FakeKube::Impl::nowRfc3339() const {
  return formatRfc3339(clock_->now());
}

std::string FakeKube::Impl::newUid() {
  const uint64_t n = ++uid_counter_;
  const uint64_t r = rng_();
  return fmt::format("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", static_cast<uint32_t>(r >> 32),
                     static_cast<uint16_t>(r >> 16), static_cast<uint16_t>(r) & 0xfff,
                     static_cast<uint16_t>(n >> 48) & 0xfff, n & 0xffffffffffffULL);
}

std::string FakeKube::Impl::randomSuffix() {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 5; ++i) {
    out.push_back(kAlphabet[rng_() % (sizeof(kAlphabet) - 1)]);
  }
  return out;
}

void FakeKube::Impl::schedule(Duration delay, std::function<void()> fn) {
  std::lock_guard lock(timer_mu_);
  timers_.emplace(std::chrono::steady_clock::now() + delay, std::move(fn));
  timer_cv_.notify_all();
}

void FakeKube::Impl::timerLoop() {
  std::unique_lock lock(timer_mu_);
  while (!stopping_) {
    if (timers_.empty()) {
      timer_cv_.wait_for(lock, std::chrono::milliseconds(100));
      continue;
    }
    auto first = timers_.begin();
    if (first->first > std::chrono::steady_clock::now()) {
      timer_cv_.wait_until(lock, std::min(first->first, std::chrono::steady_clock::now() +
                                                            std::chrono::milliseconds(100)));
      continue;
    }
    auto fn = std::move(first->second);
    timers_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

ResourceTypePtr FakeKube::Impl::findTypeLocked(std::string_view group, std::string_view version,
                                               std::string_view plural) const {
  for (const auto& t : types_) {
    if (t->group == group && (version.empty() || t->version == version) && t->plural == plural) {
      return t;
    }
  }
  return nullptr;
}

ResourceTypePtr FakeKube::Impl::findTypeByKindLocked(std::string_view api_version,
                                                     std::string_view kind) const {
  for (const auto& t : types_) {
    if (t->apiVersion() == api_version && t->kind == kind) {
      return t;
    }
  }
  return nullptr;
}

std::map<std::string, std::vector<std::string>> FakeKube::Impl::groupsLocked() const {
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& t : types_) {
    if (t->group.empty()) {
      continue;
    }
    auto& versions = groups[t->group];
    if (std::find(versions.begin(), versions.end(), t->version) == versions.end()) {
      versions.push_back(t->version);
    }
  }
  return groups;
}

FakeKube::FakeKube() : FakeKube(FakeKubeOptions{}) {}

FakeKube::FakeKube(FakeKubeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

FakeKube::~FakeKube() {
  stop();
}

Status FakeKube::start() {
  if (impl_->options_.tls) {
    OPSY_ASSIGN_OR_RETURN(impl_->certificate_, makeServingCertificate());
    impl_->server_ = std::make_unique<httplib::SSLServer>(impl_->certificate_->x509(),
                                                          impl_->certificate_->key());
  } else {
    impl_->server_ = std::make_unique<httplib::Server>();
  }
  impl_->installRoutes();
  // Headers and body go out as separate writes; with Nagle's algorithm the body would wait for the
  // client's delayed ACK, ~40 ms on every answer, as no real API server makes anyone wait.
  impl_->server_->set_tcp_nodelay(true);
  if (impl_->options_.port == 0) {
    impl_->port_ = impl_->server_->bind_to_any_port("127.0.0.1");
  } else if (impl_->server_->bind_to_port("127.0.0.1", impl_->options_.port)) {
    impl_->port_ = impl_->options_.port;
  } else {
    impl_->port_ = -1;
  }
  if (impl_->port_ <= 0) {
    return fail(ErrorCode::Unavailable, "fake kube cannot bind to 127.0.0.1");
  }
  impl_->server_thread_ = std::thread([this] { impl_->server_->listen_after_bind(); });
  impl_->timer_thread_ = std::thread([this] { impl_->timerLoop(); });
  // listen_after_bind() is running once is_running() says so.
  while (!impl_->server_->is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ok();
}

void FakeKube::stop() {
  if (impl_->stopping_.exchange(true)) {
    return;
  }
  {
    std::lock_guard lock(impl_->mu_);
    impl_->changed_.notify_all();
  }
  impl_->timer_cv_.notify_all();
  if (impl_->server_ != nullptr) {
    impl_->server_->stop();
  }
  if (impl_->server_thread_.joinable()) {
    impl_->server_thread_.join();
  }
  if (impl_->timer_thread_.joinable()) {
    impl_->timer_thread_.join();
  }
}

std::string FakeKube::url() const {
  return (impl_->options_.tls ? "https://127.0.0.1:" : "http://127.0.0.1:") +
         std::to_string(impl_->port_);
}

std::string FakeKube::caCertificatePem() const {
  return impl_->certificate_.has_value() ? impl_->certificate_->pem() : std::string();
}

int FakeKube::port() const {
  return impl_->port_;
}

std::string FakeKube::token() const {
  std::lock_guard lock(impl_->token_mu_);
  return impl_->token_;
}

void FakeKube::setToken(std::string token) {
  std::lock_guard lock(impl_->token_mu_);
  impl_->token_ = std::move(token);
  if (!impl_->token_file_.empty()) {
    std::ofstream(impl_->token_file_) << impl_->token_;
  }
}

void FakeKube::addUser(FakeUser user) {
  for (const std::string& g : implicitGroups(user.username)) {
    if (std::find(user.groups.begin(), user.groups.end(), g) == user.groups.end()) {
      user.groups.push_back(g);
    }
  }
  if (user.uid.empty()) {
    user.uid = "fake-uid-" + user.username;
  }
  std::lock_guard lock(impl_->token_mu_);
  impl_->users_[user.token] = std::move(user);
}

void FakeKube::removeUser(const std::string& token) {
  std::lock_guard lock(impl_->token_mu_);
  impl_->users_.erase(token);
}

Status FakeKube::writeKubeconfig(const std::string& path, const std::string& token_file) const {
  const std::string current_token = token();
  if (!token_file.empty()) {
    std::lock_guard lock(impl_->token_mu_);
    impl_->token_file_ = token_file;
    std::ofstream file(token_file);
    file << current_token;
    if (!file) {
      return fail(ErrorCode::Internal, "cannot write token file " + token_file);
    }
  }
  std::ofstream out(path);
  if (!out) {
    return fail(ErrorCode::Internal, "cannot write kubeconfig " + path);
  }
  out << "apiVersion: v1\n"
      << "kind: Config\n"
      << "clusters:\n"
      << "- name: fake\n"
      << "  cluster:\n"
      << "    server: " << url() << "\n";
  if (impl_->certificate_.has_value()) {
    out << "    certificate-authority-data: " << impl_->certificate_->pemBase64() << "\n";
  }
  out << "contexts:\n"
      << "- name: fake\n"
      << "  context:\n"
      << "    cluster: fake\n"
      << "    user: fake\n"
      << "    namespace: default\n"
      << "current-context: fake\n"
      << "users:\n"
      << "- name: fake\n"
      << "  user:\n"
      << (token_file.empty() ? "    token: " + current_token : "    tokenFile: " + token_file)
      << "\n";
  out.close();
  if (!out) {
    return fail(ErrorCode::Internal, "cannot write kubeconfig " + path);
  }
  return ok();
}

Result<std::string> FakeKube::createObject(std::string_view json) {
  OPSY_ASSIGN_OR_RETURN(Json doc, parseJson(json));
  std::lock_guard lock(impl_->mu_);
  auto type = impl_->findTypeByKindLocked(stringAt(doc, {"apiVersion"}), stringAt(doc, {"kind"}));
  if (type == nullptr) {
    return fail(toError(toNotFound(stringAt(doc, {"apiVersion"}), stringAt(doc, {"kind"}))));
  }
  const std::string ns = type->namespaced ? stringAt(doc, {"metadata", "namespace"}) : "";
  WriteOptions options;
  options.internal = true;
  auto created = impl_->createLocked(*type, ns.empty() && type->namespaced ? "default" : ns,
                                     std::move(doc), options);
  if (!created) {
    return fail(toError(created.error()));
  }
  if (type->plural == "jobs") {
    impl_->startJobLocked(*created);
  }
  return toJson(**created);
}

Result<std::string> FakeKube::updateObject(std::string_view json) {
  OPSY_ASSIGN_OR_RETURN(Json doc, parseJson(json));
  std::lock_guard lock(impl_->mu_);
  auto type = impl_->findTypeByKindLocked(stringAt(doc, {"apiVersion"}), stringAt(doc, {"kind"}));
  if (type == nullptr) {
    return fail(toError(toNotFound(stringAt(doc, {"apiVersion"}), stringAt(doc, {"kind"}))));
  }
  const std::string ns = type->namespaced ? stringAt(doc, {"metadata", "namespace"}) : "";
  const std::string name = stringAt(doc, {"metadata", "name"});
  WriteOptions options;
  options.internal = true;
  auto updated = impl_->updateLocked(*type, ns.empty() && type->namespaced ? "default" : ns, name,
                                     "", std::move(doc), options, false);
  if (!updated) {
    return fail(toError(updated.error()));
  }
  return toJson(**updated);
}

Result<std::string> FakeKube::getObject(std::string_view api_version, std::string_view kind,
                                        std::string_view namespace_name,
                                        std::string_view name) const {
  std::lock_guard lock(impl_->mu_);
  auto type = impl_->findTypeByKindLocked(api_version, kind);
  if (type == nullptr) {
    return fail(toError(toNotFound(api_version, kind)));
  }
  JsonPtr obj = impl_->getLocked(*type, namespace_name, name);
  if (obj == nullptr) {
    return fail(toError(notFoundError(*type, std::string(name))));
  }
  return toJson(*impl_->withApiVersion(obj, *type));
}

Status FakeKube::deleteObject(std::string_view api_version, std::string_view kind,
                              std::string_view namespace_name, std::string_view name) {
  std::lock_guard lock(impl_->mu_);
  auto type = impl_->findTypeByKindLocked(api_version, kind);
  if (type == nullptr) {
    return fail(toError(toNotFound(api_version, kind)));
  }
  bool deleted = false;
  DeleteOptions options;
  options.propagation = "Background";
  auto result =
      impl_->deleteLocked(*type, std::string(namespace_name), std::string(name), options, &deleted);
  if (!result) {
    return fail(toError(result.error()));
  }
  return ok();
}

std::vector<std::string> FakeKube::listObjects(std::string_view api_version, std::string_view kind,
                                               std::string_view namespace_name) const {
  std::lock_guard lock(impl_->mu_);
  std::vector<std::string> out;
  auto type = impl_->findTypeByKindLocked(api_version, kind);
  if (type == nullptr) {
    return out;
  }
  auto store = impl_->objects_.find(type->storageKey());
  if (store == impl_->objects_.end()) {
    return out;
  }
  for (const auto& [key, obj] : store->second) {
    if (namespace_name.empty() || stringAt(*obj, {"metadata", "namespace"}) == namespace_name) {
      out.push_back(toJson(*impl_->withApiVersion(obj, *type)));
    }
  }
  return out;
}

std::string FakeKube::currentResourceVersion() const {
  std::lock_guard lock(impl_->mu_);
  return std::to_string(impl_->rv_);
}

void FakeKube::compactHistory() {
  std::lock_guard lock(impl_->mu_);
  impl_->history_.clear();
  impl_->history_floor_ = impl_->rv_;
}

int FakeKube::requestCount(std::string_view verb, std::string_view resource) const {
  std::lock_guard lock(impl_->faults_mu_);
  int n = 0;
  for (const auto& r : impl_->log_) {
    if ((verb.empty() || r.verb == verb) && (resource.empty() || r.resource == resource)) {
      ++n;
    }
  }
  return n;
}

int FakeKube::writeCount(std::string_view resource) const {
  int n = 0;
  for (const char* verb : {"create", "update", "patch", "delete", "deletecollection"}) {
    n += requestCount(verb, resource);
  }
  return n;
}

std::vector<KubeRequest> FakeKube::requestLog() const {
  std::lock_guard lock(impl_->faults_mu_);
  return impl_->log_;
}

void FakeKube::resetRequestLog() {
  std::lock_guard lock(impl_->faults_mu_);
  impl_->log_.clear();
}

std::vector<KubeRequest> FakeKube::takeRequestLog() {
  std::lock_guard lock(impl_->faults_mu_);
  std::vector<KubeRequest> out;
  out.swap(impl_->log_);
  return out;
}

void FakeKube::addFault(KubeFault fault) {
  std::lock_guard lock(impl_->faults_mu_);
  impl_->faults_.push_back(std::move(fault));
}

void FakeKube::failNext(std::string verb, std::string resource, int http_status, int count) {
  KubeFault fault;
  fault.verb = std::move(verb);
  fault.resource = std::move(resource);
  fault.http_status = http_status;
  fault.count = count;
  addFault(std::move(fault));
}

void FakeKube::addLatency(std::string verb, std::string resource, Duration latency) {
  KubeFault fault;
  fault.verb = std::move(verb);
  fault.resource = std::move(resource);
  fault.latency = latency;
  fault.count = -1;
  addFault(std::move(fault));
}

std::vector<size_t> FakeKube::oversizedBodiesSent() const {
  std::lock_guard lock(impl_->faults_mu_);
  return impl_->oversized_sent_;
}

void FakeKube::clearFaults() {
  std::lock_guard lock(impl_->faults_mu_);
  impl_->faults_.clear();
  std::lock_guard store_lock(impl_->mu_);
  impl_->stalled_.clear();
  impl_->expire_next_.clear();
}

void FakeKube::dropWatches(std::string_view resource) {
  std::lock_guard lock(impl_->mu_);
  for (const auto& w : impl_->watches_) {
    if (resource.empty() || w->resource == resource) {
      w->dropped = true;
    }
  }
  impl_->changed_.notify_all();
}

void FakeKube::stallWatches(std::string_view resource, bool stalled) {
  std::lock_guard lock(impl_->mu_);
  if (stalled) {
    impl_->stalled_.insert(std::string(resource));
  } else {
    impl_->stalled_.erase(std::string(resource));
  }
  impl_->changed_.notify_all();
}

void FakeKube::expireNextWatch(std::string_view resource) {
  std::lock_guard lock(impl_->mu_);
  impl_->expire_next_.insert(std::string(resource));
}

int FakeKube::openWatchCount(std::string_view resource) const {
  std::lock_guard lock(impl_->mu_);
  int n = 0;
  for (const auto& w : impl_->watches_) {
    n += (resource.empty() || w->resource == resource) && !w->dropped ? 1 : 0;
  }
  return n;
}

void FakeKube::setJobRunner(JobRunnerPtr runner) {
  std::lock_guard lock(impl_->runner_mu_);
  impl_->runner_ = std::move(runner);
}

}  // namespace opsy::testing

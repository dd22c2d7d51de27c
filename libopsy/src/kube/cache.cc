#include "opsy/kube/cache.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace opsy::kube {
namespace {

// Whether the informer's `seen` is our write `mine` or newer: the same object (uid) at the same
// resourceVersion, or a later one. resourceVersions are compared as numbers, which they are on
// every API server (etcd revisions); opaque ones only match when equal, and a write the informer
// never matches is dropped after created_ttl.
bool caughtUp(const Object& seen, const Object& mine) {
  if (seen.metadata.uid != mine.metadata.uid) {
    return false;
  }
  const std::string& a = seen.metadata.resource_version;
  const std::string& b = mine.metadata.resource_version;
  if (a == b || b.empty()) {
    return true;
  }
  std::uint64_t seen_rv = 0;
  std::uint64_t mine_rv = 0;
  const auto [pa, ea] = std::from_chars(a.data(), a.data() + a.size(), seen_rv);
  const auto [pb, eb] = std::from_chars(b.data(), b.data() + b.size(), mine_rv);
  return ea == std::errc() && eb == std::errc() && pa == a.data() + a.size() &&
         pb == b.data() + b.size() && seen_rv >= mine_rv;
}

bool sameResource(const Resource& a, const Resource& b) {
  return a.group == b.group && a.version == b.version && a.plural == b.plural;
}

}  // namespace

InformerCache::InformerCache(ClientPtr client, InformerCacheOptions options, Clock& clock)
    : client_(std::move(client)), options_(std::move(options)), clock_(clock) {}

InformerCache::~InformerCache() {
  stop();
}

MultiNamespaceInformer& InformerCache::informerFor(const Resource& resource,
                                                   const std::string& label_selector) {
  std::lock_guard lock(mu_);
  for (auto& informer : informers_) {
    if (sameResource(informer->resource(), resource) &&
        informer->labelSelector() == label_selector) {
      return *informer;
    }
  }
  MultiNamespaceInformerOptions o;
  o.resource = resource;
  o.namespaces = options_.namespaces;
  o.label_selector = label_selector;
  auto informer = std::make_unique<MultiNamespaceInformer>(client_, std::move(o), clock_);
  const MultiNamespaceInformer* self = informer.get();
  ResourceEventHandlers observe;
  observe.on_add = [this, self](const Object& obj) { observed(self, obj); };
  observe.on_update = [this, self](const Object&, const Object& obj) { observed(self, obj); };
  observe.on_delete = [this, self](const Object& obj) { observed(self, obj); };
  informer->addHandlers(observe);
  if (started_) {
    informer->start();
  }
  informers_.push_back(std::move(informer));
  return *informers_.back();
}

void InformerCache::start() {
  std::lock_guard lock(mu_);
  started_ = true;
  for (auto& informer : informers_) {
    informer->start();
  }
}

void InformerCache::stop() {
  std::lock_guard lock(mu_);
  for (auto& informer : informers_) {
    informer->stop();
  }
}

bool InformerCache::hasSynced() const {
  return unsynced().empty();
}

bool InformerCache::waitForSync(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<const MultiNamespaceInformer*> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& informer : informers_) {
      all.push_back(informer.get());
    }
  }
  for (const auto* informer : all) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!informer->waitForSync(std::max(left, std::chrono::milliseconds(0)))) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> InformerCache::unsynced() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& informer : informers_) {
    if (!informer->hasSynced()) {
      out.push_back(informer->describe());
    }
  }
  return out;
}

const MultiNamespaceInformer* InformerCache::informerServing(const Resource& resource,
                                                             std::string_view ns,
                                                             const LabelSelector* selector) const {
  std::lock_guard lock(mu_);
  std::vector<const MultiNamespaceInformer*> candidates;
  int of_resource = 0;
  for (const auto& informer : informers_) {
    if (!sameResource(informer->resource(), resource)) {
      continue;
    }
    ++of_resource;
    if (informer->covers(ns) && informer->hasSynced() && informer->selector().has_value()) {
      candidates.push_back(informer.get());
    }
  }
  for (const auto* informer : candidates) {
    if (informer->selector()->empty()) {
      return informer;
    }
  }
  if (selector != nullptr) {
    for (const auto* informer : candidates) {
      if (selector->implies(*informer->selector())) {
        return informer;
      }
    }
  }
  // Several filtered views and none implied: only the server knows the whole answer.
  return of_resource == 1 && candidates.size() == 1 ? candidates.front() : nullptr;
}

void InformerCache::rememberCreated(const Resource& resource, const Object& created) {
  if (created.metadata.name.empty()) {
    return;
  }
  auto obj = std::make_shared<const Object>(created);
  const auto expires = clock_.steadyNow() + options_.created_ttl;
  std::vector<const MultiNamespaceInformer*> holders;
  {
    std::lock_guard lock(mu_);
    for (const auto& informer : informers_) {
      if (sameResource(informer->resource(), resource) &&
          informer->covers(resource.namespaced ? created.metadata.ns : "") &&
          informer->selector().has_value() &&
          informer->selector()->matches(created.metadata.labels)) {
        holders.push_back(informer.get());
      }
    }
  }
  std::lock_guard lock(created_mu_);
  for (const auto* informer : holders) {
    created_[informer][obj->key()] = Created{obj, expires};
  }
}

void InformerCache::forgetCreated(const Resource& resource, std::string_view ns,
                                  std::string_view name) {
  const std::string key = objectKey(resource.namespaced ? ns : "", name);
  std::lock_guard lock(created_mu_);
  for (auto& [informer, entries] : created_) {
    if (sameResource(informer->resource(), resource)) {
      entries.erase(key);
    }
  }
}

bool InformerCache::pendingLocked(const MultiNamespaceInformer& informer, CreatedByKey& entries,
                                  CreatedByKey::iterator it) {
  const Object& mine = *it->second.obj;
  ObjectPtr cached = informer.get(mine.metadata.ns, mine.metadata.name);
  const bool caught_up = cached != nullptr && caughtUp(*cached, mine);
  if (caught_up || clock_.steadyNow() >= it->second.expires) {
    entries.erase(it);
    return false;
  }
  return true;
}

ObjectPtr InformerCache::created(const MultiNamespaceInformer& informer, const std::string& key) {
  std::lock_guard lock(created_mu_);
  auto entries = created_.find(&informer);
  if (entries == created_.end()) {
    return nullptr;
  }
  auto it = entries->second.find(key);
  if (it == entries->second.end()) {
    return nullptr;
  }
  ObjectPtr obj = it->second.obj;
  return pendingLocked(informer, entries->second, it) ? obj : nullptr;
}

std::vector<ObjectPtr> InformerCache::createdIn(const MultiNamespaceInformer& informer) {
  std::lock_guard lock(created_mu_);
  std::vector<ObjectPtr> out;
  auto entries = created_.find(&informer);
  if (entries == created_.end()) {
    return out;
  }
  for (auto it = entries->second.begin(); it != entries->second.end();) {
    auto next = std::next(it);
    ObjectPtr obj = it->second.obj;
    if (pendingLocked(informer, entries->second, it)) {
      out.push_back(std::move(obj));
    }
    it = next;
  }
  return out;
}

void InformerCache::observed(const MultiNamespaceInformer* informer, const Object& obj) {
  // Any event for the created object means the informer has (or had) it: its own view is the
  // one to trust from now on, including a deletion.
  std::lock_guard lock(created_mu_);
  auto entries = created_.find(informer);
  if (entries == created_.end()) {
    return;
  }
  auto it = entries->second.find(obj.key());
  if (it != entries->second.end() && caughtUp(obj, *it->second.obj)) {
    entries->second.erase(it);
  }
}

}  // namespace opsy::kube

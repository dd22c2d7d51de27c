#include "opsy/kube/multi_namespace_informer.h"

#include <algorithm>

namespace opsy::kube {
namespace {

std::vector<ObjectPtr> mergeByKey(std::vector<std::vector<ObjectPtr>> parts) {
  if (parts.size() == 1) {
    return std::move(parts.front());
  }
  std::vector<ObjectPtr> all;
  for (auto& part : parts) {
    all.insert(all.end(), part.begin(), part.end());
  }
  std::sort(all.begin(), all.end(),
            [](const ObjectPtr& a, const ObjectPtr& b) { return a->key() < b->key(); });
  return all;
}

}  // namespace

MultiNamespaceInformer::MultiNamespaceInformer(ClientPtr client,
                                               MultiNamespaceInformerOptions options, Clock& clock)
    : options_(std::move(options)) {
  if (auto parsed = LabelSelector::parse(options_.label_selector); parsed) {
    selector_ = std::move(*parsed);
  }
  std::vector<std::string> namespaces = options_.namespaces;
  if (namespaces.empty() || !options_.resource.namespaced) {
    namespaces = {""};
  }
  for (const auto& ns : namespaces) {
    InformerOptions io;
    io.resource = options_.resource;
    io.ns = ns;
    io.label_selector = options_.label_selector;
    io.resync_period = options_.resync_period;
    informers_.emplace_back(ns, std::make_unique<Informer>(client, io, clock));
  }
}

MultiNamespaceInformer::~MultiNamespaceInformer() {
  stop();
}

void MultiNamespaceInformer::addHandlers(const ResourceEventHandlers& handlers) {
  for (auto& [ns, informer] : informers_) {
    informer->addHandlers(handlers);
  }
}

void MultiNamespaceInformer::addIndex(const Index& index) {
  for (auto& [ns, informer] : informers_) {
    informer->addIndex(index);
  }
}

void MultiNamespaceInformer::requestResync(Duration period) {
  if (period.count() <= 0 ||
      (options_.resync_period.count() > 0 && options_.resync_period <= period)) {
    return;
  }
  options_.resync_period = period;
  for (auto& [ns, informer] : informers_) {
    informer->setResyncPeriod(period);
  }
}

void MultiNamespaceInformer::start() {
  for (auto& [ns, informer] : informers_) {
    informer->start();
  }
}

void MultiNamespaceInformer::stop() {
  for (auto& [ns, informer] : informers_) {
    informer->stop();
  }
}

bool MultiNamespaceInformer::waitForSync(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& [ns, informer] : informers_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!informer->waitForSync(std::max(left, std::chrono::milliseconds(0)))) {
      return false;
    }
  }
  return true;
}

bool MultiNamespaceInformer::covers(std::string_view ns) const {
  if (informers_.size() == 1 && informers_.front().first.empty()) {
    return true;
  }
  return !ns.empty() && std::any_of(informers_.begin(), informers_.end(),
                                    [&](const auto& entry) { return entry.first == ns; });
}

std::string MultiNamespaceInformer::describe() const {
  const Resource& r = options_.resource;
  return (r.group.empty() ? r.plural : r.plural + "." + r.group) +
         (options_.label_selector.empty() ? "" : "{" + options_.label_selector + "}");
}

ObjectPtr MultiNamespaceInformer::get(std::string_view ns, std::string_view name) const {
  for (const auto& [informer_ns, informer] : informers_) {
    if (informer_ns.empty() || informer_ns == ns) {
      return informer->store().get(ns, name);
    }
  }
  return nullptr;
}

std::vector<ObjectPtr> MultiNamespaceInformer::list() const {
  std::vector<std::vector<ObjectPtr>> parts;
  for (const auto& [ns, informer] : informers_) {
    parts.push_back(informer->store().list());
  }
  return mergeByKey(std::move(parts));
}

bool MultiNamespaceInformer::hasSynced() const {
  return std::all_of(informers_.begin(), informers_.end(),
                     [](const auto& entry) { return entry.second->store().hasSynced(); });
}

Result<std::vector<ObjectPtr>> MultiNamespaceInformer::byIndex(std::string_view index,
                                                               std::string_view value) const {
  std::vector<std::vector<ObjectPtr>> parts;
  for (const auto& [ns, informer] : informers_) {
    OPSY_ASSIGN_OR_RETURN(auto part, informer->store().byIndex(index, value));
    parts.push_back(std::move(part));
  }
  return mergeByKey(std::move(parts));
}

bool MultiNamespaceInformer::hasIndex(std::string_view index) const {
  return std::all_of(informers_.begin(), informers_.end(),
                     [&](const auto& entry) { return entry.second->store().hasIndex(index); });
}

}  // namespace opsy::kube

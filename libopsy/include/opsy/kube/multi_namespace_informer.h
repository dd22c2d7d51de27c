// File: multi_namespace_informer.h
//
// One resource watched in a set of namespaces, presented as one Store, like controller-runtime's
// multi-namespace cache: one informer per namespace (so the controller needs RBAC only there),
// or a single informer when every namespace is watched or the resource is cluster-scoped.
// Handlers and indexes apply to every namespace's informer; reads merge them in key order.
//
//   MultiNamespaceInformer jobs(client, {.resource = jobs(), .namespaces = {"ci"}}, clock);
//   jobs.addIndex(ownerUidIndex());  jobs.start();
//   auto owned = jobs.byIndex(kOwnerUidIndex, builder_uid);
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/kube/client.h"
#include "opsy/kube/informer.h"
#include "opsy/kube/selector.h"
#include "opsy/kube/store.h"

namespace opsy::kube {

struct MultiNamespaceInformerOptions {
  Resource resource;
  // Empty: every namespace.
  std::vector<std::string> namespaces;
  // Narrows what is cached (and so what reads of this cache can see).
  std::string label_selector;
  Duration resync_period{0};
};

class MultiNamespaceInformer : public Store {
 public:
  MultiNamespaceInformer(ClientPtr client, MultiNamespaceInformerOptions options, Clock& clock);
  ~MultiNamespaceInformer() override;
  MultiNamespaceInformer(const MultiNamespaceInformer&) = delete;
  MultiNamespaceInformer& operator=(const MultiNamespaceInformer&) = delete;

  // See Informer::addHandlers and Informer::addIndex.
  void addHandlers(const ResourceEventHandlers& handlers);
  void addIndex(const Index& index);
  // Asks for a resync at least this often (zero asks for none); before start(), the shortest
  // non-zero period asked for wins.
  void requestResync(Duration period);

  void start();
  void stop();
  // Blocks until every namespace's informer has synced or `timeout` (real time) passes.
  bool waitForSync(std::chrono::milliseconds timeout) const;

  const Resource& resource() const { return options_.resource; }
  const std::string& labelSelector() const { return options_.label_selector; }
  // The parsed label selector; nullopt when the text does not parse (the server refuses it too,
  // so such an informer never syncs).
  const std::optional<LabelSelector>& selector() const { return selector_; }
  // True when this cache holds every object of namespace `ns`; an empty `ns` asks for every
  // namespace at once.
  bool covers(std::string_view ns) const;
  // "jobs.batch{app=x}": the name readiness messages use.
  std::string describe() const;

  ObjectPtr get(std::string_view ns, std::string_view name) const override;
  std::vector<ObjectPtr> list() const override;
  bool hasSynced() const override;
  [[nodiscard]] Result<std::vector<ObjectPtr>> byIndex(std::string_view index,
                                                       std::string_view value) const override;
  bool hasIndex(std::string_view index) const override;

 private:
  MultiNamespaceInformerOptions options_;
  std::optional<LabelSelector> selector_;
  // Namespace -> informer; a single "" entry watches every namespace.
  std::vector<std::pair<std::string, std::unique_ptr<Informer>>> informers_;
};

}  // namespace opsy::kube

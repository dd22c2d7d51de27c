// File: cache.h
//
// The informer cache a controller process reads from, controller-runtime's Cache: one
// MultiNamespaceInformer per (resource, label selector) asked for, shared by every controller
// and reader, started and synced together. It also remembers the objects this process created
// until their informer has them, so a reconcile that runs before the watch delivers its own
// create still sees it (the window client-go's controllers cover with "expectations").
//
//   InformerCache cache(client, {.namespaces = {"ci"}}, clock);
//   cache.informerFor(resources::jobs()).addIndex(labelIndex("job-name"));
//   cache.start();  ...  CacheReader reader(cache, *client);  (cache_reader.h)
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/kube/client.h"
#include "opsy/kube/multi_namespace_informer.h"
#include "opsy/kube/selector.h"
#include "opsy/kube/store.h"

namespace opsy::kube {

struct InformerCacheOptions {
  // Namespaces watched; empty: every namespace.
  std::vector<std::string> namespaces;
  // How long a created object is shown while its informer does not have it. The watch normally
  // delivers it within a second; the bound covers a create whose watch events were lost to a
  // relist after it was deleted again.
  Duration created_ttl = std::chrono::minutes(1);
};

class InformerCache {
 public:
  InformerCache(ClientPtr client, InformerCacheOptions options, Clock& clock);
  ~InformerCache();
  InformerCache(const InformerCache&) = delete;
  InformerCache& operator=(const InformerCache&) = delete;

  // The informer of `resource` narrowed by `label_selector`, created on first use; one created
  // after start() starts at once. The reference stays valid for the cache's life.
  MultiNamespaceInformer& informerFor(const Resource& resource,
                                      const std::string& label_selector = "");

  void start();
  // Stops every informer (their handlers run no more once this returns).
  void stop();
  bool hasSynced() const;
  // Blocks until every informer has synced or `timeout` (real time) passes.
  bool waitForSync(std::chrono::milliseconds timeout) const;
  // describe() of every informer that has not synced yet.
  std::vector<std::string> unsynced() const;

  // The synced informer that holds every object of `resource` in namespace `ns` (empty: every
  // namespace) that a read with `selector` (null for a get) can return, or null when none does.
  // An unfiltered informer is preferred; then one whose selector `selector` implies; then the
  // only informer of the resource, as a filtered informer is the process's view of that kind.
  const MultiNamespaceInformer* informerServing(const Resource& resource, std::string_view ns,
                                                const LabelSelector* selector) const;

  // Remembers an object this process created (as the server returned it) for every informer of
  // its resource that would hold it; ignored for resources nobody watches.
  void rememberCreated(const Resource& resource, const Object& created);
  // Forgets a remembered creation (after this process deleted the object).
  void forgetCreated(const Resource& resource, std::string_view ns, std::string_view name);
  // The remembered creation of `key` that `informer` does not have yet, or null. Drops entries
  // the informer has caught up with (same uid) or that are older than created_ttl.
  ObjectPtr created(const MultiNamespaceInformer& informer, const std::string& key);
  // Every remembered creation `informer` does not have yet, in key order.
  std::vector<ObjectPtr> createdIn(const MultiNamespaceInformer& informer);

 private:
  struct Created {
    ObjectPtr obj;
    std::chrono::steady_clock::time_point expires;
  };
  using CreatedByKey = std::map<std::string, Created>;

  // Drops `it` when stale; returns whether it is still pending.
  bool pendingLocked(const MultiNamespaceInformer& informer, CreatedByKey& entries,
                     CreatedByKey::iterator it);
  void observed(const MultiNamespaceInformer* informer, const Object& obj);

  ClientPtr client_;
  InformerCacheOptions options_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<MultiNamespaceInformer>> informers_;
  bool started_ = false;
  std::mutex created_mu_;
  std::map<const MultiNamespaceInformer*, CreatedByKey> created_;
};

}  // namespace opsy::kube

// File: store.h
//
// The informer cache's object store, with indexes the way client-go's Indexer keeps them: an
// index is a named function from an object to the values it is filed under ("label:<key>" files
// an object under the value of one label, "owner-uid" under its controller's uid), maintained on
// every add, update, delete and relist, so "the Jobs of builder X" is a lookup of the matches
// instead of a scan of the cache. Store is the read-only view reconcilers get; IndexedStore is the
// thread-safe implementation the informer writes.
//
//   informer.addIndex(labelIndex("ami.refresh.ops/builder-uid"));
//   auto jobs = informer.store().byIndex(labelIndexName("ami.refresh.ops/builder-uid"), uid);
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "opsy/core/result.h"
#include "opsy/kube/object.h"

namespace opsy::kube {

using ObjectPtr = std::shared_ptr<const Object>;

// The values an object is filed under in one index (none, one or several).
using IndexFunc = std::function<std::vector<std::string>(const Object& obj)>;

// A named index. The name identifies the function: registering a name twice keeps the first.
struct Index {
  std::string name;
  IndexFunc fn;
};

// "label:<key>": objects by the value of label `key` (objects without the label are not filed).
std::string labelIndexName(std::string_view key);
Index labelIndex(std::string_view key);

// "owner-uid": objects by the uid of their controller ownerReference.
inline constexpr std::string_view kOwnerUidIndex = "owner-uid";
Index ownerUidIndex();

// A read-only, thread-safe view of an informer's cache.
class Store {
 public:
  virtual ~Store() = default;
  /** The cached object, or null. For cluster-scoped resources pass an empty namespace. */
  virtual ObjectPtr get(std::string_view ns, std::string_view name) const = 0;
  /** Every cached object, ordered by key. */
  virtual std::vector<ObjectPtr> list() const = 0;
  /** True once the first complete list has been stored. */
  virtual bool hasSynced() const = 0;
  /**
   * The objects filed under `value` in index `index`, ordered by key; costs the number of matches.
   * @return FailedPrecondition when no index of that name was registered.
   */
  [[nodiscard]] virtual Result<std::vector<ObjectPtr>> byIndex(std::string_view index,
                                                               std::string_view value) const = 0;
  /** True when an index of that name is registered. */
  virtual bool hasIndex(std::string_view index) const = 0;
};

// The store an informer writes: a key -> object map plus its indexes, under one lock. Writers are
// the informer's watch thread; readers are any thread.
class IndexedStore : public Store {
 public:
  IndexedStore() = default;
  IndexedStore(const IndexedStore&) = delete;
  IndexedStore& operator=(const IndexedStore&) = delete;

  ObjectPtr get(std::string_view ns, std::string_view name) const override;
  std::vector<ObjectPtr> list() const override;
  bool hasSynced() const override;
  [[nodiscard]] Result<std::vector<ObjectPtr>> byIndex(std::string_view index,
                                                       std::string_view value) const override;
  bool hasIndex(std::string_view index) const override;

  // Adds an index, filing what is already stored. A name already registered is left as it is.
  void addIndex(Index index);
  // Blocks until the first replace() or `timeout` (real time) passes; false on timeout.
  bool waitForSync(std::chrono::milliseconds timeout) const;

  // Swaps in a complete list (a relist) and marks the store synced; returns the previous contents.
  std::map<std::string, ObjectPtr> replace(std::map<std::string, ObjectPtr> items);
  // Stores `obj` under its key; returns the object it replaced, if any.
  ObjectPtr upsert(ObjectPtr obj);
  // Removes the object with `key`; returns it, or null when there was none.
  ObjectPtr erase(const std::string& key);

 private:
  struct IndexState {
    IndexFunc fn;
    // value -> keys filed under it; ordered keys give ordered lookups.
    std::unordered_map<std::string, std::set<std::string>> keys;
  };

  void fileLocked(IndexState& index, const std::string& key, const Object& obj);
  void unfileLocked(IndexState& index, const std::string& key, const Object& obj);

  mutable std::shared_mutex mu_;
  mutable std::condition_variable_any cv_;
  std::map<std::string, ObjectPtr> items_;
  std::map<std::string, IndexState, std::less<>> indexes_;
  bool synced_ = false;
};

}  // namespace opsy::kube

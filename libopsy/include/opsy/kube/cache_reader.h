// File: cache_reader.h
//
// Reads through the informer cache, as controller-runtime's cache-backed client.Reader does: get
// and list of a watched resource are answered from the informer's store (label selectors
// evaluated locally, through a "label:<key>" index when one exists), with the objects and the
// NotFound error the server would give; kinds or namespaces nobody watches, field selectors and
// reads before the cache synced go to the live reader. Cached reads can lag the server by the
// watch latency, so writes keep their resourceVersion preconditions (a stale read then fails
// with Conflict, never overwrites); CacheAwareWriter closes the "my create is not cached yet" gap.
//
//   CacheReader reader(cache, *client);  CacheAwareWriter writer(*client, cache);  // both roles
//   OPSY_ASSIGN_OR_RETURN(auto jobs, listTyped<Job>(reader, "ci", {.label_selector = "a=b"}));
#pragma once

#include <string_view>

#include "opsy/kube/cache.h"
#include "opsy/kube/client.h"

namespace opsy::kube {

class CacheReader : public ObjectReader {
 public:
  CacheReader(InformerCache& cache, ObjectReader& live) : cache_(cache), live_(live) {}

  [[nodiscard]] Result<Object> get(const Resource& resource, std::string_view ns,
                                   std::string_view name) override;
  // A list served from the cache has no collection resourceVersion (it is not a point a watch
  // can start from); page_size is ignored, the whole collection comes back at once.
  [[nodiscard]] Result<ObjectList> list(const Resource& resource, std::string_view ns,
                                        const ListOptions& options) override;

 private:
  InformerCache& cache_;
  ObjectReader& live_;
};

// Writes through `live` and tells `cache` what this process wrote (and deleted), so a read right
// after a write sees it even before the watch delivers it (read-your-writes): a reconcile never
// decides from a state older than the one its previous reconcile left, which matters when it acts
// on the world (AWS) before its own status write.
class CacheAwareWriter : public ObjectWriter, public StatusWriter {
 public:
  CacheAwareWriter(Client& live, InformerCache& cache) : live_(live), cache_(cache) {}

  [[nodiscard]] Result<Object> create(const Resource& resource, const Object& obj,
                                      const WriteOptions& options) override;
  [[nodiscard]] Result<Object> update(const Resource& resource, const Object& obj,
                                      const WriteOptions& options) override;
  [[nodiscard]] Result<Object> patch(const Resource& resource, std::string_view ns,
                                     std::string_view name, PatchType type, std::string_view body,
                                     const PatchOptions& options) override;
  [[nodiscard]] Status remove(const Resource& resource, std::string_view ns, std::string_view name,
                              const DeleteOptions& options) override;
  [[nodiscard]] Result<Object> updateStatus(const Resource& resource, const Object& obj,
                                            const WriteOptions& options) override;
  [[nodiscard]] Result<Object> patchStatus(const Resource& resource, std::string_view ns,
                                           std::string_view name, PatchType type,
                                           std::string_view body,
                                           const PatchOptions& options) override;

 private:
  // Remembers `written` (as the server returned it) unless this was a dry run.
  Result<Object> remembered(const Resource& resource, Result<Object> written, bool dry_run);

  Client& live_;
  InformerCache& cache_;
};

}  // namespace opsy::kube

#include "opsy/kube/cache_reader.h"

#include <algorithm>
#include <map>

#include "kube/status_error.h"

namespace opsy::kube {
namespace {

// The objects of `informer` a selector can match, through a label index when the selector pins a
// label the informer indexes.
Result<std::vector<ObjectPtr>> candidates(const MultiNamespaceInformer& informer,
                                          const LabelSelector& selector) {
  for (const auto& r : selector.requirements()) {
    if (auto value = selector.requiredValue(r.key);
        value.has_value() && informer.hasIndex(labelIndexName(r.key))) {
      return informer.byIndex(labelIndexName(r.key), *value);
    }
  }
  return informer.list();
}

}  // namespace

Result<Object> CacheReader::get(const Resource& resource, std::string_view ns,
                                std::string_view name) {
  const std::string_view scope = resource.namespaced ? ns : "";
  if (resource.namespaced && ns.empty()) {
    return live_.get(resource, ns, name);
  }
  const MultiNamespaceInformer* informer = cache_.informerServing(resource, scope, nullptr);
  if (informer == nullptr) {
    return live_.get(resource, ns, name);
  }
  ObjectPtr obj = informer->get(scope, name);
  // A creation the informer has not seen yet is newer than whatever it holds under that key.
  if (ObjectPtr mine = cache_.created(*informer, objectKey(scope, name)); mine != nullptr) {
    obj = std::move(mine);
  }
  if (obj == nullptr) {
    return fail(notFoundError(resource, ns, name));
  }
  return *obj;
}

Result<ObjectList> CacheReader::list(const Resource& resource, std::string_view ns,
                                     const ListOptions& options) {
  const std::string_view scope = resource.namespaced ? ns : "";
  auto selector = LabelSelector::parse(options.label_selector);
  // Field selectors need the server's field labels; a selector that does not parse gets the
  // server's own error.
  if (!options.field_selector.empty() || !selector) {
    return live_.list(resource, ns, options);
  }
  const MultiNamespaceInformer* informer = cache_.informerServing(resource, scope, &*selector);
  if (informer == nullptr) {
    return live_.list(resource, ns, options);
  }
  auto wanted = [&](const Object& obj) {
    return (scope.empty() || obj.metadata.ns == scope) && selector->matches(obj.metadata.labels);
  };
  OPSY_ASSIGN_OR_RETURN(std::vector<ObjectPtr> found, candidates(*informer, *selector));
  std::map<std::string, ObjectPtr> by_key;
  for (auto& obj : found) {
    if (wanted(*obj)) {
      by_key.emplace(obj->key(), std::move(obj));
    }
  }
  for (auto& obj : cache_.createdIn(*informer)) {
    if (wanted(*obj)) {
      by_key[obj->key()] = std::move(obj);
    }
  }
  ObjectList out;
  out.items.reserve(by_key.size());
  for (const auto& [key, obj] : by_key) {
    out.items.push_back(*obj);
  }
  return out;
}

Result<Object> CacheAwareWriter::remembered(const Resource& resource, Result<Object> written,
                                            bool dry_run) {
  if (written && !dry_run) {
    cache_.rememberCreated(resource, *written);
  }
  return written;
}

Result<Object> CacheAwareWriter::create(const Resource& resource, const Object& obj,
                                        const WriteOptions& options) {
  // A subresource's answer (an Eviction's Status) is not the object: nothing to remember.
  return remembered(resource, live_.create(resource, obj, options),
                    options.dry_run || !options.subresource.empty());
}

Result<Object> CacheAwareWriter::update(const Resource& resource, const Object& obj,
                                        const WriteOptions& options) {
  return remembered(resource, live_.update(resource, obj, options), options.dry_run);
}

Result<Object> CacheAwareWriter::patch(const Resource& resource, std::string_view ns,
                                       std::string_view name, PatchType type, std::string_view body,
                                       const PatchOptions& options) {
  return remembered(resource, live_.patch(resource, ns, name, type, body, options),
                    options.dry_run);
}

Result<Object> CacheAwareWriter::updateStatus(const Resource& resource, const Object& obj,
                                              const WriteOptions& options) {
  return remembered(resource, live_.updateStatus(resource, obj, options), options.dry_run);
}

Result<Object> CacheAwareWriter::patchStatus(const Resource& resource, std::string_view ns,
                                             std::string_view name, PatchType type,
                                             std::string_view body, const PatchOptions& options) {
  return remembered(resource, live_.patchStatus(resource, ns, name, type, body, options),
                    options.dry_run);
}

Status CacheAwareWriter::remove(const Resource& resource, std::string_view ns,
                                std::string_view name, const DeleteOptions& options) {
  Status removed = live_.remove(resource, ns, name, options);
  if (removed || removed.error().code == ErrorCode::NotFound) {
    cache_.forgetCreated(resource, ns, name);
  }
  return removed;
}

}  // namespace opsy::kube

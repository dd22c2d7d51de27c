#include "opsy/kube/store.h"

#include <mutex>

namespace opsy::kube {

std::string labelIndexName(std::string_view key) {
  return "label:" + std::string(key);
}

Index labelIndex(std::string_view key) {
  return {labelIndexName(key), [key = std::string(key)](const Object& obj) {
            auto it = obj.metadata.labels.find(key);
            return it == obj.metadata.labels.end() ? std::vector<std::string>{}
                                                   : std::vector<std::string>{it->second};
          }};
}

Index ownerUidIndex() {
  return {std::string(kOwnerUidIndex), [](const Object& obj) {
            for (const auto& ref : obj.metadata.owner_references) {
              if (ref.controller && !ref.uid.empty()) {
                return std::vector<std::string>{ref.uid};
              }
            }
            return std::vector<std::string>{};
          }};
}

ObjectPtr IndexedStore::get(std::string_view ns, std::string_view name) const {
  std::shared_lock lock(mu_);
  auto it = items_.find(objectKey(ns, name));
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> IndexedStore::list() const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [key, obj] : items_) {
    out.push_back(obj);
  }
  return out;
}

bool IndexedStore::hasSynced() const {
  std::shared_lock lock(mu_);
  return synced_;
}

Result<std::vector<ObjectPtr>> IndexedStore::byIndex(std::string_view index,
                                                     std::string_view value) const {
  std::shared_lock lock(mu_);
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) {
    return fail(ErrorCode::FailedPrecondition,
                "store: no index named '" + std::string(index) + "' is registered");
  }
  std::vector<ObjectPtr> out;
  auto filed = idx->second.keys.find(std::string(value));
  if (filed == idx->second.keys.end()) {
    return out;
  }
  out.reserve(filed->second.size());
  for (const auto& key : filed->second) {
    if (auto it = items_.find(key); it != items_.end()) {
      out.push_back(it->second);
    }
  }
  return out;
}

bool IndexedStore::hasIndex(std::string_view index) const {
  std::shared_lock lock(mu_);
  return indexes_.find(index) != indexes_.end();
}

void IndexedStore::addIndex(Index index) {
  std::unique_lock lock(mu_);
  if (indexes_.find(index.name) != indexes_.end()) {
    return;
  }
  IndexState& state = indexes_[index.name];
  state.fn = std::move(index.fn);
  for (const auto& [key, obj] : items_) {
    fileLocked(state, key, *obj);
  }
}

bool IndexedStore::waitForSync(std::chrono::milliseconds timeout) const {
  std::shared_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return synced_; });
}

std::map<std::string, ObjectPtr> IndexedStore::replace(std::map<std::string, ObjectPtr> items) {
  {
    std::unique_lock lock(mu_);
    std::swap(items_, items);
    // A relist changes arbitrary parts of the cache: refile everything rather than diff.
    for (auto& [name, index] : indexes_) {
      index.keys.clear();
      for (const auto& [key, obj] : items_) {
        fileLocked(index, key, *obj);
      }
    }
    synced_ = true;
  }
  cv_.notify_all();
  return items;
}

ObjectPtr IndexedStore::upsert(ObjectPtr obj) {
  std::unique_lock lock(mu_);
  const std::string key = obj->key();
  ObjectPtr& slot = items_[key];
  for (auto& [name, index] : indexes_) {
    if (slot != nullptr) {
      unfileLocked(index, key, *slot);
    }
    fileLocked(index, key, *obj);
  }
  std::swap(slot, obj);
  return obj;
}

ObjectPtr IndexedStore::erase(const std::string& key) {
  std::unique_lock lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) {
    return nullptr;
  }
  ObjectPtr old = std::move(it->second);
  items_.erase(it);
  for (auto& [name, index] : indexes_) {
    unfileLocked(index, key, *old);
  }
  return old;
}

void IndexedStore::fileLocked(IndexState& index, const std::string& key, const Object& obj) {
  for (auto& value : index.fn(obj)) {
    index.keys[std::move(value)].insert(key);
  }
}

void IndexedStore::unfileLocked(IndexState& index, const std::string& key, const Object& obj) {
  // Index functions are pure, so the old object's values are where its key was filed.
  for (const auto& value : index.fn(obj)) {
    auto filed = index.keys.find(value);
    if (filed == index.keys.end()) {
      continue;
    }
    filed->second.erase(key);
    if (filed->second.empty()) {
      index.keys.erase(filed);
    }
  }
}

}  // namespace opsy::kube

// The informer store's indexes: filed on add, moved on update, dropped on delete, rebuilt on a
// relist, and looked up in key order.
#include "opsy/kube/store.h"

#include <gtest/gtest.h>

#include <thread>

namespace opsy::kube {
namespace {

constexpr const char* kBuilderUid = "ami.refresh.ops/builder-uid";

ObjectPtr job(const std::string& name, std::map<std::string, std::string> labels,
              const std::string& owner_uid = "") {
  Object obj(resources::jobs(), "ci", name);
  obj.metadata.labels = std::move(labels);
  if (!owner_uid.empty()) {
    obj.metadata.owner_references.push_back(
        {"ami.refresh.ops/v1alpha1", "PackerBuilder", "pb", owner_uid, true, true});
  }
  return std::make_shared<const Object>(std::move(obj));
}

std::vector<std::string> names(const Result<std::vector<ObjectPtr>>& found) {
  EXPECT_TRUE(found.has_value()) << found.error().toString();
  std::vector<std::string> out;
  for (const auto& obj : found.value_or(std::vector<ObjectPtr>{})) {
    out.push_back(obj->metadata.name);
  }
  return out;
}

using Names = std::vector<std::string>;

// An object is found under its label's value, in key order, and only there.
TEST(IndexedStore, LabelIndexFindsObjectsByValueInKeyOrder) {
  IndexedStore store;
  store.addIndex(labelIndex(kBuilderUid));
  store.upsert(job("b", {{kBuilderUid, "u1"}}));
  store.upsert(job("a", {{kBuilderUid, "u1"}}));
  store.upsert(job("c", {{kBuilderUid, "u2"}}));
  store.upsert(job("d", {{"other", "u1"}}));

  EXPECT_EQ(names(store.byIndex(labelIndexName(kBuilderUid), "u1")), (Names{"a", "b"}));
  EXPECT_EQ(names(store.byIndex(labelIndexName(kBuilderUid), "u2")), (Names{"c"}));
  EXPECT_EQ(names(store.byIndex(labelIndexName(kBuilderUid), "u3")), (Names{}));
}

// An update that changes the label value moves the object from the old value to the new one.
TEST(IndexedStore, UpdateMovesObjectToItsNewLabelValue) {
  IndexedStore store;
  store.addIndex(labelIndex(kBuilderUid));
  store.upsert(job("a", {{kBuilderUid, "u1"}}));
  store.upsert(job("a", {{kBuilderUid, "u2"}}));

  EXPECT_EQ(names(store.byIndex(labelIndexName(kBuilderUid), "u1")), (Names{}));
  EXPECT_EQ(names(store.byIndex(labelIndexName(kBuilderUid), "u2")), (Names{"a"}));

  // Dropping the label takes it out of the index altogether.
  store.upsert(job("a", {}));
  EXPECT_EQ(names(store.byIndex(labelIndexName(kBuilderUid), "u2")), (Names{}));
}

// A deleted object is no longer found through any index.
TEST(IndexedStore, DeleteRemovesObjectFromIndexes) {
  IndexedStore store;
  store.addIndex(labelIndex(kBuilderUid));
  store.addIndex(ownerUidIndex());
  store.upsert(job("a", {{kBuilderUid, "u1"}}, "owner-1"));
  store.upsert(job("b", {{kBuilderUid, "u1"}}, "owner-1"));

  ObjectPtr removed = store.erase("ci/a");
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(names(store.byIndex(labelIndexName(kBuilderUid), "u1")), (Names{"b"}));
  EXPECT_EQ(names(store.byIndex(kOwnerUidIndex, "owner-1")), (Names{"b"}));
  EXPECT_EQ(store.erase("ci/a"), nullptr);
}

// A relist replaces the indexed contents wholesale: objects gone from the list leave the index,
// new and changed ones are filed under their current values.
TEST(IndexedStore, RelistRebuildsIndexes) {
  IndexedStore store;
  store.addIndex(labelIndex(kBuilderUid));
  store.upsert(job("a", {{kBuilderUid, "u1"}}));
  store.upsert(job("b", {{kBuilderUid, "u1"}}));

  std::map<std::string, ObjectPtr> fresh;
  fresh["ci/b"] = job("b", {{kBuilderUid, "u2"}});
  fresh["ci/c"] = job("c", {{kBuilderUid, "u1"}});
  auto previous = store.replace(std::move(fresh));

  EXPECT_EQ(previous.size(), 2U);
  EXPECT_TRUE(store.hasSynced());
  EXPECT_EQ(names(store.byIndex(labelIndexName(kBuilderUid), "u1")), (Names{"c"}));
  EXPECT_EQ(names(store.byIndex(labelIndexName(kBuilderUid), "u2")), (Names{"b"}));
}

// The owner-uid index files objects under their controller reference only.
TEST(IndexedStore, OwnerUidIndexUsesControllerReference) {
  IndexedStore store;
  store.addIndex(ownerUidIndex());
  store.upsert(job("a", {}, "owner-1"));
  Object not_controller(resources::jobs(), "ci", "b");
  not_controller.metadata.owner_references.push_back(
      {"v1", "ConfigMap", "cm", "owner-1", false, false});
  store.upsert(std::make_shared<const Object>(not_controller));

  EXPECT_EQ(names(store.byIndex(kOwnerUidIndex, "owner-1")), (Names{"a"}));
}

// An index added to a populated store files what is already there; the same name twice keeps
// the first registration.
TEST(IndexedStore, IndexAddedLaterCoversExistingObjects) {
  IndexedStore store;
  store.upsert(job("a", {{"app", "x"}}));
  store.addIndex(labelIndex("app"));
  store.addIndex({labelIndexName("app"), [](const Object&) { return std::vector<std::string>{}; }});

  EXPECT_TRUE(store.hasIndex(labelIndexName("app")));
  EXPECT_EQ(names(store.byIndex(labelIndexName("app"), "x")), (Names{"a"}));
}

// Asking an index nobody registered is a programming error the caller hears about.
TEST(IndexedStore, UnknownIndexIsFailedPrecondition) {
  IndexedStore store;
  auto found = store.byIndex("label:nope", "x");
  ASSERT_FALSE(found.has_value());
  EXPECT_EQ(found.error().code, ErrorCode::FailedPrecondition);
  EXPECT_FALSE(store.hasIndex("label:nope"));
}

// Readers on other threads see either the old or the new filing of an object, never a torn one.
TEST(IndexedStore, ConcurrentReadsDuringUpdatesSeeConsistentIndex) {
  IndexedStore store;
  store.addIndex(labelIndex(kBuilderUid));
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!stop) {
      auto u1 = store.byIndex(labelIndexName(kBuilderUid), "u1");
      auto u2 = store.byIndex(labelIndexName(kBuilderUid), "u2");
      for (const auto& obj : *u1) {
        if (obj->metadata.labels.at(kBuilderUid) != "u1") {
          ++torn;
        }
      }
      for (const auto& obj : *u2) {
        if (obj->metadata.labels.at(kBuilderUid) != "u2") {
          ++torn;
        }
      }
    }
  });
  for (int i = 0; i < 2000; ++i) {
    store.upsert(job("a", {{kBuilderUid, i % 2 == 0 ? "u1" : "u2"}}));
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
}

}  // namespace
}  // namespace opsy::kube

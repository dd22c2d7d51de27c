// File: builder_ref.h
//
// An AMIRefresher's spec.builderRef as both controllers need it: the key ("namespace/name") of the
// PackerBuilder a refresher follows, and the informer-cache index that files refreshers under it,
// so "the refreshers that follow builder X" is a lookup of the matches, never a scan. The
// refresher controller uses it to enqueue a builder's followers; the builder controller to list
// them in its status.
//
//   informer.addIndex(ami::builderRefIndex());
//   auto followers = store.byIndex(ami::kBuilderRefIndex, kube::objectKey(ns, name));
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "opsy/kube/object.h"
#include "opsy/kube/store.h"

namespace opsy::ami {

inline constexpr std::string_view kBuilderRefIndex = "builder-ref";

// The key of the PackerBuilder `refresher`'s spec.builderRef names (its namespace defaults to the
// refresher's own), or nullopt when it names none. Reads only those two fields: it runs on every
// event of every refresher.
std::optional<std::string> builderRefKey(const kube::Object& refresher);

// kBuilderRefIndex: refreshers filed under builderRefKey().
kube::Index builderRefIndex();

}  // namespace opsy::ami

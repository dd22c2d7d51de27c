#include "opsy/ami/builder_ref.h"

#include <vector>

namespace opsy::ami {

std::optional<std::string> builderRefKey(const kube::Object& refresher) {
  std::optional<std::string> name = refresher.getString("/spec/builderRef/name");
  if (!name || name->empty()) {
    return std::nullopt;
  }
  std::optional<std::string> ns = refresher.getString("/spec/builderRef/namespace");
  return kube::objectKey(ns && !ns->empty() ? *ns : refresher.metadata.ns, *name);
}

kube::Index builderRefIndex() {
  return kube::Index{.name = std::string(kBuilderRefIndex), .fn = [](const kube::Object& obj) {
                       std::vector<std::string> keys;
                       if (std::optional<std::string> key = builderRefKey(obj)) {
                         keys.push_back(std::move(*key));
                       }
                       return keys;
                     }};
}

}  // namespace opsy::ami

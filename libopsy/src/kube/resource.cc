#include "opsy/kube/resource.h"

namespace opsy::kube {

std::string Resource::apiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

std::string resourcePath(const Resource& resource, std::string_view ns, std::string_view name,
                         std::string_view subresource) {
  std::string path = resource.group.empty() ? "/api/" + resource.version
                                            : "/apis/" + resource.group + "/" + resource.version;
  if (resource.namespaced && !ns.empty()) {
    path.append("/namespaces/").append(ns);
  }
  path.append("/").append(resource.plural);
  if (!name.empty()) {
    path.append("/").append(name);
    if (!subresource.empty()) {
      path.append("/").append(subresource);
    }
  }
  return path;
}

namespace resources {

const Resource& nodes() {
  static const Resource r{"", "v1", "nodes", "Node", false};
  return r;
}
const Resource& pods() {
  static const Resource r{"", "v1", "pods", "Pod", true};
  return r;
}
const Resource& secrets() {
  static const Resource r{"", "v1", "secrets", "Secret", true};
  return r;
}
const Resource& serviceAccounts() {
  static const Resource r{"", "v1", "serviceaccounts", "ServiceAccount", true};
  return r;
}
const Resource& jobs() {
  static const Resource r{"batch", "v1", "jobs", "Job", true};
  return r;
}
const Resource& events() {
  static const Resource r{"events.k8s.io", "v1", "events", "Event", true};
  return r;
}
const Resource& leases() {
  static const Resource r{"coordination.k8s.io", "v1", "leases", "Lease", true};
  return r;
}

}  // namespace resources

}  // namespace opsy::kube

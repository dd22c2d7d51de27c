// File: resource.h
//
// How a Kubernetes resource is addressed: API group, version, plural resource name and whether it
// lives in a namespace. resourcePath() turns that plus a namespace, name and subresource into the
// REST path (`/api/v1/...` for the core group, `/apis/{group}/{version}/...` otherwise).
//
//   resourcePath(resources::jobs(), "ci", "build-1", "status")
//     -> "/apis/batch/v1/namespaces/ci/jobs/build-1/status"
#pragma once

#include <string>
#include <string_view>

namespace opsy::kube {

struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "jobs"
  std::string kind;     // "Job"
  bool namespaced = true;

  // "batch/v1", or "v1" for the core group.
  std::string apiVersion() const;
};

// The REST path of a collection (empty name) or of one object, optionally a subresource of it.
// An empty namespace on a namespaced resource addresses it across all namespaces.
std::string resourcePath(const Resource& resource, std::string_view ns, std::string_view name = "",
                         std::string_view subresource = "");

namespace resources {
const Resource& pods();
const Resource& secrets();
const Resource& serviceAccounts();
const Resource& jobs();
const Resource& events();  // events.k8s.io/v1
const Resource& leases();
const Resource& nodes();  // cluster-scoped
}  // namespace resources

}  // namespace opsy::kube

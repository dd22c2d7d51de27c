// File: nodes.h
//
// Kubernetes Nodes as the canary check and the drain read them: which node group a Node belongs to
// (EKS's `eks.amazonaws.com/nodegroup` label, or its EC2 instance in an Auto Scaling group),
// whether it is Ready, and its EC2 instance id from spec.providerID ("aws:///us-west-2a/i-0abc…").
//
//   NodeObservation n = observedNode(obj);
//   if (!n.ready) ... n.not_ready_reason
#pragma once

#include <string>
#include <string_view>

#include "ami-refresh-controller/decide.h"
#include "opsy/kube/object.h"

namespace opsy::ami_refresh {

// The label EKS puts on the Nodes of a managed node group.
inline constexpr std::string_view kNodegroupLabel = "eks.amazonaws.com/nodegroup";

// The instance id of an AWS providerID ("aws:///us-west-2a/i-0123456789abcdef0"), or "" when it
// is not one.
std::string instanceIdFromProviderId(std::string_view provider_id);

// The Node's name, readiness (its Ready condition is True) and instance id; the image is filled
// in later from EC2.
NodeObservation observedNode(const kube::Object& node);

// Whether the Node is cordoned (spec.unschedulable).
bool isCordoned(const kube::Object& node);

// A pod as a drain sorts it: a DaemonSet's, a static pod's mirror, finished, or being deleted.
PodObservation observedPod(const kube::Object& pod);

}  // namespace opsy::ami_refresh

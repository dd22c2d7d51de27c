// File: karpenter.h
//
// Karpenter's objects as the node-class rollout reads them: an EC2NodeClass (its
// spec.amiSelectorTerms, the images status.amis resolved them to, its Ready condition) and the
// NodeClaims that name it in spec.nodeClassRef (Ready, Drifted, status.imageID). Pure functions
// over kube::Object, so the rules are tested on the objects as the API server returns them.
//
//   NodeClassObservation nc = observedNodeClass(obj);
//   if (nodeClassOf(claim) == name) nc.claims.push_back(observedNodeClaim(claim));
#pragma once

#include <string>

#include "ami-refresh-controller/decide.h"
#include "opsy/kube/object.h"

namespace opsy::ami_refresh {

// The EC2NodeClass, without its NodeClaims (found = true).
NodeClassObservation observedNodeClass(const kube::Object& node_class);

// The EC2NodeClass a NodeClaim belongs to (spec.nodeClassRef.name when its group is
// karpenter.k8s.aws or unset), or "".
std::string nodeClassOf(const kube::Object& node_claim);

// A NodeClaim's name, Ready condition, image (status.imageID) and Drifted condition.
NodeObservation observedNodeClaim(const kube::Object& node_claim);

}  // namespace opsy::ami_refresh

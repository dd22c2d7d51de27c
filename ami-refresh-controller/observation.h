// File: observation.h
//
// Where AWS's answers become the one GroupObservation shape decide() reads: an EKS node group and
// its updates, an Auto Scaling group and its instance refreshes. The clients parse AWS's status
// words into aws:: enums; this file maps them onto the few states policy needs (UpdateState,
// UpdateKind), so decide() never sees an AWS status. Pure functions, so decide()'s tests build
// their worlds from AWS shapes.
//
//   GroupObservation g = observedNodegroup(nodegroup);
//   g.recorded_update = observedUpdate(update);
#pragma once

#include <string_view>
#include <vector>

#include "ami-refresh-controller/decide.h"
#include "opsy/aws/autoscaling.h"
#include "opsy/aws/eks.h"

namespace opsy::ami_refresh {

// An EKS update (version or updateConfig change).
GroupUpdate observedUpdate(const aws::Update& update);

// An Auto Scaling instance refresh.
GroupUpdate observedRefresh(const aws::InstanceRefresh& refresh);

// A managed node group, without its launch template version (read separately).
GroupObservation observedNodegroup(aws::Nodegroup nodegroup);

// A self-managed Auto Scaling group with its instance refreshes (newest first); the refresh named
// `recorded_update_id` (the status entry's) becomes its recorded update.
GroupObservation observedAutoScalingGroup(const aws::AutoScalingGroup& group,
                                          const std::vector<aws::InstanceRefresh>& refreshes,
                                          std::string_view recorded_update_id);

}  // namespace opsy::ami_refresh

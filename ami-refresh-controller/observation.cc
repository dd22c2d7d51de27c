#include "ami-refresh-controller/observation.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace opsy::ami_refresh {
namespace {

std::optional<UpdateState> eksUpdateState(aws::UpdateStatus status) {
  switch (status) {
    case aws::UpdateStatus::InProgress: return UpdateState::InProgress;
    case aws::UpdateStatus::Successful: return UpdateState::Succeeded;
    case aws::UpdateStatus::Failed: return UpdateState::Failed;
    case aws::UpdateStatus::Cancelled: return UpdateState::Cancelled;
    case aws::UpdateStatus::Unknown: break;
  }
  return std::nullopt;
}

bool refreshIsActive(aws::InstanceRefreshStatus status) {
  using S = aws::InstanceRefreshStatus;
  return status == S::Pending || status == S::InProgress || status == S::Cancelling ||
         status == S::RollbackInProgress || status == S::Baking;
}

UpdateState refreshState(aws::InstanceRefreshStatus status) {
  using S = aws::InstanceRefreshStatus;
  switch (status) {
    case S::Successful: return UpdateState::Succeeded;
    case S::Cancelled: return UpdateState::Cancelled;
    case S::Failed:
    case S::RollbackSuccessful:
    case S::RollbackFailed: return UpdateState::Failed;
    default: return UpdateState::InProgress;
  }
}

std::string updateErrors(const aws::Update& u) {
  if (u.errors.empty()) {
    return "no error detail from EKS";
  }
  std::string out;
  for (const aws::UpdateError& e : u.errors) {
    if (!out.empty()) {
      out += "; ";
    }
    out += controller::quoteServiceError(e.code.empty() ? e.message
                                                        : fmt::format("{}: {}", e.code, e.message));
    if (!e.resource_ids.empty()) {
      out += fmt::format(" ({})", fmt::join(e.resource_ids, ", "));
    }
  }
  return out;
}

}  // namespace

GroupUpdate observedUpdate(const aws::Update& u) {
  GroupUpdate out;
  out.id = u.id;
  out.kind = u.type == aws::UpdateType::ConfigUpdate ? UpdateKind::Config : UpdateKind::Version;
  // An unknown word is read as still running: the updateTimeout bounds it.
  out.state = eksUpdateState(u.status).value_or(UpdateState::InProgress);
  out.status_text = u.status.text;
  out.detail = updateErrors(u);
  return out;
}

GroupUpdate observedRefresh(const aws::InstanceRefresh& r) {
  return GroupUpdate{.id = r.id,
                     .kind = UpdateKind::Version,
                     .state = refreshState(r.status),
                     .status_text = r.status.text,
                     .detail = r.status_reason,
                     .percent_complete = r.percentage_complete};
}

GroupObservation observedNodegroup(aws::Nodegroup ng) {
  GroupObservation g;
  g.name = ng.name;
  g.kind = GroupKind::Managed;
  g.launch_template = std::move(ng.launch_template);
  g.ami_type = ng.ami_type;
  g.update_running = ng.status == aws::NodegroupStatus::Updating;
  g.unavailable = !g.update_running && ng.status != aws::NodegroupStatus::Active &&
                  ng.status != aws::NodegroupStatus::Degraded;
  g.status_text = ng.status.text;
  g.max_unavailable = ng.max_unavailable;
  g.max_unavailable_percentage = ng.max_unavailable_percentage;
  return g;
}

GroupObservation observedAutoScalingGroup(const aws::AutoScalingGroup& asg,
                                          const std::vector<aws::InstanceRefresh>& refreshes,
                                          std::string_view recorded_update_id) {
  GroupObservation g;
  g.name = asg.name;
  g.kind = GroupKind::SelfManaged;
  g.launch_template = asg.launch_template;
  g.mixed_instances_policy = asg.mixed_instances_policy;
  // Refreshes come newest first: the first active one is what runs now.
  for (const aws::InstanceRefresh& r : refreshes) {
    if (refreshIsActive(r.status)) {
      g.update_running = true;
      g.running_update_id = r.id;
      break;
    }
  }
  if (!recorded_update_id.empty()) {
    for (const aws::InstanceRefresh& r : refreshes) {
      if (r.id == recorded_update_id) {
        g.recorded_update = observedRefresh(r);
      }
    }
  }
  return g;
}

}  // namespace opsy::ami_refresh

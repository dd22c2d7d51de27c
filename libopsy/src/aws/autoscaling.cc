#include "opsy/aws/autoscaling.h"

#include "aws/caller.h"
#include "aws/enum_text.h"
#include "opsy/core/time_format.h"

namespace opsy::aws {
namespace {

constexpr std::string_view kVersion = "2011-01-01";

constexpr EnumText<InstanceRefreshStatus> kRefreshStatuses[] = {
    {InstanceRefreshStatus::Pending, "Pending"},
    {InstanceRefreshStatus::InProgress, "InProgress"},
    {InstanceRefreshStatus::Successful, "Successful"},
    {InstanceRefreshStatus::Failed, "Failed"},
    {InstanceRefreshStatus::Cancelling, "Cancelling"},
    {InstanceRefreshStatus::Cancelled, "Cancelled"},
    {InstanceRefreshStatus::RollbackInProgress, "RollbackInProgress"},
    {InstanceRefreshStatus::RollbackFailed, "RollbackFailed"},
    {InstanceRefreshStatus::RollbackSuccessful, "RollbackSuccessful"},
    {InstanceRefreshStatus::Baking, "Baking"},
};

std::optional<LaunchTemplateSpec> parseTemplate(const pugi::xml_node& node) {
  if (!node) {
    return std::nullopt;
  }
  return LaunchTemplateSpec{xmlText(node, "LaunchTemplateId"), xmlText(node, "LaunchTemplateName"),
                            xmlText(node, "Version")};
}

AutoScalingGroup parseGroup(const pugi::xml_node& m) {
  AutoScalingGroup g;
  g.name = xmlText(m, "AutoScalingGroupName");
  g.arn = xmlText(m, "AutoScalingGroupARN");
  g.launch_template = parseTemplate(m.child("LaunchTemplate"));
  if (pugi::xml_node mip = m.child("MixedInstancesPolicy")) {
    g.mixed_instances_policy = true;
    if (!g.launch_template) {
      g.launch_template =
          parseTemplate(mip.child("LaunchTemplate").child("LaunchTemplateSpecification"));
    }
  }
  g.min_size = m.child("MinSize").text().as_int();
  g.max_size = m.child("MaxSize").text().as_int();
  g.desired_capacity = m.child("DesiredCapacity").text().as_int();
  g.status = xmlText(m, "Status");
  for (pugi::xml_node i : m.child("Instances").children("member")) {
    g.instances.push_back({xmlText(i, "InstanceId"), xmlText(i, "LifecycleState"),
                           xmlText(i, "HealthStatus"), parseTemplate(i.child("LaunchTemplate"))});
  }
  g.tags = xmlTags(m.child("Tags"), "member", "Key", "Value");
  return g;
}

InstanceRefresh parseRefresh(const pugi::xml_node& m) {
  InstanceRefresh r;
  r.id = xmlText(m, "InstanceRefreshId");
  r.auto_scaling_group_name = xmlText(m, "AutoScalingGroupName");
  r.status = parsedAs(xmlText(m, "Status"), parseInstanceRefreshStatus);
  r.status_reason = xmlText(m, "StatusReason");
  r.start_time = xmlTime(m, "StartTime");
  r.end_time = xmlTime(m, "EndTime");
  r.percentage_complete = m.child("PercentageComplete").text().as_int();
  r.instances_to_update = m.child("InstancesToUpdate").text().as_int();
  return r;
}

LifecycleHook parseHook(const pugi::xml_node& m) {
  LifecycleHook h;
  h.name = xmlText(m, "LifecycleHookName");
  h.auto_scaling_group_name = xmlText(m, "AutoScalingGroupName");
  h.transition = xmlText(m, "LifecycleTransition");
  h.notification_target_arn = xmlText(m, "NotificationTargetARN");
  h.role_arn = xmlText(m, "RoleARN");
  h.notification_metadata = xmlText(m, "NotificationMetadata");
  h.heartbeat_timeout_seconds = m.child("HeartbeatTimeout").text().as_int();
  h.global_timeout_seconds = m.child("GlobalTimeout").text().as_int();
  h.default_result = xmlText(m, "DefaultResult");
  return h;
}

// The parameters every call on one lifecycle action names.
QueryParams actionParams(const LifecycleActionTarget& t) {
  return {{"AutoScalingGroupName", t.auto_scaling_group_name},
          {"LifecycleHookName", t.hook_name},
          {"InstanceId", t.instance_id}};
}

const char* boolText(bool b) {
  return b ? "true" : "false";
}

class AutoScalingClientImpl : public AutoScalingApi {
 public:
  explicit AutoScalingClientImpl(std::unique_ptr<Caller> caller) : caller_(std::move(caller)) {}

  Result<std::vector<AutoScalingGroup>> describeAutoScalingGroups(
      const DescribeAutoScalingGroupsInput& in) override {
    QueryParams base;
    if (!in.names.empty()) {
      addMemberList(base, "AutoScalingGroupNames", in.names);
    }
    for (size_t i = 0; i < in.filters.size(); ++i) {
      std::string prefix = "Filters.member." + std::to_string(i + 1);
      base.emplace_back(prefix + ".Name", in.filters[i].name);
      addMemberList(base, prefix + ".Values", in.filters[i].values);
    }
    base.emplace_back("MaxRecords", std::to_string(in.page_size));
    std::vector<AutoScalingGroup> out;
    OPSY_RETURN_IF_ERROR(paginate("DescribeAutoScalingGroups", base, [&](const pugi::xml_node& r) {
      for (pugi::xml_node m : r.child("AutoScalingGroups").children("member")) {
        out.push_back(parseGroup(m));
      }
    }));
    return out;
  }

  Result<std::string> startInstanceRefresh(const StartInstanceRefreshInput& in) override {
    if (in.auto_scaling_group_name.empty()) {
      return fail(ErrorCode::InvalidArgument, "start instance refresh needs a group name");
    }
    QueryParams p = {{"AutoScalingGroupName", in.auto_scaling_group_name}};
    if (!in.strategy.empty()) {
      p.emplace_back("Strategy", in.strategy);
    }
    if (in.desired_launch_template) {
      const LaunchTemplateSpec& lt = *in.desired_launch_template;
      const std::string prefix = "DesiredConfiguration.LaunchTemplate.";
      if (!lt.id.empty()) {
        p.emplace_back(prefix + "LaunchTemplateId", lt.id);
      } else {
        p.emplace_back(prefix + "LaunchTemplateName", lt.name);
      }
      if (!lt.version.empty()) {
        p.emplace_back(prefix + "Version", lt.version);
      }
    }
    const InstanceRefreshPreferences& pref = in.preferences;
    auto opt_int = [&p](const char* name, const std::optional<int>& v) {
      if (v) {
        p.emplace_back(std::string("Preferences.") + name, std::to_string(*v));
      }
    };
    auto opt_bool = [&p](const char* name, const std::optional<bool>& v) {
      if (v) {
        p.emplace_back(std::string("Preferences.") + name, boolText(*v));
      }
    };
    opt_int("MinHealthyPercentage", pref.min_healthy_percentage);
    opt_int("MaxHealthyPercentage", pref.max_healthy_percentage);
    opt_int("InstanceWarmup", pref.instance_warmup_seconds);
    opt_bool("SkipMatching", pref.skip_matching);
    opt_bool("AutoRollback", pref.auto_rollback);
    if (!pref.checkpoint_percentages.empty()) {
      std::vector<std::string> values;
      for (int v : pref.checkpoint_percentages) {
        values.push_back(std::to_string(v));
      }
      addMemberList(p, "Preferences.CheckpointPercentages", values);
    }
    opt_int("CheckpointDelay", pref.checkpoint_delay_seconds);
    if (!pref.scale_in_protected_instances.empty()) {
      p.emplace_back("Preferences.ScaleInProtectedInstances", pref.scale_in_protected_instances);
    }
    if (!pref.standby_instances.empty()) {
      p.emplace_back("Preferences.StandbyInstances", pref.standby_instances);
    }
    OPSY_ASSIGN_OR_RETURN(std::string body,
                          caller_->query("StartInstanceRefresh", kVersion, p, Protocol::AwsQuery));
    pugi::xml_document doc;
    OPSY_RETURN_IF_ERROR(parseXml(doc, body, "StartInstanceRefresh"));
    std::string id =
        xmlText(doc.document_element().child("StartInstanceRefreshResult"), "InstanceRefreshId");
    if (id.empty()) {
      return fail(ErrorCode::Internal, "StartInstanceRefresh: no refresh id in response");
    }
    return id;
  }

  Result<std::vector<InstanceRefresh>> describeInstanceRefreshes(
      const std::string& group, const std::vector<std::string>& ids) override {
    QueryParams base = {{"AutoScalingGroupName", group}};
    if (!ids.empty()) {
      addMemberList(base, "InstanceRefreshIds", ids);
    }
    base.emplace_back("MaxRecords", "100");
    std::vector<InstanceRefresh> out;
    OPSY_RETURN_IF_ERROR(paginate("DescribeInstanceRefreshes", base, [&](const pugi::xml_node& r) {
      for (pugi::xml_node m : r.child("InstanceRefreshes").children("member")) {
        out.push_back(parseRefresh(m));
      }
    }));
    return out;
  }

  Result<std::vector<LifecycleHook>> describeLifecycleHooks(
      const std::string& group, const std::vector<std::string>& names) override {
    QueryParams p = {{"AutoScalingGroupName", group}};
    if (!names.empty()) {
      addMemberList(p, "LifecycleHookNames", names);
    }
    // Not paginated: a group has at most 50 hooks and they come in one answer.
    OPSY_ASSIGN_OR_RETURN(std::string body, caller_->query("DescribeLifecycleHooks", kVersion, p,
                                                           Protocol::AwsQuery));
    pugi::xml_document doc;
    OPSY_RETURN_IF_ERROR(parseXml(doc, body, "DescribeLifecycleHooks"));
    std::vector<LifecycleHook> out;
    for (pugi::xml_node m : doc.document_element()
                                .child("DescribeLifecycleHooksResult")
                                .child("LifecycleHooks")
                                .children("member")) {
      out.push_back(parseHook(m));
    }
    return out;
  }

  Status putLifecycleHook(const LifecycleHook& h) override {
    if (h.auto_scaling_group_name.empty() || h.name.empty()) {
      return fail(ErrorCode::InvalidArgument, "put lifecycle hook needs a group and a hook name");
    }
    QueryParams p = {{"AutoScalingGroupName", h.auto_scaling_group_name},
                     {"LifecycleHookName", h.name}};
    auto optional = [&p](const char* name, const std::string& value) {
      if (!value.empty()) {
        p.emplace_back(name, value);
      }
    };
    optional("LifecycleTransition", h.transition);
    p.emplace_back("HeartbeatTimeout", std::to_string(h.heartbeat_timeout_seconds));
    optional("DefaultResult", h.default_result);
    optional("NotificationTargetARN", h.notification_target_arn);
    optional("RoleARN", h.role_arn);
    optional("NotificationMetadata", h.notification_metadata);
    return call("PutLifecycleHook", p);
  }

  Status completeLifecycleAction(const LifecycleActionTarget& target,
                                 std::string_view result) override {
    QueryParams p = actionParams(target);
    p.emplace_back("LifecycleActionResult", std::string(result));
    return call("CompleteLifecycleAction", p);
  }

  Status recordLifecycleActionHeartbeat(const LifecycleActionTarget& target) override {
    return call("RecordLifecycleActionHeartbeat", actionParams(target));
  }

  Result<std::string> cancelInstanceRefresh(const std::string& group) override {
    OPSY_ASSIGN_OR_RETURN(std::string body,
                          caller_->query("CancelInstanceRefresh", kVersion,
                                         {{"AutoScalingGroupName", group}}, Protocol::AwsQuery));
    pugi::xml_document doc;
    OPSY_RETURN_IF_ERROR(parseXml(doc, body, "CancelInstanceRefresh"));
    return xmlText(doc.document_element().child("CancelInstanceRefreshResult"),
                   "InstanceRefreshId");
  }

 private:
  // A call whose answer carries nothing but ResponseMetadata.
  Status call(std::string_view action, const QueryParams& params) {
    OPSY_ASSIGN_OR_RETURN(std::string body,
                          caller_->query(action, kVersion, params, Protocol::AwsQuery));
    (void)body;
    return ok();
  }

  template <class OnPage>
  Status paginate(std::string_view action, const QueryParams& base, OnPage&& on_page) {
    return paginateQuery(*caller_, action, kVersion, base, Protocol::AwsQuery, on_page);
  }

  std::unique_ptr<Caller> caller_;
};

}  // namespace

std::string_view toString(InstanceRefreshStatus status) {
  return enumToText(status, kRefreshStatuses);
}
InstanceRefreshStatus parseInstanceRefreshStatus(std::string_view text) {
  return enumFromText(text, kRefreshStatuses);
}

Result<AutoScalingApiPtr> makeAutoScalingClient(const ClientOptions& options) {
  OPSY_ASSIGN_OR_RETURN(std::unique_ptr<Caller> caller,
                        Caller::create(Service::AutoScaling, options));
  return AutoScalingApiPtr(std::make_shared<AutoScalingClientImpl>(std::move(caller)));
}

}  // namespace opsy::aws

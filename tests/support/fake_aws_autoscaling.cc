// Auto Scaling (awsQuery, Version 2011-01-01) for FakeAws: groups and instance refreshes
// (lifecycle hooks are in fake_aws_lifecycle.cc).
#include <algorithm>

#include "opsy/core/time_format.h"
#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

bool isActive(const std::string& status) {
  return status == "Pending" || status == "InProgress" || status == "Cancelling" ||
         status == "RollbackInProgress" || status == "Baking";
}

std::optional<int> parseCount(const std::string& raw) {
  if (raw.empty() || raw.size() > 6 ||
      !std::all_of(raw.begin(), raw.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return std::nullopt;
  }
  return std::stoi(raw);
}

}  // namespace

void FakeAws::Impl::finishRefresh(FakeInstanceRefresh& r, bool success, const std::string& reason,
                                  bool replace) {
  r.end_time = now();
  if (success) {
    r.status = "Successful";
    r.percentage_complete = 100;
    r.instances_to_update = 0;
    auto asg = asgs.find(r.asg_name);
    if (asg != asgs.end() && r.desired_launch_template) {
      asg->second.launch_template = r.desired_launch_template;
    }
    if (asg != asgs.end() && replace) {
      replaceAsgInstances(asg->second);
    }
  } else {
    r.status = "Failed";
    r.status_reason = reason;
  }
}

void FakeAws::Impl::handleAutoScaling(Call& call) {
  const std::string& op = call.operation;
  std::lock_guard<std::mutex> lock(mu);
  if (handleLifecycle(call)) {
    return;
  }
  const std::string& account = options.account_id;
  std::string region = regionOf(call);
  auto validation = [&](const std::string& message) {
    queryError(call, 400, "ValidationError", message, kAsgXmlns);
  };
  // Auto Scaling resolves a launch template through EC2 before accepting it.
  auto check_template = [&](const FakeLaunchTemplateRef& want) -> bool {
    auto lt = std::find_if(launch_templates.begin(), launch_templates.end(), [&](const auto& e) {
      return (!want.id.empty() && e.first == want.id) ||
             (want.id.empty() && e.second.name == want.name);
    });
    if (lt == launch_templates.end()) {
      validation("The specified launch template, with template " +
                 (want.id.empty() ? "name " + want.name : "ID " + want.id) + ", does not exist.");
      return false;
    }
    const std::string& v = want.version;
    bool digits = !v.empty() && v.size() < 10 &&
                  std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!v.empty() && v != "$Latest" && v != "$Default" &&
        (!digits || std::stoll(v) < 1 ||
         std::stoll(v) > static_cast<long long>(lt->second.versions.size()))) {
      validation("The specified launch template version " + v + " does not exist.");
      return false;
    }
    return true;
  };

  if (op == "DescribeAutoScalingGroups") {
    tickRefreshes();
    auto names = call.list("AutoScalingGroupNames.member");
    struct Filter {
      std::string name;
      std::vector<std::string> values;
    };
    std::vector<Filter> filters;
    for (int i = 1;; ++i) {
      std::string p = "Filters.member." + std::to_string(i);
      if (!call.has(p + ".Name"))
        break;
      Filter f{call.get(p + ".Name"), call.list(p + ".Values.member")};
      if (f.name != "tag-key" && f.name != "tag-value" && f.name.rfind("tag:", 0) != 0) {
        validation("Filter name '" + f.name + "' is not valid.");
        return;
      }
      filters.push_back(std::move(f));
    }
    std::vector<const FakeAutoScalingGroup*> matched;
    for (const auto& [name, g] : asgs) {
      if (!names.empty() && std::find(names.begin(), names.end(), name) == names.end())
        continue;
      bool ok = true;
      for (const auto& f : filters) {
        bool any = false;
        for (const auto& t : g.tags) {
          for (const auto& v : f.values) {
            if ((f.name == "tag-key" && t.key == v) || (f.name == "tag-value" && t.value == v) ||
                (f.name.rfind("tag:", 0) == 0 && t.key == f.name.substr(4) && t.value == v)) {
              any = true;
            }
          }
        }
        ok = ok && any;
      }
      if (ok)
        matched.push_back(&g);
    }
    QueryPage page;
    if (!queryPage(call, "asg", matched.size(), 50, 100, &page))
      return;
    pugi::xml_document doc;
    auto result = queryResult(doc, call, kAsgXmlns);
    auto list = result.append_child("AutoScalingGroups");
    for (size_t i = page.begin; i < page.end; ++i) {
      const auto& g = *matched[i];
      auto m = list.append_child("member");
      addText(m, "AutoScalingGroupName", g.name);
      addText(m, "AutoScalingGroupARN",
              "arn:aws:autoscaling:" + region + ":" + account +
                  ":autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/" +
                  g.name);
      if (g.launch_template)
        writeLaunchTemplate(m, *g.launch_template);
      addText(m, "MinSize", std::to_string(g.min_size));
      addText(m, "MaxSize", std::to_string(g.max_size));
      addText(m, "DesiredCapacity", std::to_string(g.desired_capacity));
      addText(m, "DefaultCooldown", "300");
      auto azs = m.append_child("AvailabilityZones");
      for (const auto& az : g.availability_zones)
        addText(azs, "member", az);
      m.append_child("LoadBalancerNames");
      m.append_child("TargetGroupARNs");
      addText(m, "HealthCheckType", "EC2");
      addText(m, "HealthCheckGracePeriod", "300");
      auto members = m.append_child("Instances");
      for (const FakeInstance* inst : asgInstances(g.name)) {
        auto im = members.append_child("member");
        addText(im, "InstanceId", inst->id);
        addText(im, "InstanceType", inst->instance_type);
        addText(im, "AvailabilityZone", inst->availability_zone);
        addText(im, "LifecycleState", asgLifecycleState(*inst));
        addText(im, "HealthStatus",
                inst->state == "running" || inst->state == "pending" ? "Healthy" : "Unhealthy");
        if (inst->launch_template) {
          writeLaunchTemplate(im, *inst->launch_template);
        }
        addText(im, "ProtectedFromScaleIn", "false");
      }
      addText(m, "CreatedTime", "2026-01-01T00:00:00.000Z");
      m.append_child("SuspendedProcesses");
      m.append_child("EnabledMetrics");
      auto tags = m.append_child("Tags");
      for (const auto& t : g.tags) {
        auto tm = tags.append_child("member");
        addText(tm, "ResourceId", g.name);
        addText(tm, "ResourceType", "auto-scaling-group");
        addText(tm, "Key", t.key);
        addText(tm, "Value", t.value);
        addText(tm, "PropagateAtLaunch", t.propagate_at_launch ? "true" : "false");
      }
      addText(m.append_child("TerminationPolicies"), "member", "Default");
      addText(m, "NewInstancesProtectedFromScaleIn", "false");
    }
    if (!page.next_token.empty())
      addText(result, "NextToken", page.next_token);
    setXml(call, 200, doc);
    return;
  }

  if (op == "StartInstanceRefresh") {
    std::string name = call.get("AutoScalingGroupName");
    if (name.empty()) {
      validation(
          "1 validation error detected: Value null at 'autoScalingGroupName' failed to "
          "satisfy constraint: Member must not be null");
      return;
    }
    auto g = asgs.find(name);
    if (g == asgs.end()) {
      validation("AutoScalingGroup name not found - AutoScalingGroup '" + name + "' not found");
      return;
    }
    for (const auto& r : refreshes) {
      if (r.asg_name == name && isActive(r.status)) {
        queryError(call, 400, "InstanceRefreshInProgress",
                   "An Instance Refresh is already in progress and blocks the execution of this "
                   "Instance Refresh.",
                   kAsgXmlns);
        return;
      }
    }
    std::string strategy = call.get("Strategy", "Rolling");
    if (strategy != "Rolling" && strategy != "ReplaceRootVolume") {
      validation("1 validation error detected: Value '" + strategy +
                 "' at 'strategy' failed to satisfy constraint: Member must satisfy enum value "
                 "set: [Rolling, ReplaceRootVolume]");
      return;
    }
    FakeInstanceRefresh r;
    for (const auto& [k, v] : call.params) {
      if (k.rfind("Preferences.", 0) == 0)
        r.preferences[k.substr(12)] = v;
    }
    auto check_range = [&](const char* key, int lo, int hi) {
      auto it = r.preferences.find(key);
      if (it == r.preferences.end())
        return true;
      auto n = parseCount(it->second);
      if (!n || *n < lo || *n > hi) {
        validation(std::string("1 validation error detected: Value '") + it->second + "' at '" +
                   key + "' failed to satisfy constraint: Member must be between " +
                   std::to_string(lo) + " and " + std::to_string(hi));
        return false;
      }
      return true;
    };
    if (!check_range("MinHealthyPercentage", 0, 100) ||
        !check_range("MaxHealthyPercentage", 100, 200)) {
      return;
    }
    const std::string d = "DesiredConfiguration.LaunchTemplate.";
    if (call.has(d + "LaunchTemplateId") || call.has(d + "LaunchTemplateName")) {
      r.desired_launch_template =
          FakeLaunchTemplateRef{call.get(d + "LaunchTemplateId"),
                                call.get(d + "LaunchTemplateName"), call.get(d + "Version")};
      if (!check_template(*r.desired_launch_template)) {
        return;
      }
    }
    r.id = newUuid();
    r.asg_name = name;
    r.strategy = strategy;
    r.start_time = now();
    r.instances_to_update = g->second.desired_capacity;
    refreshes.push_back(r);
    pugi::xml_document doc;
    addText(queryResult(doc, call, kAsgXmlns), "InstanceRefreshId", r.id);
    setXml(call, 200, doc);
    return;
  }

  if (op == "UpdateAutoScalingGroup" || op == "CancelInstanceRefresh") {
    std::string name = call.get("AutoScalingGroupName");
    if (name.empty()) {
      validation(
          "1 validation error detected: Value null at 'autoScalingGroupName' failed to "
          "satisfy constraint: Member must not be null");
      return;
    }
    auto g = asgs.find(name);
    if (g == asgs.end()) {
      validation("AutoScalingGroup name not found - AutoScalingGroup '" + name + "' not found");
      return;
    }
    pugi::xml_document doc;
    if (op == "CancelInstanceRefresh") {
      auto active = std::find_if(refreshes.begin(), refreshes.end(), [&](const auto& r) {
        return r.asg_name == name && isActive(r.status) && r.status != "Cancelling";
      });
      if (active == refreshes.end()) {
        queryError(
            call, 400, "ActiveInstanceRefreshNotFound",
            "No in progress or pending Instance Refresh found for Auto Scaling group " + name,
            kAsgXmlns);
        return;
      }
      // Cancelling takes time in AWS; the fake reports Cancelled from the next describe on.
      active->status = "Cancelled";
      active->end_time = now();
      addText(queryResult(doc, call, kAsgXmlns), "InstanceRefreshId", active->id);
      setXml(call, 200, doc);
      return;
    }
    FakeAutoScalingGroup& group = g->second;
    const std::string lt = "LaunchTemplate.";
    if (call.has(lt + "LaunchTemplateId") || call.has(lt + "LaunchTemplateName")) {
      FakeLaunchTemplateRef want{call.get(lt + "LaunchTemplateId"),
                                 call.get(lt + "LaunchTemplateName"), call.get(lt + "Version")};
      if (!check_template(want)) {
        return;
      }
      group.launch_template = want;
    }
    for (const auto& [param, field] :
         std::vector<std::pair<std::string, int*>>{{"MinSize", &group.min_size},
                                                   {"MaxSize", &group.max_size},
                                                   {"DesiredCapacity", &group.desired_capacity}}) {
      if (call.has(param)) {
        auto n = parseCount(call.get(param));
        if (!n) {
          validation("Value '" + call.get(param) + "' at '" + param + "' is not a number");
          return;
        }
        *field = *n;
      }
    }
    if (group.min_size > group.max_size) {
      validation("The specified MinSize (" + std::to_string(group.min_size) +
                 ") is greater than the MaxSize (" + std::to_string(group.max_size) + ").");
      return;
    }
    asg_updates.push_back(name);
    if (call.has("DesiredCapacity")) {
      scaleAsg(group);
    }
    // Operations without output answer with only ResponseMetadata.
    auto root = doc.append_child("UpdateAutoScalingGroupResponse");
    root.append_attribute("xmlns") = kAsgXmlns;
    root.append_child("ResponseMetadata").append_child("RequestId").text() =
        call.request_id.c_str();
    setXml(call, 200, doc);
    return;
  }

  if (op == "DescribeInstanceRefreshes") {
    std::string name = call.get("AutoScalingGroupName");
    if (name.empty()) {
      validation(
          "1 validation error detected: Value null at 'autoScalingGroupName' failed to "
          "satisfy constraint: Member must not be null");
      return;
    }
    // Unlike DescribeAutoScalingGroups, which lists nothing, this names the missing group.
    if (!asgs.count(name)) {
      validation("AutoScalingGroup name not found - AutoScalingGroup '" + name + "' not found");
      return;
    }
    tickRefreshes();
    auto ids = call.list("InstanceRefreshIds.member");
    std::vector<FakeInstanceRefresh*> matched;
    for (auto it = refreshes.rbegin(); it != refreshes.rend(); ++it) {
      if (it->asg_name != name)
        continue;
      if (!ids.empty() && std::find(ids.begin(), ids.end(), it->id) == ids.end())
        continue;
      matched.push_back(&*it);
    }
    QueryPage page;
    if (!queryPage(call, "refresh", matched.size(), 50, 100, &page))
      return;
    pugi::xml_document doc;
    auto result = queryResult(doc, call, kAsgXmlns);
    auto list = result.append_child("InstanceRefreshes");
    for (size_t i = page.begin; i < page.end; ++i) {
      FakeInstanceRefresh& r = *matched[i];
      // A group with a termination hook moves on ticks, one instance at a time.
      if ((r.status == "Pending" || r.status == "InProgress") &&
          terminationHook(r.asg_name) == nullptr) {
        ++r.describe_calls;
        r.status = "InProgress";
        if (refresh_auto_complete > 0) {
          if (r.describe_calls >= refresh_auto_complete) {
            finishRefresh(r, true, "");
          } else {
            r.percentage_complete = 100 * r.describe_calls / refresh_auto_complete;
          }
        }
      }
      auto m = list.append_child("member");
      addText(m, "InstanceRefreshId", r.id);
      addText(m, "AutoScalingGroupName", r.asg_name);
      addText(m, "Status", r.status);
      if (!r.status_reason.empty())
        addText(m, "StatusReason", r.status_reason);
      addText(m, "StartTime", formatRfc3339(r.start_time));
      if (r.end_time)
        addText(m, "EndTime", formatRfc3339(*r.end_time));
      addText(m, "PercentageComplete", std::to_string(r.percentage_complete));
      addText(m, "InstancesToUpdate", std::to_string(r.instances_to_update));
      auto live = m.append_child("ProgressDetails").append_child("LivePoolProgress");
      addText(live, "PercentageComplete", std::to_string(r.percentage_complete));
      addText(live, "InstancesToUpdate", std::to_string(r.instances_to_update));
      auto prefs = m.append_child("Preferences");
      for (const auto& [k, v] : r.preferences) {
        if (k.find('.') == std::string::npos)
          addText(prefs, k.c_str(), v);
      }
      if (r.desired_launch_template) {
        writeLaunchTemplate(m.append_child("DesiredConfiguration"), *r.desired_launch_template);
      }
      addText(m, "Strategy", r.strategy);
    }
    if (!page.next_token.empty())
      addText(result, "NextToken", page.next_token);
    setXml(call, 200, doc);
    return;
  }

  queryError(call, 400, "InvalidAction",
             "Could not find operation " + op + " for version 2011-01-01", kAsgXmlns);
}

}  // namespace opsy::testing

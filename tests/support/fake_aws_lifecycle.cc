// Auto Scaling lifecycle hooks for FakeAws: PutLifecycleHook, DescribeLifecycleHooks,
// DeleteLifecycleHook, CompleteLifecycleAction, RecordLifecycleActionHeartbeat,
// DescribeAutoScalingInstances, and the instance refresh that takes a hooked group's instances
// through Terminating:Wait one at a time.
#include <algorithm>
#include <regex>

#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

constexpr const char* kTerminating = "autoscaling:EC2_INSTANCE_TERMINATING";
constexpr const char* kLaunching = "autoscaling:EC2_INSTANCE_LAUNCHING";
// Auto Scaling's quota of lifecycle hooks per group.
constexpr size_t kMaxHooksPerGroup = 50;
// The longest an instance may wait, whatever the heartbeats: 48 hours.
constexpr int kMaxGlobalTimeoutSeconds = 172800;
// DescribeAutoScalingInstances pages at most this many instances.
constexpr int kMaxInstancesPerPage = 50;

// The model's AsciiStringMaxLen255 pattern for hook names.
const std::regex kHookName("^[A-Za-z0-9\\-_/]{1,255}$");

int globalTimeoutSeconds(const FakeLifecycleHook& h) {
  return std::min(100 * h.heartbeat_timeout_seconds, kMaxGlobalTimeoutSeconds);
}

bool isDigits(const std::string& s) {
  return !s.empty() && s.size() < 7 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// An answer with no result fields: <OpResponse><OpResult/><ResponseMetadata>.
void emptyAnswer(Call& call) {
  pugi::xml_document doc;
  queryResult(doc, call, kAsgXmlns);
  setXml(call, 200, doc);
}

}  // namespace

const FakeLifecycleHook* FakeAws::Impl::terminationHook(const std::string& asg) const {
  auto it = lifecycle_hooks.find(asg);
  if (it == lifecycle_hooks.end()) {
    return nullptr;
  }
  for (const auto& h : it->second) {
    if (h.transition == kTerminating) {
      return &h;
    }
  }
  return nullptr;
}

std::string FakeAws::Impl::asgLifecycleState(const FakeInstance& i) const {
  if (i.state == "pending") {
    return "Pending";
  }
  if (i.state == "shutting-down") {
    return lifecycle_proceeding.count(i.id) ? "Terminating:Proceed" : "Terminating";
  }
  for (const auto& w : lifecycle_waits) {
    if (w.instance_id == i.id) {
      return "Terminating:Wait";
    }
  }
  return "InService";
}

void FakeAws::Impl::endLifecycleWait(size_t index, const std::string& operation,
                                     const std::string& result) {
  FakeLifecycleWait w = lifecycle_waits[index];
  lifecycle_waits.erase(lifecycle_waits.begin() + static_cast<std::ptrdiff_t>(index));
  lifecycle_log.push_back({operation, w.asg, w.hook, w.instance_id, result, now()});
  bool still_waiting = std::any_of(lifecycle_waits.begin(), lifecycle_waits.end(),
                                   [&](const auto& o) { return o.instance_id == w.instance_id; });
  auto it = instance_index.find(w.instance_id);
  if (still_waiting || it == instance_index.end()) {
    return;
  }
  // For a terminating instance CONTINUE and ABANDON both let the termination go on.
  FakeInstance& inst = instances[it->second];
  if (inst.state != "terminated") {
    setInstanceStateLocked(inst, "shutting-down");
    lifecycle_proceeding.insert(inst.id);
  }
}

void FakeAws::Impl::expireLifecycleWaits() {
  const TimePoint t = now();
  // Deadlines are checked lazily: the hook's DefaultResult applies to every expired wait.
  for (size_t i = 0; i < lifecycle_waits.size();) {
    const FakeLifecycleWait& w = lifecycle_waits[i];
    if (w.deadline > t) {
      ++i;
      continue;
    }
    std::string result = "ABANDON";
    if (auto hooks = lifecycle_hooks.find(w.asg); hooks != lifecycle_hooks.end()) {
      for (const auto& h : hooks->second) {
        if (h.name == w.hook) {
          result = h.default_result;
        }
      }
    }
    endLifecycleWait(i, "Timeout", result);
  }
}

void FakeAws::Impl::tickRefreshes() {
  const TimePoint t = now();
  // Instances whose wait ended on an earlier call have shut down by now.
  for (const auto& id : lifecycle_proceeding) {
    if (auto it = instance_index.find(id); it != instance_index.end()) {
      setInstanceStateLocked(instances[it->second], "terminated");
    }
  }
  lifecycle_proceeding.clear();
  // A wait whose instance went another way (a test terminated it, a forced refresh) is over.
  std::erase_if(lifecycle_waits, [&](const FakeLifecycleWait& w) {
    auto it = instance_index.find(w.instance_id);
    return it == instance_index.end() || instances[it->second].state == "terminated";
  });
  expireLifecycleWaits();

  for (auto& r : refreshes) {
    if (r.status != "Pending" && r.status != "InProgress") {
      continue;
    }
    auto group = asgs.find(r.asg_name);
    if (group == asgs.end() || terminationHook(r.asg_name) == nullptr) {
      continue;
    }
    r.status = "InProgress";
    std::optional<FakeLaunchTemplateRef> desired =
        r.desired_launch_template ? r.desired_launch_template : group->second.launch_template;
    std::optional<FakeLaunchTemplateRef> want =
        desired ? resolveTemplateRef(*desired) : std::nullopt;
    auto waiting = [&](const std::string& id) {
      return std::any_of(lifecycle_waits.begin(), lifecycle_waits.end(),
                         [&](const auto& w) { return w.instance_id == id; });
    };
    auto it_targets = refresh_targets.find(r.id);
    if (it_targets == refresh_targets.end()) {
      // The instances the group ran when the refresh began are the ones it replaces; with
      // SkipMatching, not those already on the desired version.
      bool skip_matching =
          r.preferences.count("SkipMatching") && r.preferences.at("SkipMatching") == "true";
      std::vector<std::string> ids;
      for (FakeInstance* i : asgInstances(r.asg_name)) {
        bool matches = want && i->launch_template && i->launch_template->id == want->id &&
                       i->launch_template->version == want->version;
        if (i->state != "shutting-down" && !waiting(i->id) && !(skip_matching && matches)) {
          ids.push_back(i->id);
        }
      }
      it_targets = refresh_targets.emplace(r.id, std::move(ids)).first;
    }
    const std::vector<std::string>& targets = it_targets->second;
    auto live = [&](const std::string& id) {
      auto it = instance_index.find(id);
      if (it == instance_index.end()) {
        return false;
      }
      const std::string& state = instances[it->second].state;
      return state != "terminated" && state != "shutting-down";
    };
    bool any_waiting = false;
    for (FakeInstance* i : asgInstances(r.asg_name)) {
      any_waiting = any_waiting || waiting(i->id);
    }
    if (!any_waiting) {
      auto next = std::find_if(targets.begin(), targets.end(), live);
      if (next != targets.end()) {
        FakeInstance& old = instances[instance_index.at(*next)];
        // The replacement first, in the old instance's zone, then the old one waits.
        if (const FakeNodegroup* ng = nodegroupOwning(r.asg_name)) {
          FakeNodegroup shape = *ng;
          shape.availability_zones = {old.availability_zone};
          launchForNodegroup(shape, 1, desired);
        } else {
          FakeAutoScalingGroup shape = group->second;
          shape.launch_template = desired;
          shape.availability_zones = {old.availability_zone};
          launchForAsg(shape, 1);
        }
        // launchBatch may have grown `instances`: look the old one up again.
        const std::string old_id = *next;
        for (const auto& h : lifecycle_hooks[r.asg_name]) {
          if (h.transition != kTerminating) {
            continue;
          }
          TimePoint deadline = t + std::chrono::seconds(h.heartbeat_timeout_seconds);
          lifecycle_waits.push_back({r.asg_name, h.name, old_id, newUuid(), t, deadline});
        }
        instances_changed = true;
      }
    }
    int total = static_cast<int>(targets.size());
    int remaining = static_cast<int>(std::count_if(targets.begin(), targets.end(), live));
    r.instances_to_update = remaining;
    r.percentage_complete = total == 0 ? 100 : 100 * (total - remaining) / total;
    if (remaining == 0) {
      finishRefresh(r, true, "", /*replace=*/false);
    }
  }
}

bool FakeAws::Impl::handleLifecycle(Call& call) {
  const std::string& op = call.operation;
  if (op != "PutLifecycleHook" && op != "DescribeLifecycleHooks" && op != "DeleteLifecycleHook" &&
      op != "CompleteLifecycleAction" && op != "RecordLifecycleActionHeartbeat" &&
      op != "DescribeAutoScalingInstances") {
    return false;
  }
  auto validation = [&](const std::string& message) {
    queryError(call, 400, "ValidationError", message, kAsgXmlns);
  };
  // Required parameters, checked in the order the model lists them.
  auto require = [&](std::initializer_list<std::pair<const char*, const char*>> fields) {
    for (const auto& [param, member] : fields) {
      if (call.get(param).empty()) {
        validation(std::string("1 validation error detected: Value null at '") + member +
                   "' failed to satisfy constraint: Member must not be null");
        return false;
      }
    }
    return true;
  };
  auto group_exists = [&](const std::string& name) {
    if (asgs.count(name)) {
      return true;
    }
    validation("AutoScalingGroup name not found - AutoScalingGroup '" + name + "' not found");
    return false;
  };
  auto find_hook = [&](const std::string& asg, const std::string& name) -> FakeLifecycleHook* {
    for (auto& h : lifecycle_hooks[asg]) {
      if (h.name == name) {
        return &h;
      }
    }
    return nullptr;
  };
  auto no_such_hook = [&](const std::string& asg, const std::string& name) {
    validation("No Lifecycle Hook found with name " + name + " for group " + asg);
  };

  if (op == "DescribeAutoScalingInstances") {
    tickRefreshes();
    auto ids = call.list("InstanceIds.member");
    if (ids.size() > kMaxInstancesPerPage) {
      validation(
          "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: "
          "Member must have length less than or equal to 50");
      return true;
    }
    std::vector<const FakeInstance*> matched;
    for (const auto& i : instances) {
      if (i.asg.empty() || i.state == "terminated" || !asgs.count(i.asg)) {
        continue;
      }
      // Ids Auto Scaling does not know are left out, not an error.
      if (!ids.empty() && std::find(ids.begin(), ids.end(), i.id) == ids.end()) {
        continue;
      }
      matched.push_back(&i);
    }
    QueryPage page;
    if (!queryPage(call, "asg-instances", matched.size(), kMaxInstancesPerPage,
                   kMaxInstancesPerPage, &page)) {
      return true;
    }
    pugi::xml_document doc;
    auto result = queryResult(doc, call, kAsgXmlns);
    auto list = result.append_child("AutoScalingInstances");
    for (size_t k = page.begin; k < page.end; ++k) {
      const FakeInstance& i = *matched[k];
      auto m = list.append_child("member");
      addText(m, "InstanceId", i.id);
      addText(m, "InstanceType", i.instance_type);
      addText(m, "AutoScalingGroupName", i.asg);
      addText(m, "AvailabilityZone", i.availability_zone);
      addText(m, "LifecycleState", asgLifecycleState(i));
      // Unlike DescribeAutoScalingGroups ("Healthy"), this call spells it in capitals.
      addText(m, "HealthStatus",
              i.state == "running" || i.state == "pending" ? "HEALTHY" : "UNHEALTHY");
      if (i.launch_template) {
        writeLaunchTemplate(m, *i.launch_template);
      }
      addText(m, "ProtectedFromScaleIn", "false");
    }
    if (!page.next_token.empty()) {
      addText(result, "NextToken", page.next_token);
    }
    setXml(call, 200, doc);
    return true;
  }

  const std::string asg = call.get("AutoScalingGroupName");
  const std::string hook_name = call.get("LifecycleHookName");

  if (op == "DescribeLifecycleHooks") {
    if (!require({{"AutoScalingGroupName", "autoScalingGroupName"}}) || !group_exists(asg)) {
      return true;
    }
    auto names = call.list("LifecycleHookNames.member");
    if (names.size() > kMaxHooksPerGroup) {
      validation(
          "1 validation error detected: Value at 'lifecycleHookNames' failed to satisfy "
          "constraint: Member must have length less than or equal to 50");
      return true;
    }
    pugi::xml_document doc;
    auto list = queryResult(doc, call, kAsgXmlns).append_child("LifecycleHooks");
    for (const auto& h : lifecycle_hooks[asg]) {
      if (!names.empty() && std::find(names.begin(), names.end(), h.name) == names.end()) {
        continue;
      }
      auto m = list.append_child("member");
      addText(m, "LifecycleHookName", h.name);
      addText(m, "AutoScalingGroupName", h.asg);
      addText(m, "LifecycleTransition", h.transition);
      if (!h.notification_target_arn.empty()) {
        addText(m, "NotificationTargetARN", h.notification_target_arn);
      }
      if (!h.role_arn.empty()) {
        addText(m, "RoleARN", h.role_arn);
      }
      if (!h.notification_metadata.empty()) {
        addText(m, "NotificationMetadata", h.notification_metadata);
      }
      addText(m, "HeartbeatTimeout", std::to_string(h.heartbeat_timeout_seconds));
      addText(m, "GlobalTimeout", std::to_string(globalTimeoutSeconds(h)));
      addText(m, "DefaultResult", h.default_result);
    }
    setXml(call, 200, doc);
    return true;
  }

  if (op == "PutLifecycleHook") {
    if (!require({{"LifecycleHookName", "lifecycleHookName"},
                  {"AutoScalingGroupName", "autoScalingGroupName"}})) {
      return true;
    }
    if (!std::regex_match(hook_name, kHookName)) {
      validation("1 validation error detected: Value '" + hook_name +
                 "' at 'lifecycleHookName' failed to satisfy constraint: Member must satisfy "
                 "regular expression pattern: [A-Za-z0-9\\-_\\/]+");
      return true;
    }
    if (!group_exists(asg)) {
      return true;
    }
    std::vector<FakeLifecycleHook>& hooks = lifecycle_hooks[asg];
    FakeLifecycleHook* existing = find_hook(asg, hook_name);
    // Updating a hook changes only what the call names.
    FakeLifecycleHook h;
    if (existing) {
      h = *existing;
    } else {
      h.asg = asg;
      h.name = hook_name;
    }
    if (call.has("LifecycleTransition")) {
      h.transition = call.get("LifecycleTransition");
    } else if (!existing) {
      validation("LifecycleTransition is required when creating a lifecycle hook");
      return true;
    }
    if (h.transition != kTerminating && h.transition != kLaunching) {
      validation("Invalid Lifecycle Transition: " + h.transition + ". Must be one of " +
                 kLaunching + ", " + kTerminating);
      return true;
    }
    if (call.has("HeartbeatTimeout")) {
      std::string raw = call.get("HeartbeatTimeout");
      if (!isDigits(raw) || std::stoi(raw) < 30 || std::stoi(raw) > 7200) {
        validation("Heartbeat timeout " + raw + " is not valid: it must be between 30 and 7200");
        return true;
      }
      h.heartbeat_timeout_seconds = std::stoi(raw);
    }
    if (call.has("DefaultResult")) {
      std::string result = call.get("DefaultResult");
      if (result != "CONTINUE" && result != "ABANDON") {
        validation("Invalid default result: " + result + ". Must be CONTINUE or ABANDON");
        return true;
      }
      h.default_result = result;
    }
    for (const auto& [param, field] : std::vector<std::pair<const char*, std::string*>>{
             {"NotificationTargetARN", &h.notification_target_arn},
             {"RoleARN", &h.role_arn},
             {"NotificationMetadata", &h.notification_metadata}}) {
      if (call.has(param)) {
        *field = call.get(param);
      }
    }
    if (existing) {
      *existing = h;
    } else if (hooks.size() >= kMaxHooksPerGroup) {
      queryError(call, 400, "LimitExceeded",
                 "Auto Scaling group " + asg + " already has the maximum of " +
                     std::to_string(kMaxHooksPerGroup) + " lifecycle hooks",
                 kAsgXmlns);
      return true;
    } else {
      hooks.push_back(h);
    }
    emptyAnswer(call);
    return true;
  }

  if (op == "DeleteLifecycleHook") {
    if (!require({{"LifecycleHookName", "lifecycleHookName"},
                  {"AutoScalingGroupName", "autoScalingGroupName"}}) ||
        !group_exists(asg)) {
      return true;
    }
    if (find_hook(asg, hook_name) == nullptr) {
      no_such_hook(asg, hook_name);
      return true;
    }
    // Auto Scaling first completes the hook's outstanding actions: CONTINUE for terminating
    // instances.
    for (size_t i = 0; i < lifecycle_waits.size();) {
      if (lifecycle_waits[i].asg == asg && lifecycle_waits[i].hook == hook_name) {
        endLifecycleWait(i, "DeleteLifecycleHook", "CONTINUE");
      } else {
        ++i;
      }
    }
    std::erase_if(lifecycle_hooks[asg], [&](const auto& h) { return h.name == hook_name; });
    emptyAnswer(call);
    return true;
  }

  // CompleteLifecycleAction, RecordLifecycleActionHeartbeat
  const bool complete = op == "CompleteLifecycleAction";
  if (!require({{"LifecycleHookName", "lifecycleHookName"},
                {"AutoScalingGroupName", "autoScalingGroupName"}})) {
    return true;
  }
  if (complete && !require({{"LifecycleActionResult", "lifecycleActionResult"}})) {
    return true;
  }
  if (!group_exists(asg)) {
    return true;
  }
  const FakeLifecycleHook* hook = find_hook(asg, hook_name);
  if (hook == nullptr) {
    no_such_hook(asg, hook_name);
    return true;
  }
  const std::string result = call.get("LifecycleActionResult");
  if (complete && result != "CONTINUE" && result != "ABANDON") {
    validation("Invalid lifecycle action result: " + result + ". Must be CONTINUE or ABANDON");
    return true;
  }
  const std::string instance_id = call.get("InstanceId");
  const std::string token = call.get("LifecycleActionToken");
  if (instance_id.empty() && token.empty()) {
    validation("Either InstanceId or LifecycleActionToken must be specified");
    return true;
  }
  // A wait that ran out before this call ended with the default result, not with this call.
  expireLifecycleWaits();
  auto wait = std::find_if(lifecycle_waits.begin(), lifecycle_waits.end(), [&](const auto& w) {
    return w.asg == asg && w.hook == hook_name &&
           (token.empty() ? w.instance_id == instance_id : w.token == token);
  });
  if (wait == lifecycle_waits.end()) {
    validation(token.empty() ? "No active Lifecycle Action found with instance ID " + instance_id
                             : "No active Lifecycle Action found with token " + token);
    return true;
  }
  if (complete) {
    endLifecycleWait(static_cast<size_t>(wait - lifecycle_waits.begin()), op, result);
  } else {
    TimePoint limit = wait->started + std::chrono::seconds(globalTimeoutSeconds(*hook));
    wait->deadline = std::min(now() + std::chrono::seconds(hook->heartbeat_timeout_seconds), limit);
    lifecycle_log.push_back({op, asg, hook_name, wait->instance_id, "", now()});
  }
  emptyAnswer(call);
  return true;
}

// ---------------------------------------------------------------------------------------------
// FakeAws

void FakeAws::addLifecycleHook(FakeLifecycleHook hook) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& hooks = impl_->lifecycle_hooks[hook.asg];
  auto it =
      std::find_if(hooks.begin(), hooks.end(), [&](const auto& h) { return h.name == hook.name; });
  if (it != hooks.end()) {
    *it = std::move(hook);
  } else {
    hooks.push_back(std::move(hook));
  }
}

std::vector<FakeLifecycleHook> FakeAws::lifecycleHooks(const std::string& asg) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->lifecycle_hooks.find(asg);
  return it == impl_->lifecycle_hooks.end() ? std::vector<FakeLifecycleHook>{} : it->second;
}

std::vector<FakeLifecycleWait> FakeAws::lifecycleWaits() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->lifecycle_waits;
}

std::vector<FakeLifecycleAction> FakeAws::lifecycleActionLog() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->lifecycle_log;
}

void FakeAws::tickInstanceRefreshes() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->tickRefreshes();
  }
  impl_->notifyInstancesChanged();
}

}  // namespace opsy::testing

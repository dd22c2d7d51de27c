#include "ami-refresh-controller/api.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "opsy/ami/eligibility.h"
#include "opsy/core/duration.h"
#include "opsy/core/time_format.h"
#include "opsy/json/json.h"
#include "opsy/kube/selector.h"

namespace opsy::ami_refresh {
namespace {

using json::Fields;
using json::Value;

Result<std::vector<aws::Filter>> parseFilters(const Fields& spec) {
  std::vector<aws::Filter> filters;
  const Value* v = spec.get("amiFilters");
  if (v == nullptr) {
    return filters;
  }
  if (!v->IsArray()) {
    return fail(ErrorCode::InvalidArgument, "spec.amiFilters: must be a list");
  }
  if (v->Empty()) {
    return fail(ErrorCode::InvalidArgument, "spec.amiFilters: must not be empty");
  }
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    std::string path = fmt::format("spec.amiFilters[{}]", i);
    if (!(*v)[i].IsObject()) {
      return fail(ErrorCode::InvalidArgument, path + ": must be an object");
    }
    Fields f((*v)[i], path);
    aws::Filter filter;
    OPSY_ASSIGN_OR_RETURN(filter.name, f.requiredString("name"));
    OPSY_ASSIGN_OR_RETURN(filter.values, f.strings("values"));
    if (filter.values.empty()) {
      return fail(ErrorCode::InvalidArgument, path + ".values: must not be empty");
    }
    filters.push_back(std::move(filter));
  }
  return filters;
}

Result<std::optional<BuilderRef>> parseBuilderRef(const Fields& spec, const std::string& own_ns) {
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> f, spec.object("builderRef"));
  if (!f) {
    return std::optional<BuilderRef>();
  }
  BuilderRef ref;
  OPSY_ASSIGN_OR_RETURN(ref.name, f->requiredString("name"));
  OPSY_ASSIGN_OR_RETURN(std::optional<std::string> ns, f->optString("namespace"));
  ref.ns = ns && !ns->empty() ? *ns : own_ns;
  return std::optional<BuilderRef>(std::move(ref));
}

Result<RefreshConfig> parseRefreshConfig(const Fields& spec) {
  RefreshConfig rc;
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> f, spec.object("refreshConfig"));
  if (!f) {
    return rc;
  }
  OPSY_ASSIGN_OR_RETURN(rc.force, f->boolOr("force", false));
  OPSY_ASSIGN_OR_RETURN(rc.max_unavailable, f->optInt("maxUnavailable", 1, 100));
  OPSY_ASSIGN_OR_RETURN(rc.max_unavailable_percentage,
                        f->optInt("maxUnavailablePercentage", 1, 100));
  if (rc.max_unavailable && rc.max_unavailable_percentage) {
    return fail(ErrorCode::InvalidArgument,
                "spec.refreshConfig.maxUnavailable: set at most one of maxUnavailable and "
                "maxUnavailablePercentage");
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<int> concurrent, f->optInt("maxConcurrentNodegroups", 1, 50));
  rc.max_concurrent_nodegroups = concurrent.value_or(1);
  OPSY_ASSIGN_OR_RETURN(rc.wait_for_completion, f->boolOr("waitForCompletion", true));
  OPSY_ASSIGN_OR_RETURN(std::optional<Duration> timeout, f->optDuration("updateTimeout"));
  rc.update_timeout = timeout.value_or(kDefaultUpdateTimeout);
  OPSY_ASSIGN_OR_RETURN(rc.rollback_on_failure, f->boolOr("rollbackOnFailure", false));
  return rc;
}

Result<RolloutConfig> parseRollout(const Fields& spec) {
  RolloutConfig rollout;
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> f, spec.object("rollout"));
  if (!f) {
    return rollout;
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<Duration> soak, f->optDuration("soak"));
  rollout.soak = soak.value_or(Duration::zero());
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> c, f->object("canary"));
  if (!c) {
    if (soak) {
      return fail(ErrorCode::InvalidArgument,
                  "spec.rollout.soak: set spec.rollout.canary too; the soak is the canary's");
    }
    return rollout;
  }
  CanaryConfig canary;
  OPSY_ASSIGN_OR_RETURN(canary.nodegroups, c->strings("nodegroups"));
  for (size_t i = 0; i < canary.nodegroups.size(); ++i) {
    if (canary.nodegroups[i].empty()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("spec.rollout.canary.nodegroups[{}]: must not be empty", i));
    }
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<int> count, c->optInt("count", 1, 100));
  canary.count = count.value_or(0);
  if (canary.nodegroups.empty() == (canary.count == 0)) {
    return fail(ErrorCode::InvalidArgument,
                "spec.rollout.canary: set exactly one of nodegroups and count");
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<Duration> ready, c->optDuration("readyTimeout"));
  canary.ready_timeout = ready.value_or(kDefaultCanaryReadyTimeout);
  rollout.canary = std::move(canary);
  return rollout;
}

// Auto Scaling's bounds for a lifecycle hook's HeartbeatTimeout.
constexpr Duration kMinHeartbeatTimeout = std::chrono::seconds(30);
constexpr Duration kMaxHeartbeatTimeout = std::chrono::seconds(7200);
// Auto Scaling holds an instance at most 48 hours in a wait state, however often it is extended.
constexpr Duration kMaxDrainTimeout = std::chrono::hours(48);

bool validHookName(std::string_view name) {
  return !name.empty() && name.size() <= 255 &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '_' || c == '/';
         });
}

Result<DrainConfig> parseDrain(const Fields& self_managed) {
  DrainConfig drain;
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> f, self_managed.object("drain"));
  if (!f) {
    return drain;
  }
  OPSY_ASSIGN_OR_RETURN(drain.enabled, f->boolOr("enabled", true));
  OPSY_ASSIGN_OR_RETURN(drain.timeout, f->durationOr("timeout", kDefaultDrainTimeout));
  if (drain.timeout <= Duration::zero() || drain.timeout > kMaxDrainTimeout) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{}: must be more than 0 and at most 48h (Auto Scaling's longest wait)",
                            f->path("timeout")));
  }
  OPSY_ASSIGN_OR_RETURN(std::string on_timeout, f->string("onTimeout"));
  if (on_timeout == "Continue") {
    drain.on_timeout = DrainTimeoutAction::Continue;
  } else if (!on_timeout.empty() && on_timeout != "Halt") {
    return fail(ErrorCode::InvalidArgument, fmt::format("{}: \"{}\" is neither Halt nor Continue",
                                                        f->path("onTimeout"), on_timeout));
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> hook, f->object("lifecycleHook"));
  if (!hook) {
    return drain;
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<std::string> name, hook->optString("name"));
  if (name) {
    if (!validHookName(*name)) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("{}: 1 to 255 letters, digits, '-', '_' or '/'", hook->path("name")));
    }
    drain.hook_name = *name;
  }
  OPSY_ASSIGN_OR_RETURN(drain.heartbeat_timeout,
                        hook->durationOr("heartbeatTimeout", kDefaultHookHeartbeatTimeout));
  if (drain.heartbeat_timeout < kMinHeartbeatTimeout ||
      drain.heartbeat_timeout > kMaxHeartbeatTimeout ||
      drain.heartbeat_timeout % std::chrono::seconds(1) != Duration::zero()) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{}: whole seconds from 30s to 2h (Auto Scaling's bounds)",
                            hook->path("heartbeatTimeout")));
  }
  // Auto Scaling holds an instance at most 100 heartbeat timeouts, however many heartbeats come.
  if (drain.timeout > 100 * drain.heartbeat_timeout) {
    return fail(
        ErrorCode::InvalidArgument,
        fmt::format("{}: {} is longer than Auto Scaling holds an instance with a {} "
                    "heartbeat timeout (100 times it); raise {}",
                    f->path("timeout"), formatDuration(drain.timeout),
                    formatDuration(drain.heartbeat_timeout), hook->path("heartbeatTimeout")));
  }
  OPSY_ASSIGN_OR_RETURN(std::string result, hook->string("defaultResult"));
  if (!result.empty()) {
    if (result != "CONTINUE" && result != "ABANDON") {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("{}: \"{}\" is neither CONTINUE nor ABANDON",
                              hook->path("defaultResult"), result));
    }
    drain.default_result = result;
  }
  return drain;
}

Result<SelfManagedConfig> parseSelfManaged(const Fields& spec) {
  SelfManagedConfig sm;
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> f, spec.object("selfManaged"));
  if (!f) {
    return sm;
  }
  OPSY_ASSIGN_OR_RETURN(sm.enabled, f->boolOr("enabled", false));
  OPSY_ASSIGN_OR_RETURN(std::optional<int> healthy, f->optInt("minHealthyPercentage", 0, 100));
  sm.min_healthy_percentage = healthy.value_or(90);
  OPSY_ASSIGN_OR_RETURN(std::optional<Duration> warmup, f->optDuration("instanceWarmup"));
  sm.instance_warmup = warmup.value_or(kDefaultInstanceWarmup);
  OPSY_ASSIGN_OR_RETURN(sm.drain, parseDrain(*f));
  return sm;
}

constexpr size_t kMaxMaintenanceWindows = 16;

Result<std::vector<MaintenanceWindow>> parseMaintenanceWindows(const Fields& spec) {
  std::vector<MaintenanceWindow> windows;
  const Value* v = spec.get("maintenanceWindows");
  if (v == nullptr) {
    return windows;
  }
  if (!v->IsArray()) {
    return fail(ErrorCode::InvalidArgument, "spec.maintenanceWindows: must be a list");
  }
  if (v->Size() > kMaxMaintenanceWindows) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("spec.maintenanceWindows: at most {} windows", kMaxMaintenanceWindows));
  }
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    std::string path = fmt::format("spec.maintenanceWindows[{}]", i);
    if (!(*v)[i].IsObject()) {
      return fail(ErrorCode::InvalidArgument, path + ": must be an object");
    }
    Fields f((*v)[i], path);
    MaintenanceWindowSpec w;
    OPSY_ASSIGN_OR_RETURN(w.schedule, f.requiredString("schedule"));
    OPSY_ASSIGN_OR_RETURN(w.duration, f.requiredString("duration"));
    OPSY_ASSIGN_OR_RETURN(std::optional<std::string> tz, f.optString("timeZone"));
    w.time_zone = tz.value_or("");
    auto parsed = MaintenanceWindow::parse(w);
    if (!parsed) {
      // The window's own error starts with its field: "schedule: ...".
      return fail(ErrorCode::InvalidArgument, path + "." + parsed.error().message);
    }
    windows.push_back(std::move(*parsed));
  }
  return windows;
}

// A metav1.LabelSelector as selector text, checked by the same grammar the lister uses.
Result<std::string> selectorText(const Fields& sel) {
  std::vector<std::string> parts;
  OPSY_ASSIGN_OR_RETURN(auto labels, sel.stringMap("matchLabels"));
  for (const auto& [key, value] : labels) {
    parts.push_back(key + "=" + value);
  }
  OPSY_ASSIGN_OR_RETURN(std::vector<Fields> exprs, sel.objects("matchExpressions"));
  for (const Fields& e : exprs) {
    OPSY_ASSIGN_OR_RETURN(std::string key, e.requiredString("key"));
    OPSY_ASSIGN_OR_RETURN(std::string op, e.requiredString("operator"));
    OPSY_ASSIGN_OR_RETURN(std::vector<std::string> values, e.strings("values"));
    if (op == "In" || op == "NotIn") {
      if (values.empty()) {
        return fail(ErrorCode::InvalidArgument, e.path("values") + ": required for " + op);
      }
      parts.push_back(
          fmt::format("{} {} ({})", key, op == "In" ? "in" : "notin", fmt::join(values, ",")));
    } else if (op == "Exists") {
      parts.push_back(key);
    } else if (op == "DoesNotExist") {
      parts.push_back("!" + key);
    } else {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("{}: \"{}\" is not In, NotIn, Exists or DoesNotExist",
                              e.path("operator"), op));
    }
  }
  if (parts.empty()) {
    return fail(ErrorCode::InvalidArgument,
                sel.path() +
                    ": must set matchLabels or matchExpressions (an empty selector would "
                    "pin every EC2NodeClass)");
  }
  std::string text = fmt::format("{}", fmt::join(parts, ","));
  if (auto parsed = kube::LabelSelector::parse(text); !parsed) {
    return fail(ErrorCode::InvalidArgument, sel.path() + ": " + parsed.error().message);
  }
  return text;
}

Result<std::optional<KarpenterConfig>> parseKarpenter(const Fields& spec) {
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> f, spec.object("karpenter"));
  if (!f) {
    return std::optional<KarpenterConfig>();
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> nc, f->object("nodeClasses"));
  if (!nc) {
    return fail(ErrorCode::InvalidArgument, f->path("nodeClasses") + ": required");
  }
  KarpenterConfig k;
  OPSY_ASSIGN_OR_RETURN(k.names, nc->strings("names"));
  for (size_t i = 0; i < k.names.size(); ++i) {
    if (k.names[i].empty()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("{}[{}]: must not be empty", nc->path("names"), i));
    }
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> sel, nc->object("selector"));
  if (k.names.empty() == !sel.has_value()) {
    return fail(ErrorCode::InvalidArgument, nc->path() + ": set exactly one of names and selector");
  }
  if (sel) {
    OPSY_ASSIGN_OR_RETURN(k.selector, selectorText(*sel));
  }
  return std::optional<KarpenterConfig>(std::move(k));
}

Result<notify::NotifierConfig> parseNotifier(const Fields& spec) {
  const Value* notifier = spec.get("notifier");
  if (notifier == nullptr) {
    return notify::NotifierConfig{};
  }
  return notify::parseNotifierConfig(json::writeJson(*notifier), spec.path("notifier"));
}

}  // namespace

const kube::Resource& amiRefreshers() {
  static const kube::Resource r{.group = "ami.refresh.ops",
                                .version = "v1alpha1",
                                .plural = "amirefreshers",
                                .kind = "AMIRefresher",
                                .namespaced = true};
  return r;
}

const kube::Resource& ec2NodeClasses() {
  static const kube::Resource r{.group = "karpenter.k8s.aws",
                                .version = "v1",
                                .plural = "ec2nodeclasses",
                                .kind = "EC2NodeClass",
                                .namespaced = false};
  return r;
}

const kube::Resource& nodeClaims() {
  static const kube::Resource r{.group = "karpenter.sh",
                                .version = "v1",
                                .plural = "nodeclaims",
                                .kind = "NodeClaim",
                                .namespaced = false};
  return r;
}

const kube::Resource& packerBuilders() {
  static const kube::Resource r{.group = "ami.refresh.ops",
                                .version = "v1alpha1",
                                .plural = "packerbuilders",
                                .kind = "PackerBuilder",
                                .namespaced = true};
  return r;
}

std::string_view toString(GroupKind kind) {
  switch (kind) {
    case GroupKind::Managed: return "managed";
    case GroupKind::SelfManaged: return "self-managed";
    case GroupKind::NodeClass: return "node-class";
  }
  return "managed";
}

std::string_view toString(DrainTimeoutAction action) {
  return action == DrainTimeoutAction::Continue ? "Continue" : "Halt";
}

std::string_view toString(Mode mode) {
  return mode == Mode::Plan ? "Plan" : "Apply";
}

std::string_view toString(Phase phase) {
  switch (phase) {
    case Phase::UpToDate: return "UpToDate";
    case Phase::Pending: return "Pending";
    case Phase::Updating: return "Updating";
    case Phase::Succeeded: return "Succeeded";
    case Phase::Failed: return "Failed";
    case Phase::Skipped: return "Skipped";
    case Phase::Excluded: return "Excluded";
    case Phase::Unknown: return "Unknown";
  }
  return "Pending";
}

std::optional<Phase> parsePhase(std::string_view text) {
  for (Phase p : kAllPhases) {
    if (toString(p) == text) {
      return p;
    }
  }
  return std::nullopt;
}

Result<Spec> parseSpec(const kube::Object& obj) {
  std::optional<std::string> text = obj.getJson("/spec");
  if (!text) {
    return fail(ErrorCode::InvalidArgument, "spec: required");
  }
  Result<json::Document> doc = json::parseObject(*text, "spec");
  if (!doc) {
    return fail(ErrorCode::InvalidArgument, "spec: must be an object");
  }
  Fields f(*doc, "spec");
  Spec spec;
  OPSY_ASSIGN_OR_RETURN(spec.region, f.requiredString("region"));
  OPSY_ASSIGN_OR_RETURN(spec.cluster_name, f.requiredString("clusterName"));
  OPSY_ASSIGN_OR_RETURN(spec.ami, f.optString("ami"));
  if (spec.ami && spec.ami->empty()) {
    spec.ami.reset();
  }
  OPSY_ASSIGN_OR_RETURN(spec.ami_filters, parseFilters(f));
  OPSY_ASSIGN_OR_RETURN(spec.builder_ref, parseBuilderRef(f, obj.metadata.ns));
  const int targets = int{spec.ami.has_value()} + int{!spec.ami_filters.empty()} +
                      int{spec.builder_ref.has_value()};
  if (targets != 1) {
    // The error names the field that is wrong: the extra one, or spec.ami when none is set.
    const char* field = targets == 0                ? "spec.ami"
                        : spec.builder_ref          ? "spec.builderRef"
                        : !spec.ami_filters.empty() ? "spec.amiFilters"
                                                    : "spec.ami";
    return fail(
        ErrorCode::InvalidArgument,
        fmt::format("{}: set exactly one of spec.ami, spec.amiFilters or spec.builderRef", field));
  }
  if (spec.ami && spec.ami->rfind("ami-", 0) != 0) {
    return fail(ErrorCode::InvalidArgument, "spec.ami: must be an image id (ami-...)");
  }
  // spec.expiresIn (the seed sample's place) wins over timeOuts.expiresIn (PackerBuilder's).
  OPSY_ASSIGN_OR_RETURN(std::optional<Duration> expires, f.optDuration("expiresIn"));
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> timeouts, f.object("timeOuts"));
  if (timeouts) {
    OPSY_ASSIGN_OR_RETURN(std::optional<Duration> t_expires, timeouts->optDuration("expiresIn"));
    OPSY_ASSIGN_OR_RETURN(std::optional<Duration> timer, timeouts->optDuration("controllerTimer"));
    if (!expires) {
      expires = t_expires;
    }
    spec.controller_timer = timer.value_or(kDefaultControllerTimer);
  }
  spec.expires_in = expires.value_or(kDefaultExpiresIn);
  {
    OPSY_ASSIGN_OR_RETURN(std::optional<std::string> expires_text, f.optString("expiresIn"));
    const char* field = "spec.expiresIn";
    if (!expires_text && timeouts) {
      OPSY_ASSIGN_OR_RETURN(expires_text, timeouts->optString("expiresIn"));
      field = "spec.timeOuts.expiresIn";
    }
    spec.expires_in_warning =
        ami::expiresInWarning(field, expires_text.value_or(""), spec.expires_in).value_or("");
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<Duration> min_age, f.optDuration("minImageAge"));
  spec.min_image_age = min_age.value_or(Duration::zero());
  if (spec.min_image_age >= spec.expires_in) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("spec.minImageAge: {} is not shorter than expiresIn {}, so no image "
                            "would ever be old enough and still unexpired",
                            formatDuration(spec.min_image_age), formatDuration(spec.expires_in)));
  }
  OPSY_ASSIGN_OR_RETURN(spec.exclude, f.strings("exclude"));
  for (size_t i = 0; i < spec.exclude.size(); ++i) {
    if (spec.exclude[i].empty()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("spec.exclude[{}]: must not be empty", i));
    }
  }
  OPSY_ASSIGN_OR_RETURN(spec.paused, f.boolOr("paused", false));
  OPSY_ASSIGN_OR_RETURN(spec.maintenance_windows, parseMaintenanceWindows(f));
  OPSY_ASSIGN_OR_RETURN(std::optional<std::string> mode, f.optString("mode"));
  if (mode && *mode == "Plan") {
    spec.mode = Mode::Plan;
  } else if (mode && !mode->empty() && *mode != "Apply") {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("spec.mode: \"{}\" is neither Apply nor Plan", *mode));
  }
  OPSY_ASSIGN_OR_RETURN(spec.refresh, parseRefreshConfig(f));
  OPSY_ASSIGN_OR_RETURN(spec.rollout, parseRollout(f));
  OPSY_ASSIGN_OR_RETURN(spec.self_managed, parseSelfManaged(f));
  OPSY_ASSIGN_OR_RETURN(spec.karpenter, parseKarpenter(f));
  OPSY_ASSIGN_OR_RETURN(spec.notifier, parseNotifier(f));
  return spec;
}

RefresherStatus parseStatus(const kube::Object& obj) {
  RefresherStatus s;
  std::optional<std::string> text = obj.getJson("/status");
  if (!text) {
    return s;
  }
  Result<json::Document> document = json::parseObject(*text, "status");
  if (!document) {
    return s;
  }
  const json::Document& doc = *document;
  s.state = json::stringOr(doc, "state");
  s.observed_generation = json::optInt64(doc, "observedGeneration").value_or(0);
  s.target_ami = json::stringOr(doc, "targetAMI");
  s.target_expires_at = json::optTime(doc, "targetExpiresAt");
  s.next_window = json::optTime(doc, "nextWindow");
  s.updated = json::stringOr(doc, "updated");
  s.last_run = json::optTime(doc, "lastRun");
  s.last_run_status = json::stringOr(doc, "lastRunStatus");
  if (const Value* groups = json::member(doc, "nodegroups");
      groups != nullptr && groups->IsArray()) {
    for (const Value& g : groups->GetArray()) {
      NodegroupStatus ng;
      ng.name = json::stringOr(g, "name");
      if (ng.name.empty()) {
        continue;
      }
      const std::string kind = json::stringOr(g, "kind");
      ng.kind = kind == "self-managed" ? GroupKind::SelfManaged
                : kind == "node-class" ? GroupKind::NodeClass
                                       : GroupKind::Managed;
      if (const Value* lt = json::member(g, "launchTemplate"); lt != nullptr) {
        ng.launch_template.id = json::stringOr(*lt, "id");
        ng.launch_template.version = json::stringOr(*lt, "version");
      }
      ng.previous_launch_template_version = json::stringOr(g, "previousLaunchTemplateVersion");
      ng.previous_ami_selector_terms = json::stringOr(g, "previousAMISelectorTerms");
      if (const Value* claims = json::member(g, "nodeClaims");
          claims != nullptr && claims->IsObject()) {
        ng.node_claims = NodeClaimCounts{
            .total = static_cast<int>(json::optInt64(*claims, "total").value_or(0)),
            .on_target = static_cast<int>(json::optInt64(*claims, "onTarget").value_or(0)),
            .old = static_cast<int>(json::optInt64(*claims, "old").value_or(0)),
            .drifted = static_cast<int>(json::optInt64(*claims, "drifted").value_or(0))};
      }
      ng.current_image = json::stringOr(g, "currentImage");
      ng.target_image = json::stringOr(g, "targetImage");
      ng.phase = parsePhase(json::stringOr(g, "phase")).value_or(Phase::Pending);
      ng.update_id = json::stringOr(g, "updateID");
      ng.rollback_update_id = json::stringOr(g, "rollbackUpdateID");
      ng.message = json::stringOr(g, "message");
      ng.next_step = json::stringOr(g, "nextStep");
      ng.last_transition_time = json::optTime(g, "lastTransitionTime");
      if (const Value* drains = json::member(g, "drains"); drains != nullptr && drains->IsArray()) {
        for (const Value& d : drains->GetArray()) {
          DrainStatus drain;
          drain.instance_id = json::stringOr(d, "instanceID");
          if (drain.instance_id.empty()) {
            continue;
          }
          drain.node = json::stringOr(d, "node");
          drain.started_at = json::optTime(d, "startedAt");
          drain.last_heartbeat = json::optTime(d, "lastHeartbeat");
          drain.last_eviction = json::optTime(d, "lastEviction");
          drain.pods_left = static_cast<int>(json::optInt64(d, "podsLeft").value_or(0));
          if (const Value* b = json::member(d, "blockedBy"); b != nullptr && b->IsObject()) {
            drain.blocked_by_pdb = json::stringOr(*b, "podDisruptionBudget");
            drain.blocked_pod = json::stringOr(*b, "pod");
          }
          drain.message = json::stringOr(d, "message");
          ng.drains.push_back(std::move(drain));
        }
      }
      s.nodegroups.push_back(std::move(ng));
    }
  }
  if (const Value* c = json::member(doc, "canary"); c != nullptr && c->IsObject()) {
    CanaryStatus canary;
    canary.target_image = json::stringOr(*c, "targetImage");
    if (const Value* groups = json::member(*c, "nodegroups");
        groups != nullptr && groups->IsArray()) {
      for (const Value& g : groups->GetArray()) {
        if (g.IsString()) {
          canary.nodegroups.emplace_back(g.GetString(), g.GetStringLength());
        }
      }
    }
    canary.phase = json::stringOr(*c, "phase");
    canary.verify_started_at = json::optTime(*c, "verifyStartedAt");
    canary.soak_started_at = json::optTime(*c, "soakStartedAt");
    canary.message = json::stringOr(*c, "message");
    if (!canary.target_image.empty()) {
      s.canary = std::move(canary);
    }
  }
  if (auto conditions = obj.getJson("/status/conditions")) {
    if (auto parsed = kube::conditionsFromJson(*conditions)) {
      s.conditions = std::move(*parsed);
    }
  }
  return s;
}

std::string statusPatch(const RefresherStatus& s) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  w.Key("status");
  w.StartObject();
  json::writeStringOrNull(w, "state", s.state);
  w.Key("observedGeneration");
  w.Int64(s.observed_generation);
  json::writeStringOrNull(w, "targetAMI", s.target_ami);
  json::writeTimeOrNull(w, "targetExpiresAt", s.target_expires_at);
  json::writeTimeOrNull(w, "nextWindow", s.next_window);
  json::writeStringOrNull(w, "updated", s.updated);
  json::writeTimeOrNull(w, "lastRun", s.last_run);
  json::writeStringOrNull(w, "lastRunStatus", s.last_run_status);
  w.Key("nodegroups");
  w.StartArray();
  for (const NodegroupStatus& ng : s.nodegroups) {
    // Inside an array a merge patch replaces the whole entry, so empty fields are just left out.
    w.StartObject();
    json::writeString(w, "name", ng.name);
    json::writeString(w, "kind", toString(ng.kind));
    if (!ng.launch_template.id.empty() || !ng.launch_template.version.empty()) {
      w.Key("launchTemplate");
      w.StartObject();
      json::writeString(w, "id", ng.launch_template.id);
      json::writeString(w, "version", ng.launch_template.version);
      w.EndObject();
    }
    auto opt = [&](std::string_view key, const std::string& value) {
      if (!value.empty()) {
        json::writeString(w, key, value);
      }
    };
    opt("previousLaunchTemplateVersion", ng.previous_launch_template_version);
    opt("previousAMISelectorTerms", ng.previous_ami_selector_terms);
    if (ng.node_claims) {
      w.Key("nodeClaims");
      w.StartObject();
      w.Key("total");
      w.Int(ng.node_claims->total);
      w.Key("onTarget");
      w.Int(ng.node_claims->on_target);
      w.Key("old");
      w.Int(ng.node_claims->old);
      w.Key("drifted");
      w.Int(ng.node_claims->drifted);
      w.EndObject();
    }
    opt("currentImage", ng.current_image);
    opt("targetImage", ng.target_image);
    json::writeString(w, "phase", toString(ng.phase));
    opt("updateID", ng.update_id);
    opt("rollbackUpdateID", ng.rollback_update_id);
    opt("message", ng.message);
    opt("nextStep", ng.next_step);
    if (ng.last_transition_time) {
      json::writeString(w, "lastTransitionTime", formatRfc3339(*ng.last_transition_time));
    }
    if (!ng.drains.empty()) {
      w.Key("drains");
      w.StartArray();
      for (const DrainStatus& d : ng.drains) {
        w.StartObject();
        json::writeString(w, "instanceID", d.instance_id);
        opt("node", d.node);
        if (d.started_at) {
          json::writeString(w, "startedAt", formatRfc3339(*d.started_at));
        }
        if (d.last_heartbeat) {
          json::writeString(w, "lastHeartbeat", formatRfc3339(*d.last_heartbeat));
        }
        if (d.last_eviction) {
          json::writeString(w, "lastEviction", formatRfc3339(*d.last_eviction));
        }
        w.Key("podsLeft");
        w.Int(d.pods_left);
        if (!d.blocked_by_pdb.empty() || !d.blocked_pod.empty()) {
          w.Key("blockedBy");
          w.StartObject();
          opt("podDisruptionBudget", d.blocked_by_pdb);
          opt("pod", d.blocked_pod);
          w.EndObject();
        }
        opt("message", d.message);
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("canary");
  if (!s.canary) {
    w.Null();
  } else {
    // A merge patch replaces the canary object member by member: unset fields are sent as null.
    const CanaryStatus& c = *s.canary;
    w.StartObject();
    json::writeString(w, "targetImage", c.target_image);
    w.Key("nodegroups");
    w.StartArray();
    for (const std::string& g : c.nodegroups) {
      w.String(g.c_str(), static_cast<rapidjson::SizeType>(g.size()));
    }
    w.EndArray();
    json::writeStringOrNull(w, "phase", c.phase);
    json::writeTimeOrNull(w, "verifyStartedAt", c.verify_started_at);
    json::writeTimeOrNull(w, "soakStartedAt", c.soak_started_at);
    json::writeStringOrNull(w, "message", c.message);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  std::string head = buf.GetString();
  // Splice the conditions array (encoded by kube/conditions.h) in as the last member.
  head.resize(head.size() - 2);
  return head + ",\"conditions\":" + kube::conditionsToJson(s.conditions) + "}}";
}

AmiRefresher AmiRefresher::fromObject(const kube::Object& obj) {
  AmiRefresher r;
  r.metadata = obj.metadata;
  auto spec = parseSpec(obj);
  if (spec) {
    r.spec = std::move(*spec);
  } else {
    r.spec_error = spec.error().message;
  }
  r.status = parseStatus(obj);
  return r;
}

kube::ObjectReference AmiRefresher::reference() const {
  return kube::ObjectReference{.api_version = amiRefreshers().apiVersion(),
                               .kind = amiRefreshers().kind,
                               .ns = metadata.ns,
                               .name = metadata.name,
                               .uid = metadata.uid,
                               .resource_version = metadata.resource_version};
}

bool globMatch(std::string_view pattern, std::string_view name) {
  // Iterative wildcard match with backtracking to the last '*'.
  size_t p = 0;
  size_t n = 0;
  size_t star = std::string_view::npos;
  size_t mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] != '*' && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

std::optional<std::string> excludedBy(const Spec& spec, std::string_view name) {
  for (const std::string& pattern : spec.exclude) {
    if (globMatch(pattern, name)) {
      return pattern;
    }
  }
  return std::nullopt;
}

const NodegroupStatus* RefresherStatus::entry(std::string_view name, GroupKind kind) const {
  for (const NodegroupStatus& ng : nodegroups) {
    if (ng.name == name && ng.kind == kind) {
      return &ng;
    }
  }
  return nullptr;
}

}  // namespace opsy::ami_refresh

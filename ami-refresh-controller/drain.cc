#include "ami-refresh-controller/drain.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <tuple>

#include "opsy/core/duration.h"
#include "opsy/core/log.h"

namespace opsy::ami_refresh {
namespace {

constexpr Duration kMaxEvictionInterval = std::chrono::minutes(1);

DrainStatus* findDrain(std::vector<DrainStatus>& drains, const std::string& instance) {
  auto it = std::find_if(drains.begin(), drains.end(),
                         [&](const DrainStatus& d) { return d.instance_id == instance; });
  return it == drains.end() ? nullptr : &*it;
}

const DrainStatus* findDrain(const std::vector<DrainStatus>& drains, const std::string& instance) {
  return findDrain(const_cast<std::vector<DrainStatus>&>(drains), instance);
}

std::string nodeText(const DrainStatus& d) {
  return d.node.empty() ? "instance " + d.instance_id
                        : fmt::format("node {} (instance {})", d.node, d.instance_id);
}

// What holds a drain up: the budget that refused the last eviction, else the pods left.
std::string blockerText(const DrainStatus& d) {
  if (!d.blocked_pod.empty()) {
    return d.blocked_by_pdb.empty()
               ? fmt::format("a PodDisruptionBudget blocks pod {}", d.blocked_pod)
               : fmt::format("PodDisruptionBudget {} blocks pod {}", d.blocked_by_pdb,
                             d.blocked_pod);
  }
  return fmt::format("{} pod{} left", d.pods_left, d.pods_left == 1 ? "" : "s");
}

std::string podKey(const std::string& ns, const std::string& name) {
  return ns + "/" + name;
}

// A remote service's error as status shows it: scrubbed and bounded (status.drains[].message
// holds at most 4096 bytes, and several errors may meet in it).
std::string errorText(const Error& e) {
  return log::scrubBounded(e.provider_code.empty() ? e.message : e.provider_code + ": " + e.message,
                           512);
}

class Planner {
 public:
  Planner(const GroupObservation& g, const std::vector<DrainStatus>& old, const DrainContext& ctx)
      : g_(g), old_(old), ctx_(ctx) {}

  DrainPlan run() {
    // Those already being drained first, then by instance id, at most kMaxDrains: the same
    // choice in both decisions of a reconcile, and none dropped once begun.
    std::vector<const DrainObservation*> waiting;
    for (const DrainObservation& w : g_.draining) {
      waiting.push_back(&w);
    }
    std::sort(waiting.begin(), waiting.end(), [&](const auto* a, const auto* b) {
      const bool a_new = findDrain(old_, a->instance_id) == nullptr;
      const bool b_new = findDrain(old_, b->instance_id) == nullptr;
      return std::tie(a_new, a->instance_id) < std::tie(b_new, b->instance_id);
    });
    if (waiting.size() > kMaxDrains) {
      waiting.resize(kMaxDrains);
    }
    for (const DrainObservation* w : waiting) {
      plan_.drains.push_back(one(*w));
    }
    return std::move(plan_);
  }

 private:
  const DrainConfig& config() const { return ctx_.config; }

  DrainStatus one(const DrainObservation& w) {
    const DrainStatus* before = findDrain(old_, w.instance_id);
    DrainStatus d;
    d.instance_id = w.instance_id;
    d.started_at = before != nullptr && before->started_at ? before->started_at : ctx_.now;
    if (before != nullptr) {
      d.last_heartbeat = before->last_heartbeat;
      d.last_eviction = before->last_eviction;
      d.blocked_by_pdb = before->blocked_by_pdb;
      d.blocked_pod = before->blocked_pod;
      d.pods_left = before->pods_left;
    }
    if (w.node) {
      d.node = *w.node;
    }
    if (before == nullptr && !hook_ensured_) {
      // The hook as the spec says now (it may have changed since the refresh began), so the
      // heartbeats below keep to its timeout.
      plan_.actions.push_back(EnsureLifecycleHook{
          .group = ctx_.group,
          .hook_name = config().hook_name,
          .heartbeat_timeout_seconds = static_cast<int>(
              std::chrono::duration_cast<std::chrono::seconds>(config().heartbeat_timeout).count()),
          .default_result = config().default_result,
          .during_drain = true});
      hook_ensured_ = true;
    }
    if (before == nullptr) {
      plan_.events.push_back(RecordEvent{
          .type = kube::EventType::Normal,
          .reason = "DrainStarted",
          .action = "Drain",
          .note = fmt::format("self-managed {}: instance refresh {} replaces {}; cordoning and "
                              "evicting its pods before the instance goes",
                              ctx_.group, ctx_.refresh_id, nodeText(d))});
    }
    if (w.error && w.error->code == ErrorCode::PermissionDenied) {
      // Without the RBAC no drain can ever succeed: say so now rather than after drain.timeout.
      release(d, fmt::format("could not start: the controller may not read Nodes or pods ({}); "
                             "install the chart with amiRefresher.selfManaged.enabled=true, or "
                             "set spec.selfManaged.drain.enabled: false",
                             errorText(*w.error)));
      return d;
    }
    if (w.error) {
      // Nothing is known of its pods this time: it is kept waiting, and its timeout still runs.
      d.message = fmt::format("could not read its Node or pods: {}", errorText(*w.error));
      heartbeat(d);
      timeout(d);
      return d;
    }
    std::vector<const PodObservation*> left;
    for (const PodObservation& pod : w.pods) {
      if (!pod.daemon_set && !pod.mirror && !pod.finished) {
        left.push_back(&pod);
      }
    }
    d.pods_left = static_cast<int>(left.size());
    if (!d.blocked_pod.empty() &&
        std::none_of(left.begin(), left.end(), [&](const PodObservation* p) {
          return podKey(p->ns, p->name) == d.blocked_pod;
        })) {
      d.blocked_pod.clear();
      d.blocked_by_pdb.clear();
    }
    if (w.node && !w.cordoned) {
      plan_.actions.push_back(CordonNode{
          .group = ctx_.group,
          .instance_id = d.instance_id,
          .node = d.node,
          .reason = fmt::format("AMIRefresher {}: instance {} is being replaced by instance "
                                "refresh {} of {}",
                                ctx_.refresher, d.instance_id, ctx_.refresh_id, ctx_.group)});
    }
    if (!w.node || left.empty()) {
      d.message = w.node ? "empty; releasing the instance"
                         : "no Node has this instance in spec.providerID; releasing the instance";
      plan_.actions.push_back(CompleteLifecycleAction{.group = ctx_.group,
                                                      .hook_name = config().hook_name,
                                                      .instance_id = d.instance_id,
                                                      .node = d.node});
      return d;
    }
    if (timeout(d)) {
      return d;
    }
    if (before != nullptr) {
      d.last_eviction = before->last_eviction;
    }
    if (!d.last_eviction || ctx_.now - *d.last_eviction >= evictionInterval(d)) {
      d.last_eviction = ctx_.now;
      for (const PodObservation* pod : left) {
        if (!pod->deleting) {
          plan_.actions.push_back(EvictPod{
              .group = ctx_.group, .instance_id = d.instance_id, .ns = pod->ns, .pod = pod->name});
        }
      }
    }
    heartbeat(d);
    d.message = blockerText(d);
    return d;
  }

  // Evictions a budget refuses are asked again with backoff: every 5s at first, then a tenth of
  // the drain's age, at most every minute.
  static Duration evictionInterval(const DrainStatus& d, TimePoint now) {
    const Duration age = std::chrono::duration_cast<Duration>(now - *d.started_at);
    return std::clamp(Duration(age / 10), Duration(kDrainPollInterval),
                      Duration(kMaxEvictionInterval));
  }
  Duration evictionInterval(const DrainStatus& d) const { return evictionInterval(d, ctx_.now); }

  // Keeps the instance waiting: first when it is seen (however long it has already waited),
  // then every half heartbeat timeout, so a late reconcile still comes in time.
  void heartbeat(DrainStatus& d) {
    if (d.last_heartbeat && ctx_.now - *d.last_heartbeat < config().heartbeat_timeout / 2) {
      return;
    }
    plan_.actions.push_back(RecordLifecycleHeartbeat{
        .group = ctx_.group, .hook_name = config().hook_name, .instance_id = d.instance_id});
  }

  // At drain.timeout the instance is released: the rollout halts (the refresh is cancelled so no
  // other instance is taken) or goes on, as drain.onTimeout says.
  bool timeout(DrainStatus& d) {
    if (ctx_.now - *d.started_at < config().timeout) {
      return false;
    }
    release(d, fmt::format("timed out after {} with {}", formatDuration(config().timeout),
                           blockerText(d)));
    return true;
  }

  // Gives a drain up: the instance is released, and the rollout halts (the refresh is cancelled
  // so no other instance is taken) or goes on, as drain.onTimeout says.
  void release(DrainStatus& d, const std::string& what) {
    const bool halt = ctx_.may_halt && config().on_timeout == DrainTimeoutAction::Halt;
    if (halt && !cancelled_) {
      plan_.actions.push_back(CancelInstanceRefresh{.group = ctx_.group});
      cancelled_ = true;
    }
    plan_.actions.push_back(CompleteLifecycleAction{.group = ctx_.group,
                                                    .hook_name = config().hook_name,
                                                    .instance_id = d.instance_id,
                                                    .result = halt ? "ABANDON" : "CONTINUE",
                                                    .timed_out = true,
                                                    .node = d.node,
                                                    .why = what});
    d.message =
        fmt::format("{}; {}", what, halt ? "the rollout halts" : "releasing the instance anyway");
    if (halt && !plan_.halt) {
      plan_.halt = fmt::format(
          "{}{} {}; instance refresh {} cancelled and the rollout halted (drain.onTimeout: Halt)",
          kDrainHaltPrefix, nodeText(d), what, ctx_.refresh_id);
    }
  }

  const GroupObservation& g_;
  const std::vector<DrainStatus>& old_;
  const DrainContext& ctx_;
  DrainPlan plan_;
  bool cancelled_ = false;
  bool hook_ensured_ = false;
};

}  // namespace

DrainPlan planDrain(const GroupObservation& g, const std::vector<DrainStatus>& old,
                    const DrainContext& ctx) {
  return Planner(g, old, ctx).run();
}

std::string withoutDrainSummary(std::string_view message) {
  constexpr std::string_view kLead = "draining ";
  if (message.substr(0, kLead.size()) == kLead) {
    return "";
  }
  std::size_t at = message.find("; draining ");
  return std::string(message.substr(0, at));
}

std::string drainSummary(const std::vector<DrainStatus>& drains) {
  std::vector<std::string> lines;
  for (const DrainStatus& d : drains) {
    lines.push_back(fmt::format("draining {}: {}", nodeText(d), d.message));
  }
  return fmt::format("{}", fmt::join(lines, "; "));
}

std::string budgetNamed(std::string_view refusal) {
  constexpr std::string_view kLead = "The disruption budget ";
  std::size_t at = refusal.find(kLead);
  if (at == std::string_view::npos) {
    return "";
  }
  std::string_view rest = refusal.substr(at + kLead.size());
  std::size_t end = rest.find_first_of(" ]");
  return std::string(rest.substr(0, end));
}

std::vector<RecordEvent> foldDrain(const AwsAction& action, const ActionOutcome& out,
                                   std::vector<DrainStatus>& drains, TimePoint now) {
  std::vector<RecordEvent> events;
  const bool gone = out.error && out.error->code == ErrorCode::NotFound;
  if (const auto* cordon = std::get_if<CordonNode>(&action)) {
    DrainStatus* d = findDrain(drains, cordon->instance_id);
    if (d != nullptr && out.error && !gone) {
      d->message = fmt::format("cordoning node {} failed: {}", cordon->node, errorText(*out.error));
    }
  } else if (const auto* evict = std::get_if<EvictPod>(&action)) {
    DrainStatus* d = findDrain(drains, evict->instance_id);
    if (d == nullptr || gone) {
      return events;
    }
    const std::string pod = podKey(evict->ns, evict->pod);
    if (!out.error) {
      if (d->blocked_pod == pod) {
        d->blocked_pod.clear();
        d->blocked_by_pdb.clear();
        d->message = fmt::format("{} pod{} left", d->pods_left, d->pods_left == 1 ? "" : "s");
      }
    } else if (out.error->code == ErrorCode::FailedPrecondition &&
               out.error->provider_code == "TooManyRequests") {
      const std::string budget = budgetNamed(out.error->message);
      d->blocked_pod = pod;
      d->blocked_by_pdb = budget.empty() ? "" : podKey(evict->ns, budget);
      d->message = fmt::format("{}; eviction refused, asked again with backoff", blockerText(*d));
    } else {
      d->message = fmt::format("evicting pod {} failed: {}", pod, errorText(*out.error));
    }
  } else if (const auto* beat = std::get_if<RecordLifecycleHeartbeat>(&action)) {
    DrainStatus* d = findDrain(drains, beat->instance_id);
    if (d == nullptr || gone) {
      return events;
    }
    if (!out.error) {
      d->last_heartbeat = now;
    } else {
      d->message += fmt::format("; heartbeat failed: {}", errorText(*out.error));
    }
  } else if (const auto* done = std::get_if<CompleteLifecycleAction>(&action)) {
    DrainStatus* d = findDrain(drains, done->instance_id);
    if (out.error && !gone) {
      if (d != nullptr) {
        d->message +=
            fmt::format("; completing the lifecycle action failed: {}", errorText(*out.error));
      }
      return events;
    }
    const std::string what =
        done->node.empty() ? "instance " + done->instance_id
                           : fmt::format("node {} (instance {})", done->node, done->instance_id);
    if (done->timed_out) {
      events.push_back(RecordEvent{
          .type = kube::EventType::Warning,
          .reason = "DrainTimedOut",
          .action = "Drain",
          .note =
              fmt::format("self-managed {}: drain of {} {}; {}", done->group, what, done->why,
                          done->result == "ABANDON"
                              ? "the instance refresh is cancelled and the rollout halts"
                              : "the instance is released anyway (drain.onTimeout: Continue)")});
    } else if (gone) {
      // Not ours to report: completed before a restart, or held by another hook.
      if (d != nullptr) {
        d->message += "; no lifecycle action of ours is pending for it";
      }
      return events;
    } else {
      events.push_back(
          RecordEvent{.type = kube::EventType::Normal,
                      .reason = "NodeDrained",
                      .action = "Drain",
                      .note = fmt::format("self-managed {}: {} drained; the instance may terminate",
                                          done->group, what)});
    }
    if (d != nullptr) {
      d->message = fmt::format("{}; lifecycle action completed ({})", d->message, done->result);
    }
  } else if (const auto* hook = std::get_if<EnsureLifecycleHook>(&action)) {
    if (out.error) {
      for (DrainStatus& d : drains) {
        d.message += fmt::format("; putting lifecycle hook {} failed: {}", hook->hook_name,
                                 errorText(*out.error));
      }
    }
  } else if (const auto* cancel = std::get_if<CancelInstanceRefresh>(&action)) {
    if (out.error && !gone) {
      for (DrainStatus& d : drains) {
        d.message += fmt::format("; cancelling the instance refresh of {} failed: {}",
                                 cancel->group, errorText(*out.error));
      }
    }
  }
  return events;
}

}  // namespace opsy::ami_refresh

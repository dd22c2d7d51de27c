#include "ami-refresh-controller/execute.h"

#include <fmt/format.h>

#include <set>

#include "ami-refresh-controller/drain.h"
#include "opsy/controller/effects.h"
#include "opsy/core/log.h"
#include "opsy/json/json.h"

namespace opsy::ami_refresh {
namespace {

constexpr std::string_view kComponent = "controller.ami-refresh";
constexpr std::string_view kTerminatingTransition = "autoscaling:EC2_INSTANCE_TERMINATING";

aws::LaunchTemplateSpec templateRef(const std::string& id, const std::string& name,
                                    const std::string& version) {
  // EKS and Auto Scaling take the template by id or by name, not both.
  aws::LaunchTemplateSpec spec;
  if (!id.empty()) {
    spec.id = id;
  } else {
    spec.name = name;
  }
  spec.version = version;
  return spec;
}

// Makes the calls of one decision; passes each group's new launch template version on to the
// update that uses it.
class Performer {
 public:
  Performer(AwsClients& aws, kube::ObjectWriter* writer, std::string field_manager)
      : aws_(aws), writer_(writer), field_manager_(std::move(field_manager)) {}

  Outcomes run(const std::vector<AwsAction>& actions) {
    Outcomes outcomes;
    for (const AwsAction& action : actions) {
      const std::string& group = groupOf(action);
      const bool drain_step = isDrainStep(action);
      ActionOutcome out;
      if (failed_.count(group) != 0 && !drain_step) {
        out.attempted = false;
      } else {
        out = std::visit([this](const auto& a) { return call(a); }, action);
      }
      if ((!out.attempted || out.error) && !drain_step) {
        failed_.insert(group);
      }
      if (out.error && drain_step && out.error->code == ErrorCode::FailedPrecondition) {
        // A PodDisruptionBudget said "not now": expected while draining, tried again shortly.
        log::get(kComponent)
            .info("eviction refused", log::kv("group", group, "error", out.error->toString()));
      } else if (out.error) {
        log::get(kComponent)
            .warn("aws call failed", log::kv("group", group, "error", out.error->toString()));
      }
      outcomes.push_back(std::move(out));
    }
    return outcomes;
  }

 private:
  static ActionOutcome failure(Error e) { return ActionOutcome{.error = std::move(e)}; }

  // The version an update uses: the one given, or the one made for its group just before.
  std::optional<std::string> versionFor(const std::string& group, const std::string& given) const {
    if (!given.empty()) {
      return given;
    }
    auto it = created_.find(group);
    if (it == created_.end()) {
      return std::nullopt;
    }
    return it->second;
  }

  ActionOutcome call(const CreateLaunchTemplateVersion& a) {
    auto r = aws_.ec2->createLaunchTemplateVersion(
        {.launch_template_id = a.launch_template_id,
         .launch_template_name = a.launch_template_id.empty() ? a.launch_template_name : "",
         .source_version = a.source_version,
         .version_description = fmt::format("opsy: {} for {}", a.image_id, a.group),
         .client_token = a.client_token,
         .image_id = a.image_id});
    if (!r) {
      return failure(std::move(r).error());
    }
    created_[a.group] = std::to_string(r->version_number);
    return ActionOutcome{.value = created_[a.group]};
  }

  ActionOutcome update(const UpdateNodegroup& a) {
    std::optional<std::string> version = versionFor(a.group, a.version);
    if (!version) {
      return ActionOutcome{.attempted = false};
    }
    auto r = aws_.eks->updateNodegroupVersion(
        {.cluster_name = a.cluster_name,
         .nodegroup_name = a.group,
         .launch_template = templateRef(a.launch_template_id, a.launch_template_name, *version),
         .force = a.force,
         .client_request_token = a.client_request_token});
    if (!r) {
      return failure(std::move(r).error());
    }
    return ActionOutcome{.value = r->id, .version = *version};
  }

  ActionOutcome call(const UpdateNodegroup& a) { return update(a); }
  ActionOutcome call(const RollbackNodegroup& a) { return update(a.update); }

  ActionOutcome call(const UpdateNodegroupConfig& a) {
    auto r =
        aws_.eks->updateNodegroupConfig({.cluster_name = a.cluster_name,
                                         .nodegroup_name = a.group,
                                         .max_unavailable = a.max_unavailable,
                                         .max_unavailable_percentage = a.max_unavailable_percentage,
                                         .client_request_token = a.client_request_token});
    if (!r) {
      return failure(std::move(r).error());
    }
    return ActionOutcome{.value = r->id};
  }

  ActionOutcome call(const StartInstanceRefresh& a) {
    std::optional<std::string> version = versionFor(a.group, a.version);
    if (!version) {
      return ActionOutcome{.attempted = false};
    }
    aws::StartInstanceRefreshInput in{.auto_scaling_group_name = a.group,
                                      .desired_launch_template = templateRef(
                                          a.launch_template_id, a.launch_template_name, *version)};
    in.preferences.min_healthy_percentage = a.min_healthy_percentage;
    in.preferences.instance_warmup_seconds = a.instance_warmup_seconds;
    in.preferences.skip_matching = true;
    auto r = aws_.autoscaling->startInstanceRefresh(in);
    if (!r) {
      return failure(std::move(r).error());
    }
    return ActionOutcome{.value = *r, .version = *version};
  }

  ActionOutcome call(const PinNodeClass& a) {
    if (writer_ == nullptr) {
      return failure(Error(ErrorCode::Unavailable, "no Kubernetes writer"));
    }
    const std::string body = fmt::format(R"({{"spec":{{"amiSelectorTerms":{}}}}})", a.terms);
    auto r = writer_->patch(ec2NodeClasses(), "", a.group, kube::PatchType::Merge, body,
                            {.field_manager = field_manager_});
    if (!r) {
      return failure(std::move(r).error().context("patch ec2nodeclass " + a.group));
    }
    return ActionOutcome{.value = a.terms};
  }

  ActionOutcome call(const EnsureLifecycleHook& a) {
    auto hooks = aws_.autoscaling->describeLifecycleHooks(a.group, {a.hook_name});
    if (!hooks) {
      return failure(std::move(hooks).error());
    }
    for (const aws::LifecycleHook& h : *hooks) {
      if (h.name == a.hook_name && h.transition == kTerminatingTransition &&
          h.heartbeat_timeout_seconds == a.heartbeat_timeout_seconds &&
          h.default_result == a.default_result) {
        return ActionOutcome{.value = "present"};  // no write when nothing would change
      }
    }
    // Only the hook of our own name is ever written; other hooks of the group are left alone.
    Status put = aws_.autoscaling->putLifecycleHook(
        {.name = a.hook_name,
         .auto_scaling_group_name = a.group,
         .transition = std::string(kTerminatingTransition),
         .heartbeat_timeout_seconds = a.heartbeat_timeout_seconds,
         .default_result = a.default_result});
    if (!put) {
      return failure(std::move(put).error());
    }
    return ActionOutcome{.value = "put"};
  }

  ActionOutcome kubeUnavailable() {
    return failure(Error(ErrorCode::Unavailable, "no Kubernetes writer"));
  }

  ActionOutcome call(const CordonNode& a) {
    if (writer_ == nullptr) {
      return kubeUnavailable();
    }
    rapidjson::StringBuffer buf;
    json::Writer w(buf);
    w.StartObject();
    w.Key("metadata");
    w.StartObject();
    w.Key("annotations");
    w.StartObject();
    json::writeString(w, kDrainAnnotation, a.reason);
    w.EndObject();
    w.EndObject();
    w.Key("spec");
    w.StartObject();
    w.Key("unschedulable");
    w.Bool(true);
    w.EndObject();
    w.EndObject();
    auto r = writer_->patch(kube::resources::nodes(), "", a.node, kube::PatchType::Merge,
                            std::string_view(buf.GetString(), buf.GetSize()),
                            {.field_manager = field_manager_});
    if (!r) {
      return failure(std::move(r).error());
    }
    return ActionOutcome{};
  }

  ActionOutcome call(const EvictPod& a) {
    if (writer_ == nullptr) {
      return kubeUnavailable();
    }
    kube::Object eviction(kube::resources::pods(), a.ns, a.pod);
    eviction.api_version = "policy/v1";
    eviction.kind = "Eviction";
    auto r = writer_->create(kube::resources::pods(), eviction,
                             {.field_manager = field_manager_, .subresource = "eviction"});
    if (!r) {
      return failure(std::move(r).error());
    }
    return ActionOutcome{};
  }

  ActionOutcome call(const RecordLifecycleHeartbeat& a) {
    Status s = aws_.autoscaling->recordLifecycleActionHeartbeat({.auto_scaling_group_name = a.group,
                                                                 .hook_name = a.hook_name,
                                                                 .instance_id = a.instance_id});
    return s ? ActionOutcome{} : failure(std::move(s).error());
  }

  ActionOutcome call(const CompleteLifecycleAction& a) {
    Status s = aws_.autoscaling->completeLifecycleAction({.auto_scaling_group_name = a.group,
                                                          .hook_name = a.hook_name,
                                                          .instance_id = a.instance_id},
                                                         a.result);
    return s ? ActionOutcome{} : failure(std::move(s).error());
  }

  ActionOutcome call(const CancelInstanceRefresh& a) {
    auto r = aws_.autoscaling->cancelInstanceRefresh(a.group);
    if (!r) {
      return failure(std::move(r).error());
    }
    return ActionOutcome{.value = *r};
  }

  AwsClients& aws_;
  kube::ObjectWriter* writer_;
  std::string field_manager_;
  std::map<std::string, std::string> created_;
  std::set<std::string> failed_;
};

}  // namespace

Outcomes Executor::perform(const std::vector<AwsAction>& actions, AwsClients& aws) {
  return Performer(aws, deps_.writer, deps_.field_manager).run(actions);
}

Status Executor::apply(const AmiRefresher& r, const Decision& d) {
  const std::string object = r.metadata.ns + "/" + r.metadata.name;
  kube::ObjectMeta meta = r.metadata;
  for (const Action& action : d.actions) {
    if (const PatchStatus* p = std::get_if<PatchStatus>(&action)) {
      OPSY_RETURN_IF_ERROR(controller::writeStatus(deps_.status, amiRefreshers(), meta,
                                                   statusPatch(p->after), deps_.field_manager));
    }
  }
  for (const Action& action : d.actions) {
    std::visit(
        controller::Overloaded{
            [](const PatchStatus&) {},
            [&](const RecordEvent& e) { controller::recordEvent(deps_.events, r.reference(), e); },
            [&](const Notify& n) {
              controller::sendNotification(deps_.notifiers, r.metadata.ns, n);
            },
            [&](const RecordMetric& m) {
              if (deps_.metrics == nullptr) {
                return;
              }
              switch (m.kind) {
                case MetricKind::RolloutStarted: deps_.metrics->rolloutStarted(); break;
                case MetricKind::RolloutFinished: deps_.metrics->rolloutFinished(); break;
                case MetricKind::RolloutFailed: deps_.metrics->rolloutFailed(); break;
                case MetricKind::GroupRolled: deps_.metrics->groupRolled(m.elapsed); break;
              }
            },
        },
        action);
  }
  if (deps_.metrics != nullptr && !d.phases.empty()) {
    deps_.metrics->groupsByPhase(object, d.phases);
    deps_.metrics->nodeClaims(object, d.node_claims);
  }
  return ok();
}

}  // namespace opsy::ami_refresh

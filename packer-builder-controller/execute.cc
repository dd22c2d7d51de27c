#include "packer-builder-controller/execute.h"

#include <fmt/format.h>

#include <algorithm>

#include "opsy/ami/tags.h"
#include "opsy/controller/effects.h"
#include "opsy/core/log.h"
#include "opsy/json/json.h"
#include "opsy/kube/objects.h"
#include "opsy/packer/job.h"

namespace opsy::packer_builder {
namespace {

bool isNotFound(const Error& e) {
  return e.code == ErrorCode::NotFound || e.provider_code.find("NotFound") != std::string::npos;
}

Status okIfNotFound(Status s) {
  if (!s && isNotFound(s.error())) {
    return ok();
  }
  return s;
}

// A snapshot another registered image still uses stays (marked) until a later pass.
Status okIfInUse(Status s) {
  if (!s && s.error().code == ErrorCode::Conflict) {
    return ok();
  }
  return s;
}

std::string finalizerPatch(const kube::ObjectMeta& meta, const std::vector<std::string>& list) {
  json::Document doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  json::Value body(rapidjson::kObjectType);
  body.AddMember("finalizers", json::jsonStrings(list, a), a);
  // The resourceVersion makes the patch fail with Conflict if someone else changed the list.
  if (!meta.resource_version.empty()) {
    body.AddMember("resourceVersion", json::jsonString(meta.resource_version, a), a);
  }
  doc.AddMember("metadata", body, a);
  return json::writeJson(doc);
}

}  // namespace

Result<std::vector<std::string>> SecretKeyListerImpl::keys(std::string_view ns,
                                                           std::string_view name) {
  OPSY_ASSIGN_OR_RETURN(kube::Secret secret, kube::getTyped<kube::Secret>(reader_, ns, name));
  std::vector<std::string> out;
  for (const auto& [key, value] : secret.data) {
    out.push_back(key);
  }
  return out;
}

Executor::Execution Executor::run(const kube::Object& builder, const Decision& decision,
                                  aws::Ec2Api* ec2, const Ec2ByRegion& regional) {
  Execution out{.meta = builder.metadata};
  for (const Action& action : decision.actions) {
    out.status = runOne(builder, out.meta, action, ec2, regional);
    if (!out.status) {
      out.failed = &action;
      break;
    }
  }
  return out;
}

Status Executor::setFinalizer(kube::ObjectMeta& meta, bool present) {
  std::vector<std::string> list = meta.finalizers;
  auto it = std::find(list.begin(), list.end(), kFinalizer);
  if (present == (it != list.end())) {
    return ok();
  }
  if (present) {
    list.emplace_back(kFinalizer);
  } else {
    list.erase(it);
  }
  auto patched =
      deps_.writer.patch(packerBuilderResource(), meta.ns, meta.name, kube::PatchType::Merge,
                         finalizerPatch(meta, list), {.field_manager = std::string(kFieldManager)});
  if (!patched) {
    return okIfNotFound(tl::unexpected(patched.error()));
  }
  meta.resource_version = patched->metadata.resource_version;
  meta.finalizers = patched->metadata.finalizers;
  return ok();
}

Status Executor::createJob(const kube::Object& builder, const CreateJob& action) const {
  const packer::JobInputs& inputs = action.inputs;
  OPSY_ASSIGN_OR_RETURN(kube::Job job, packer::buildJob(inputs));
  auto created =
      kube::createTyped(deps_.writer, job, {.field_manager = std::string(kFieldManager)});
  if (!created && created.error().code != ErrorCode::AlreadyExists) {
    return tl::unexpected(created.error());
  }
  log::get("controller.packer-builder")
      .info("build job created",
            log::kv("object", builder.key(), "job", inputs.name, "existed", !created.has_value()));
  return ok();
}

Status Executor::cleanup(const CleanupTemporaries& action, aws::BuildCleanupApi& ec2) {
  for (const std::string& group : action.security_groups) {
    std::vector<std::string> ids;
    if (group.rfind("sg-", 0) == 0) {
      ids.push_back(group);
    } else {
      auto found = ec2.describeSecurityGroups({.filters = {{"group-name", {group}}}});
      if (!found) {
        OPSY_RETURN_IF_ERROR(okIfNotFound(tl::unexpected(found.error())));
        continue;
      }
      for (const aws::SecurityGroup& sg : *found) {
        ids.push_back(sg.id);
      }
    }
    for (const std::string& id : ids) {
      OPSY_RETURN_IF_ERROR(okIfNotFound(ec2.deleteSecurityGroup(id)));
    }
  }
  for (const std::string& key : action.key_pairs) {
    OPSY_RETURN_IF_ERROR(okIfNotFound(ec2.deleteKeyPair(key)));
  }
  return ok();
}

Status Executor::deleteImage(const kube::Object& builder, const DeleteImage& action,
                             aws::ImageLifecycleApi& lifecycle, aws::ImageApi& images) {
  if (!action.snapshot_ids.empty()) {
    // Marked first: a crash after the deregistration leaves snapshots a later pass finds.
    OPSY_RETURN_IF_ERROR(
        okIfNotFound(images.createTags(action.snapshot_ids, action.snapshot_marker)));
  }
  OPSY_RETURN_IF_ERROR(okIfNotFound(lifecycle.deregisterImage(action.image_id)));
  for (const std::string& id : action.snapshot_ids) {
    OPSY_RETURN_IF_ERROR(okIfInUse(okIfNotFound(lifecycle.deleteSnapshot(id))));
  }
  log::get("controller.packer-builder")
      .info("image deleted", log::kv("object", builder.key(), "image", action.image_id, "snapshots",
                                     fmt::format("{}", fmt::join(action.snapshot_ids, ","))));
  return ok();
}

Status Executor::runOne(const kube::Object& builder, kube::ObjectMeta& meta, const Action& action,
                        aws::Ec2Api* primary, const Ec2ByRegion& regional) {
  const std::string& ns = builder.metadata.ns;
  // The client of the action's region: spec.region's, or a copy region's.
  aws::Ec2Api* ec2 = primary;
  if (std::optional<std::string> region = ec2RegionOf(action); region && !region->empty()) {
    auto it = regional.find(*region);
    ec2 = it == regional.end() ? nullptr : it->second;
  }
  auto need_ec2 = [&]() -> Status {
    if (ec2 == nullptr) {
      std::optional<std::string> region = ec2RegionOf(action);
      return fail(ErrorCode::FailedPrecondition,
                  region && !region->empty() ? fmt::format("no EC2 client for region {}", *region)
                                             : std::string("no EC2 client for this builder"));
    }
    return ok();
  };
  return std::visit(
      controller::Overloaded{
          [&](const AddFinalizer&) { return setFinalizer(meta, true); },
          [&](const RemoveFinalizer&) { return setFinalizer(meta, false); },
          [&](const PatchStatus& p) -> Status {
            return controller::writeStatus(deps_.status, packerBuilderResource(), meta,
                                           statusMergePatch(p.before, p.after), kFieldManager);
          },
          [&](const CreateJob& c) { return createJob(builder, c); },
          [&](const DeleteJob& d) -> Status {
            return okIfNotFound(
                deps_.writer.remove(kube::resources::jobs(), ns, d.name,
                                    {.propagation = kube::Propagation::Background}));
          },
          [&](const TagImage& t) -> Status {
            OPSY_RETURN_IF_ERROR(need_ec2());
            OPSY_RETURN_IF_ERROR(ec2->createTags({t.image_id}, t.tags));
            if (!t.snapshot_ids.empty()) {
              OPSY_RETURN_IF_ERROR(ec2->createTags(t.snapshot_ids, t.snapshot_tags));
            }
            return ok();
          },
          [&](const DeprecateImages& d) -> Status {
            OPSY_RETURN_IF_ERROR(need_ec2());
            return ec2->createTags(
                d.image_ids, {{std::string(ami::kTagStatus), std::string(ami::kStatusDeprecated)}});
          },
          [&](const SetDeprecationTime& d) -> Status {
            OPSY_RETURN_IF_ERROR(need_ec2());
            for (const std::string& id : d.image_ids) {
              OPSY_RETURN_IF_ERROR(okIfNotFound(ec2->enableImageDeprecation(id, d.at)));
            }
            return ok();
          },
          [&](const DeleteImage& d) -> Status {
            OPSY_RETURN_IF_ERROR(need_ec2());
            return deleteImage(builder, d, *ec2, *ec2);
          },
          [&](const DeleteSnapshots& d) -> Status {
            OPSY_RETURN_IF_ERROR(need_ec2());
            for (const std::string& id : d.snapshot_ids) {
              OPSY_RETURN_IF_ERROR(okIfInUse(okIfNotFound(ec2->deleteSnapshot(id))));
            }
            return ok();
          },
          [&](const CleanupTemporaries& c) -> Status {
            OPSY_RETURN_IF_ERROR(need_ec2());
            return cleanup(c, *ec2);
          },
          [&](const RecordEvent& e) -> Status {
            controller::recordEvent(deps_.events, controller::referenceTo(builder), e);
            return ok();
          },
          [&](const Notify& n) -> Status {
            controller::sendNotification(deps_.notifiers, ns, n);
            return ok();
          },
      },
      action);
}

}  // namespace opsy::packer_builder

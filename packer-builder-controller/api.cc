#include "packer-builder-controller/api.h"

#include <fmt/format.h>

#include "opsy/ami/eligibility.h"
#include "opsy/json/json.h"

namespace opsy::packer_builder {
namespace {

using json::fieldError;
using json::Fields;

Result<std::vector<aws::Filter>> readFilters(const Fields& spec) {
  std::vector<aws::Filter> out;
  OPSY_ASSIGN_OR_RETURN(std::vector<Fields> items, spec.objects("amiFilters"));
  for (const Fields& item : items) {
    aws::Filter f;
    OPSY_ASSIGN_OR_RETURN(f.name, item.requiredString("name"));
    if (item.get("values") == nullptr) {
      return fieldError(item.path("values"), "is required");
    }
    OPSY_ASSIGN_OR_RETURN(f.values, item.strings("values"));
    if (f.values.empty()) {
      return fieldError(item.path("values"), "needs at least one value");
    }
    out.push_back(std::move(f));
  }
  return out;
}

Result<packer::CommandSpec> readCommand(const Fields& item) {
  packer::CommandSpec c;
  OPSY_ASSIGN_OR_RETURN(c.sub_command, item.requiredString("subCommand"));
  OPSY_ASSIGN_OR_RETURN(c.args, item.strings("args"));
  OPSY_ASSIGN_OR_RETURN(c.color, item.optBool("color"));
  OPSY_ASSIGN_OR_RETURN(c.debug, item.boolOr("debug", c.debug));
  OPSY_ASSIGN_OR_RETURN(c.on_error, item.string("onError"));
  OPSY_ASSIGN_OR_RETURN(c.variables, item.stringMap("variables"));
  OPSY_ASSIGN_OR_RETURN(c.variables_file, item.string("variablesFile"));
  OPSY_ASSIGN_OR_RETURN(c.working_dir, item.string("workingDir"));
  return c;
}

Result<BuilderSpec> readBuilder(const Fields& spec) {
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> builder, spec.object("builder"));
  if (!builder) {
    return fieldError(spec.path("builder"), "is required");
  }
  BuilderSpec b;
  OPSY_ASSIGN_OR_RETURN(b.repo_url, builder->requiredString("repoURL"));
  OPSY_ASSIGN_OR_RETURN(b.branch, builder->string("branch"));
  if (b.branch.empty()) {
    b.branch = std::string(kDefaultBranch);
  }
  OPSY_ASSIGN_OR_RETURN(b.image, builder->requiredString("image"));
  OPSY_ASSIGN_OR_RETURN(b.dir, builder->string("dir"));
  if (b.dir.find("..") != std::string::npos || (!b.dir.empty() && b.dir.front() == '/')) {
    return fieldError(builder->path("dir"), "must be a relative path inside the repository");
  }
  OPSY_ASSIGN_OR_RETURN(b.secret, builder->string("secret"));
  OPSY_ASSIGN_OR_RETURN(b.job_service_account_name, builder->string("jobServiceAccountName"));
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> resources, builder->object("resources"));
  if (resources) {
    b.resources_json = json::writeJson(resources->value());
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<bool> debug, builder->optBool("debug"));
  if (debug) {
    b.deprecations.push_back(builder->path("debug") +
                             " is ignored (a field of the original operator); set "
                             "commands[].debug instead");
  }
  OPSY_ASSIGN_OR_RETURN(std::optional<std::string> image_type, builder->optString("imageType"));
  if (image_type) {
    if (*image_type != "ami" && *image_type != "container") {
      return fieldError(builder->path("imageType"), "must be ami or container");
    }
    b.deprecations.push_back(builder->path("imageType") +
                             " is ignored (a field of the original operator): the builder "
                             "always builds an AMI");
  }
  OPSY_ASSIGN_OR_RETURN(std::vector<Fields> commands, builder->objects("commands"));
  for (const Fields& item : commands) {
    OPSY_ASSIGN_OR_RETURN(packer::CommandSpec c, readCommand(item));
    b.commands.push_back(std::move(c));
  }
  return b;
}

Result<NotifierSpec> readNotifier(const Fields& spec) {
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> notifier, spec.object("notifier"));
  if (!notifier) {
    return NotifierSpec{};
  }
  return notify::parseNotifierConfig(json::writeJson(notifier->value()), notifier->path());
}

Result<std::optional<RetentionSpec>> readRetention(const Fields& spec) {
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> retention, spec.object("retention"));
  if (!retention) {
    return std::optional<RetentionSpec>();
  }
  RetentionSpec r;
  OPSY_ASSIGN_OR_RETURN(r.keep_last, retention->optInt("keepLast", 1, 1000));
  OPSY_ASSIGN_OR_RETURN(r.delete_after, retention->optDuration("deleteAfter"));
  OPSY_ASSIGN_OR_RETURN(r.delete_snapshots, retention->boolOr("deleteSnapshots", true));
  OPSY_ASSIGN_OR_RETURN(std::optional<std::string> mode, retention->optString("mode"));
  if (mode && *mode != "Apply" && *mode != "Plan") {
    return fieldError(retention->path("mode"),
                      fmt::format("\"{}\" is neither Apply nor Plan", *mode));
  }
  r.plan = mode && *mode == "Plan";
  if (!r.keep_last && !r.delete_after) {
    return fieldError(retention->path(),
                      "needs keepLast, deleteAfter or both (which deprecated images to delete)");
  }
  return std::optional<RetentionSpec>(r);
}

void encodeRetention(const RetentionStatus& r, json::Value& out, json::Alloc& a) {
  out.SetObject();
  if (!r.kept.empty()) {
    json::Value list(rapidjson::kArrayType);
    for (const RetentionStatus::Kept& k : r.kept) {
      json::Value item(rapidjson::kObjectType);
      json::setString(item, "imageId", k.image_id, a);
      json::setString(item, "reason", k.reason, a);
      list.PushBack(item, a);
    }
    json::setMember(out, "kept", std::move(list), a);
  }
  if (!r.deleted.empty()) {
    json::Value list(rapidjson::kArrayType);
    for (const RetentionStatus::Deleted& d : r.deleted) {
      json::Value item(rapidjson::kObjectType);
      json::setString(item, "imageId", d.image_id, a);
      if (!d.snapshots.empty()) {
        json::setMember(item, "snapshots", json::jsonStrings(d.snapshots, a), a);
      }
      json::setOptTime(item, "at", d.at, a);
      list.PushBack(item, a);
    }
    json::setMember(out, "deleted", std::move(list), a);
  }
  if (!r.would_delete.empty()) {
    json::setMember(out, "wouldDelete", json::jsonStrings(r.would_delete, a), a);
  }
  if (!r.kept_snapshots.empty()) {
    json::Value list(rapidjson::kArrayType);
    for (const RetentionStatus::KeptSnapshot& k : r.kept_snapshots) {
      json::Value item(rapidjson::kObjectType);
      json::setString(item, "snapshotId", k.snapshot_id, a);
      json::setString(item, "reason", k.reason, a);
      list.PushBack(item, a);
    }
    json::setMember(out, "keptSnapshots", std::move(list), a);
  }
  json::setOptString(out, "message", r.message, a);
}

RetentionStatus decodeRetention(const json::Value& v) {
  RetentionStatus r;
  if (!v.IsObject()) {
    return r;
  }
  auto objects = [&](std::string_view key) {
    std::vector<const json::Value*> out;
    const json::Value* list = json::member(v, key);
    if (list != nullptr && list->IsArray()) {
      for (const json::Value& item : list->GetArray()) {
        if (item.IsObject()) {
          out.push_back(&item);
        }
      }
    }
    return out;
  };
  for (const json::Value* item : objects("kept")) {
    r.kept.push_back({json::stringOr(*item, "imageId"), json::stringOr(*item, "reason")});
  }
  for (const json::Value* item : objects("deleted")) {
    r.deleted.push_back({json::stringOr(*item, "imageId"), json::strings(*item, "snapshots"),
                         json::optTime(*item, "at")});
  }
  r.would_delete = json::strings(v, "wouldDelete");
  for (const json::Value* item : objects("keptSnapshots")) {
    r.kept_snapshots.push_back(
        {json::stringOr(*item, "snapshotId"), json::stringOr(*item, "reason")});
  }
  r.message = json::stringOr(v, "message");
  return r;
}

void encodeStatus(const PackerBuilderStatus& s, json::Value& out, json::Alloc& a) {
  out.SetObject();
  json::setOptString(out, "state", s.state, a);
  if (s.observed_generation != 0) {
    json::setInt(out, "observedGeneration", s.observed_generation, a);
  }
  json::setOptString(out, "buildID", s.build_id, a);
  json::setOptString(out, "command", s.command, a);
  if (!s.conditions.empty()) {
    if (auto conds = json::parse(kube::conditionsToJson(s.conditions), "status.conditions")) {
      json::setMember(out, "conditions", json::Value(*conds, a), a);
    }
  }
  json::setInt(out, "failedJobCount", s.failed_job_count, a);
  json::setOptString(out, "jobID", s.job_id, a);
  json::setOptString(out, "jobName", s.job_name, a);
  json::setOptString(out, "jobStatus", s.job_status, a);
  json::setOptTime(out, "lastRun", s.last_run, a);
  json::setOptString(out, "lastRunBaseImageID", s.last_run_base_image_id, a);
  json::setOptString(out, "lastRunBuiltImageID", s.last_run_built_image_id, a);
  if (!s.copies.empty()) {
    json::Value list(rapidjson::kArrayType);
    for (const ImageCopy& c : s.copies) {
      json::Value item(rapidjson::kObjectType);
      json::setString(item, "region", c.region, a);
      json::setString(item, "imageID", c.image_id, a);
      list.PushBack(item, a);
    }
    json::setMember(out, "copies", std::move(list), a);
  }
  json::setOptString(out, "lastRunMessage", s.last_run_message, a);
  json::setOptString(out, "lastRunStatus", s.last_run_status, a);
  json::setOptString(out, "lastRunSecurityGroupID", s.last_run_security_group_id, a);
  json::setOptString(out, "lastRunKeyPair", s.last_run_key_pair, a);
  json::setOptTime(out, "expiresAt", s.expires_at, a);
  if (!s.retention.empty()) {
    json::Value retention;
    encodeRetention(s.retention, retention, a);
    json::setMember(out, "retention", std::move(retention), a);
  }
  if (!s.followers.empty()) {
    json::Value list(rapidjson::kArrayType);
    for (const std::string& f : s.followers) {
      list.PushBack(json::Value(f.c_str(), static_cast<rapidjson::SizeType>(f.size()), a), a);
    }
    json::setMember(out, "followers", std::move(list), a);
  }
  if (s.follower_count != 0) {
    json::setInt(out, "followerCount", s.follower_count, a);
  }
}

// Adds null to `body` for each member `old` has and `body` lacks, in nested objects too (a merge
// patch merges objects member by member, so a member left out would stay); lists are replaced.
void nullRemoved(json::Value& body, const json::Value& old, json::Alloc& a) {
  for (const auto& m : old.GetObject()) {
    auto it = body.FindMember(m.name);
    if (it == body.MemberEnd()) {
      body.AddMember(json::Value(m.name, a), json::Value(rapidjson::kNullType), a);
    } else if (it->value.IsObject() && m.value.IsObject()) {
      nullRemoved(it->value, m.value, a);
    }
  }
}

}  // namespace

const kube::Resource& packerBuilderResource() {
  static const kube::Resource r{std::string(kGroup), std::string(kVersion), "packerbuilders",
                                std::string(kKind), true};
  return r;
}

const kube::Resource& amiRefresherResource() {
  static const kube::Resource r{std::string(kGroup), std::string(kVersion), "amirefreshers",
                                "AMIRefresher", true};
  return r;
}

Result<PackerBuilderSpec> parseSpec(const kube::Object& obj) {
  auto text = obj.getJson("/spec");
  if (!text) {
    return fieldError("spec", "is required");
  }
  Result<json::Document> doc = json::parseObject(*text, "spec");
  if (!doc) {
    return fieldError("spec", "must be an object");
  }
  Fields spec(*doc, "spec");
  PackerBuilderSpec out;
  OPSY_ASSIGN_OR_RETURN(out.ami_filters, readFilters(spec));
  OPSY_ASSIGN_OR_RETURN(out.cluster_name, spec.string("clusterName"));
  OPSY_ASSIGN_OR_RETURN(out.region, spec.string("region"));
  OPSY_ASSIGN_OR_RETURN(std::optional<int> max_failed, spec.optInt("maxFailedJobs", 1, 100));
  out.max_failed_jobs = max_failed.value_or(out.max_failed_jobs);
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> timeouts, spec.object("timeOuts"));
  if (timeouts) {
    // An empty duration keeps the default (durationOr), as it always has for PackerBuilder.
    auto& t = out.time_outs;
    OPSY_ASSIGN_OR_RETURN(t.expires_in, timeouts->durationOr("expiresIn", t.expires_in));
    OPSY_ASSIGN_OR_RETURN(std::optional<std::string> expires_text,
                          timeouts->optString("expiresIn"));
    t.expires_in_warning =
        ami::expiresInWarning("spec.timeOuts.expiresIn", expires_text.value_or(""), t.expires_in)
            .value_or("");
    OPSY_ASSIGN_OR_RETURN(t.controller_timer,
                          timeouts->durationOr("controllerTimer", t.controller_timer));
    OPSY_ASSIGN_OR_RETURN(t.build_timeout, timeouts->durationOr("buildTimeout", t.build_timeout));
  }
  OPSY_ASSIGN_OR_RETURN(out.notifier, readNotifier(spec));
  OPSY_ASSIGN_OR_RETURN(std::optional<Fields> git_sync, spec.object("gitSync"));
  if (git_sync) {
    OPSY_ASSIGN_OR_RETURN(out.git_sync.image, git_sync->string("image"));
    OPSY_ASSIGN_OR_RETURN(out.git_sync.name, git_sync->string("name"));
    OPSY_ASSIGN_OR_RETURN(out.git_sync.secret, git_sync->string("secret"));
    if (out.git_sync.image.empty()) {
      out.git_sync.image = std::string(kDefaultGitSyncImage);
    }
    if (out.git_sync.name.empty()) {
      out.git_sync.name = std::string(kDefaultGitSyncName);
    }
  }
  OPSY_ASSIGN_OR_RETURN(out.builder, readBuilder(spec));
  OPSY_ASSIGN_OR_RETURN(out.retention, readRetention(spec));
  return out;
}

PackerBuilderStatus parseStatus(const kube::Object& obj) {
  PackerBuilderStatus s;
  auto text = obj.getJson("/status");
  if (!text) {
    return s;
  }
  Result<json::Document> parsed = json::parseObject(*text, "status");
  if (!parsed) {
    return s;
  }
  const json::Document& doc = *parsed;
  s.state = json::stringOr(doc, "state");
  s.observed_generation = json::optInt64(doc, "observedGeneration").value_or(0);
  s.build_id = json::stringOr(doc, "buildID");
  s.command = json::stringOr(doc, "command");
  if (const json::Value* conds = json::member(doc, "conditions")) {
    if (auto decoded = kube::conditionsFromJson(json::writeJson(*conds))) {
      s.conditions = std::move(*decoded);
    }
  }
  s.failed_job_count = json::optInt64(doc, "failedJobCount").value_or(0);
  s.job_id = json::stringOr(doc, "jobID");
  s.job_name = json::stringOr(doc, "jobName");
  s.job_status = json::stringOr(doc, "jobStatus");
  s.last_run = json::optTime(doc, "lastRun");
  s.last_run_base_image_id = json::stringOr(doc, "lastRunBaseImageID");
  s.last_run_built_image_id = json::stringOr(doc, "lastRunBuiltImageID");
  if (const json::Value* copies = json::member(doc, "copies");
      copies != nullptr && copies->IsArray()) {
    for (const json::Value& c : copies->GetArray()) {
      if (c.IsObject() && s.copies.size() < kMaxImageCopies) {
        s.copies.push_back({json::stringOr(c, "region"), json::stringOr(c, "imageID")});
      }
    }
  }
  s.last_run_message = json::stringOr(doc, "lastRunMessage");
  s.last_run_status = json::stringOr(doc, "lastRunStatus");
  s.last_run_security_group_id = json::stringOr(doc, "lastRunSecurityGroupID");
  s.last_run_key_pair = json::stringOr(doc, "lastRunKeyPair");
  s.expires_at = json::optTime(doc, "expiresAt");
  if (const json::Value* retention = json::member(doc, "retention")) {
    s.retention = decodeRetention(*retention);
  }
  if (const json::Value* followers = json::member(doc, "followers");
      followers != nullptr && followers->IsArray()) {
    for (const json::Value& f : followers->GetArray()) {
      if (f.IsString()) {
        s.followers.emplace_back(f.GetString(), f.GetStringLength());
      }
    }
  }
  s.follower_count = json::optInt64(doc, "followerCount").value_or(0);
  return s;
}

std::string statusToJson(const PackerBuilderStatus& status) {
  json::Document doc;
  encodeStatus(status, doc, doc.GetAllocator());
  return json::writeJson(doc);
}

std::string statusMergePatch(const PackerBuilderStatus& before, const PackerBuilderStatus& after) {
  json::Document doc;
  doc.SetObject();
  json::Alloc& a = doc.GetAllocator();
  json::Value body;
  encodeStatus(after, body, a);
  json::Value old;
  encodeStatus(before, old, a);
  nullRemoved(body, old, a);
  doc.AddMember("status", body, a);
  return json::writeJson(doc);
}

}  // namespace opsy::packer_builder

#include "packer-builder-controller/api.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "opsy/core/duration.h"
#include "opsy/core/time_format.h"

namespace opsy::packer_builder {
namespace {

using rapidjson::Value;

tl::unexpected<Error> invalid(std::string_view path, std::string_view message) {
  return fail(ErrorCode::InvalidArgument, fmt::format("{}: {}", path, message));
}

const char* typeName(const Value& v) {
  if (v.IsString()) {
    return "a string";
  }
  if (v.IsBool()) {
    return "a boolean";
  }
  if (v.IsNumber()) {
    return "a number";
  }
  if (v.IsArray()) {
    return "an array";
  }
  if (v.IsObject()) {
    return "an object";
  }
  return "null";
}

const Value* find(const Value& obj, const char* key) {
  if (!obj.IsObject()) {
    return nullptr;
  }
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) {
    return nullptr;
  }
  return &it->value;
}

std::string join(std::string_view path, std::string_view key) {
  return fmt::format("{}.{}", path, key);
}

// Reads an optional string member into `out` (unchanged when missing).
Status readString(const Value& obj, std::string_view path, const char* key, std::string& out) {
  const Value* v = find(obj, key);
  if (v == nullptr) {
    return ok();
  }
  if (!v->IsString()) {
    return invalid(join(path, key), fmt::format("must be a string, not {}", typeName(*v)));
  }
  out.assign(v->GetString(), v->GetStringLength());
  return ok();
}

Status readStringList(const Value& v, std::string_view path, std::vector<std::string>& out) {
  if (!v.IsArray()) {
    return invalid(path, fmt::format("must be an array of strings, not {}", typeName(v)));
  }
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    if (!v[i].IsString()) {
      return invalid(fmt::format("{}[{}]", path, i), "must be a string");
    }
    out.emplace_back(v[i].GetString(), v[i].GetStringLength());
  }
  return ok();
}

Status readDuration(const Value& obj, std::string_view path, const char* key, Duration& out) {
  std::string text;
  OPSY_RETURN_IF_ERROR(readString(obj, path, key, text));
  if (text.empty()) {
    return ok();
  }
  auto parsed = parseDuration(text);
  if (!parsed) {
    return invalid(join(path, key), parsed.error().message);
  }
  out = *parsed;
  return ok();
}

Status readObject(const Value& parent, std::string_view path, const char* key, const Value*& out) {
  out = find(parent, key);
  if (out != nullptr && !out->IsObject()) {
    return invalid(join(path, key), fmt::format("must be an object, not {}", typeName(*out)));
  }
  return ok();
}

Status readFilters(const Value& spec, std::vector<aws::Filter>& out) {
  const Value* list = find(spec, "amiFilters");
  if (list == nullptr) {
    return ok();
  }
  if (!list->IsArray()) {
    return invalid("spec.amiFilters", "must be an array");
  }
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    std::string path = fmt::format("spec.amiFilters[{}]", i);
    const Value& item = (*list)[i];
    if (!item.IsObject()) {
      return invalid(path, "must be an object with name and values");
    }
    aws::Filter f;
    OPSY_RETURN_IF_ERROR(readString(item, path, "name", f.name));
    if (f.name.empty()) {
      return invalid(join(path, "name"), "is required");
    }
    const Value* values = find(item, "values");
    if (values == nullptr) {
      return invalid(join(path, "values"), "is required");
    }
    OPSY_RETURN_IF_ERROR(readStringList(*values, join(path, "values"), f.values));
    if (f.values.empty()) {
      return invalid(join(path, "values"), "needs at least one value");
    }
    out.push_back(std::move(f));
  }
  return ok();
}

Status readCommand(const Value& item, std::string_view path, packer::CommandSpec& c) {
  if (!item.IsObject()) {
    return invalid(path, "must be an object");
  }
  OPSY_RETURN_IF_ERROR(readString(item, path, "subCommand", c.sub_command));
  if (c.sub_command.empty()) {
    return invalid(join(path, "subCommand"), "is required");
  }
  if (const Value* args = find(item, "args")) {
    OPSY_RETURN_IF_ERROR(readStringList(*args, join(path, "args"), c.args));
  }
  if (const Value* color = find(item, "color")) {
    if (!color->IsBool()) {
      return invalid(join(path, "color"), "must be a boolean");
    }
    c.color = color->GetBool();
  }
  if (const Value* debug = find(item, "debug")) {
    if (!debug->IsBool()) {
      return invalid(join(path, "debug"), "must be a boolean");
    }
    c.debug = debug->GetBool();
  }
  OPSY_RETURN_IF_ERROR(readString(item, path, "onError", c.on_error));
  if (const Value* vars = find(item, "variables")) {
    if (!vars->IsObject()) {
      return invalid(join(path, "variables"), "must be an object of strings");
    }
    for (const auto& m : vars->GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      if (!m.value.IsString()) {
        return invalid(fmt::format("{}.variables[{}]", path, name), "must be a string");
      }
      c.variables[name] = std::string(m.value.GetString(), m.value.GetStringLength());
    }
  }
  OPSY_RETURN_IF_ERROR(readString(item, path, "variablesFile", c.variables_file));
  OPSY_RETURN_IF_ERROR(readString(item, path, "workingDir", c.working_dir));
  return ok();
}

std::string writeValue(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

Status readBuilder(const Value& spec, BuilderSpec& b) {
  const Value* builder = nullptr;
  OPSY_RETURN_IF_ERROR(readObject(spec, "spec", "builder", builder));
  if (builder == nullptr) {
    return invalid("spec.builder", "is required");
  }
  constexpr std::string_view kPath = "spec.builder";
  OPSY_RETURN_IF_ERROR(readString(*builder, kPath, "repoURL", b.repo_url));
  if (b.repo_url.empty()) {
    return invalid("spec.builder.repoURL", "is required");
  }
  OPSY_RETURN_IF_ERROR(readString(*builder, kPath, "branch", b.branch));
  if (b.branch.empty()) {
    b.branch = std::string(kDefaultBranch);
  }
  OPSY_RETURN_IF_ERROR(readString(*builder, kPath, "image", b.image));
  if (b.image.empty()) {
    return invalid("spec.builder.image", "is required");
  }
  OPSY_RETURN_IF_ERROR(readString(*builder, kPath, "dir", b.dir));
  if (b.dir.find("..") != std::string::npos || (!b.dir.empty() && b.dir.front() == '/')) {
    return invalid("spec.builder.dir", "must be a relative path inside the repository");
  }
  OPSY_RETURN_IF_ERROR(readString(*builder, kPath, "secret", b.secret));
  OPSY_RETURN_IF_ERROR(
      readString(*builder, kPath, "jobServiceAccountName", b.job_service_account_name));
  const Value* resources = nullptr;
  OPSY_RETURN_IF_ERROR(readObject(*builder, kPath, "resources", resources));
  if (resources != nullptr) {
    b.resources_json = writeValue(*resources);
  }
  if (const Value* commands = find(*builder, "commands")) {
    if (!commands->IsArray()) {
      return invalid("spec.builder.commands", "must be an array");
    }
    for (rapidjson::SizeType i = 0; i < commands->Size(); ++i) {
      packer::CommandSpec c;
      OPSY_RETURN_IF_ERROR(
          readCommand((*commands)[i], fmt::format("spec.builder.commands[{}]", i), c));
      b.commands.push_back(std::move(c));
    }
  }
  return ok();
}

Status readNotifier(const Value& spec, NotifierSpec& n) {
  const Value* notifier = nullptr;
  OPSY_RETURN_IF_ERROR(readObject(spec, "spec", "notifier", notifier));
  if (notifier == nullptr) {
    return ok();
  }
  rapidjson::StringBuffer json;
  rapidjson::Writer<rapidjson::StringBuffer> writer(json);
  notifier->Accept(writer);
  OPSY_ASSIGN_OR_RETURN(
      n, notify::parseNotifierConfig(std::string_view(json.GetString(), json.GetSize()),
                                     "spec.notifier"));
  return ok();
}

// Status writing helpers.
using Alloc = rapidjson::Document::AllocatorType;

Value str(std::string_view s, Alloc& a) {
  return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

void putString(Value& obj, const char* key, const std::string& v, Alloc& a) {
  if (!v.empty()) {
    obj.AddMember(Value(key, a), str(v, a), a);
  }
}

void putTime(Value& obj, const char* key, const std::optional<TimePoint>& t, Alloc& a) {
  if (t) {
    obj.AddMember(Value(key, a), str(formatRfc3339(*t), a), a);
  }
}

void putInt(Value& obj, const char* key, std::int64_t v, Alloc& a) {
  obj.AddMember(Value(key, a), Value(static_cast<int64_t>(v)), a);
}

void encodeStatus(const PackerBuilderStatus& s, Value& out, Alloc& a) {
  out.SetObject();
  putString(out, "state", s.state, a);
  if (s.observed_generation != 0) {
    putInt(out, "observedGeneration", s.observed_generation, a);
  }
  putString(out, "buildID", s.build_id, a);
  putString(out, "command", s.command, a);
  if (!s.conditions.empty()) {
    rapidjson::Document conds;
    conds.Parse(kube::conditionsToJson(s.conditions).c_str());
    out.AddMember("conditions", Value(conds, a), a);
  }
  putInt(out, "failedJobCount", s.failed_job_count, a);
  putString(out, "jobID", s.job_id, a);
  putString(out, "jobName", s.job_name, a);
  putString(out, "jobStatus", s.job_status, a);
  putTime(out, "lastRun", s.last_run, a);
  putString(out, "lastRunBaseImageID", s.last_run_base_image_id, a);
  putString(out, "lastRunBuiltImageID", s.last_run_built_image_id, a);
  putString(out, "lastRunMessage", s.last_run_message, a);
  putString(out, "lastRunStatus", s.last_run_status, a);
  putString(out, "lastRunSecurityGroupID", s.last_run_security_group_id, a);
  putString(out, "lastRunKeyPair", s.last_run_key_pair, a);
  putTime(out, "expiresAt", s.expires_at, a);
}

std::string optStringAt(const rapidjson::Document& doc, const char* key) {
  const Value* v = find(doc, key);
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength())
                                       : std::string();
}

std::optional<TimePoint> optTimeAt(const rapidjson::Document& doc, const char* key) {
  std::string text = optStringAt(doc, key);
  if (text.empty()) {
    return std::nullopt;
  }
  auto t = parseRfc3339(text);
  return t ? std::optional<TimePoint>(*t) : std::nullopt;
}

std::int64_t optIntAt(const rapidjson::Document& doc, const char* key) {
  const Value* v = find(doc, key);
  return v != nullptr && v->IsInt64() ? v->GetInt64() : 0;
}

}  // namespace

const kube::Resource& packerBuilderResource() {
  static const kube::Resource r{std::string(kGroup), std::string(kVersion), "packerbuilders",
                                std::string(kKind), true};
  return r;
}

Result<PackerBuilderSpec> parseSpec(const kube::Object& obj) {
  auto text = obj.getJson("/spec");
  if (!text) {
    return invalid("spec", "is required");
  }
  rapidjson::Document spec;
  spec.Parse(text->c_str(), text->size());
  if (spec.HasParseError() || !spec.IsObject()) {
    return invalid("spec", "must be an object");
  }
  PackerBuilderSpec out;
  OPSY_RETURN_IF_ERROR(readFilters(spec, out.ami_filters));
  OPSY_RETURN_IF_ERROR(readString(spec, "spec", "clusterName", out.cluster_name));
  OPSY_RETURN_IF_ERROR(readString(spec, "spec", "region", out.region));
  if (const Value* max = find(spec, "maxFailedJobs")) {
    if (!max->IsInt64() || max->GetInt64() < 1 || max->GetInt64() > 100) {
      return invalid("spec.maxFailedJobs", "must be an integer from 1 to 100");
    }
    out.max_failed_jobs = static_cast<int>(max->GetInt64());
  }
  const Value* timeouts = nullptr;
  OPSY_RETURN_IF_ERROR(readObject(spec, "spec", "timeOuts", timeouts));
  if (timeouts != nullptr) {
    constexpr std::string_view kPath = "spec.timeOuts";
    OPSY_RETURN_IF_ERROR(readDuration(*timeouts, kPath, "expiresIn", out.time_outs.expires_in));
    OPSY_RETURN_IF_ERROR(
        readDuration(*timeouts, kPath, "controllerTimer", out.time_outs.controller_timer));
    OPSY_RETURN_IF_ERROR(
        readDuration(*timeouts, kPath, "buildTimeout", out.time_outs.build_timeout));
  }
  OPSY_RETURN_IF_ERROR(readNotifier(spec, out.notifier));
  const Value* git_sync = nullptr;
  OPSY_RETURN_IF_ERROR(readObject(spec, "spec", "gitSync", git_sync));
  if (git_sync != nullptr) {
    OPSY_RETURN_IF_ERROR(readString(*git_sync, "spec.gitSync", "image", out.git_sync.image));
    OPSY_RETURN_IF_ERROR(readString(*git_sync, "spec.gitSync", "name", out.git_sync.name));
    OPSY_RETURN_IF_ERROR(readString(*git_sync, "spec.gitSync", "secret", out.git_sync.secret));
    if (out.git_sync.image.empty()) {
      out.git_sync.image = std::string(kDefaultGitSyncImage);
    }
    if (out.git_sync.name.empty()) {
      out.git_sync.name = std::string(kDefaultGitSyncName);
    }
  }
  OPSY_RETURN_IF_ERROR(readBuilder(spec, out.builder));
  return out;
}

PackerBuilderStatus parseStatus(const kube::Object& obj) {
  PackerBuilderStatus s;
  auto text = obj.getJson("/status");
  if (!text) {
    return s;
  }
  rapidjson::Document doc;
  doc.Parse(text->c_str(), text->size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return s;
  }
  s.state = optStringAt(doc, "state");
  s.observed_generation = optIntAt(doc, "observedGeneration");
  s.build_id = optStringAt(doc, "buildID");
  s.command = optStringAt(doc, "command");
  if (const Value* conds = find(doc, "conditions")) {
    if (auto parsed = kube::conditionsFromJson(writeValue(*conds))) {
      s.conditions = std::move(*parsed);
    }
  }
  s.failed_job_count = optIntAt(doc, "failedJobCount");
  s.job_id = optStringAt(doc, "jobID");
  s.job_name = optStringAt(doc, "jobName");
  s.job_status = optStringAt(doc, "jobStatus");
  s.last_run = optTimeAt(doc, "lastRun");
  s.last_run_base_image_id = optStringAt(doc, "lastRunBaseImageID");
  s.last_run_built_image_id = optStringAt(doc, "lastRunBuiltImageID");
  s.last_run_message = optStringAt(doc, "lastRunMessage");
  s.last_run_status = optStringAt(doc, "lastRunStatus");
  s.last_run_security_group_id = optStringAt(doc, "lastRunSecurityGroupID");
  s.last_run_key_pair = optStringAt(doc, "lastRunKeyPair");
  s.expires_at = optTimeAt(doc, "expiresAt");
  return s;
}

std::string statusToJson(const PackerBuilderStatus& status) {
  rapidjson::Document doc;
  encodeStatus(status, doc, doc.GetAllocator());
  return writeValue(doc);
}

std::string statusMergePatch(const PackerBuilderStatus& before, const PackerBuilderStatus& after) {
  rapidjson::Document doc;
  doc.SetObject();
  Alloc& a = doc.GetAllocator();
  Value body;
  encodeStatus(after, body, a);
  Value old;
  encodeStatus(before, old, a);
  for (const auto& m : old.GetObject()) {
    if (!body.HasMember(m.name)) {
      body.AddMember(Value(m.name, a), Value(rapidjson::kNullType), a);
    }
  }
  doc.AddMember("status", body, a);
  return writeValue(doc);
}

}  // namespace opsy::packer_builder

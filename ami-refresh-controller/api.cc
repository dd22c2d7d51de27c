#include "ami-refresh-controller/api.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "opsy/core/duration.h"
#include "opsy/core/time_format.h"

namespace opsy::ami_refresh {
namespace {

using Value = rapidjson::Value;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

const Value* member(const Value& obj, std::string_view key) {
  if (!obj.IsObject()) {
    return nullptr;
  }
  auto it = obj.FindMember(Value(key.data(), static_cast<rapidjson::SizeType>(key.size())));
  if (it == obj.MemberEnd() || it->value.IsNull()) {
    return nullptr;
  }
  return &it->value;
}

std::string str(const Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

// Typed readers over one object of the spec; each error names `path.key`.
class Fields {
 public:
  Fields(const Value& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  std::string path(std::string_view key) const { return fmt::format("{}.{}", path_, key); }
  const Value* get(std::string_view key) const { return member(obj_, key); }

  Result<std::optional<std::string>> optString(std::string_view key) const {
    const Value* v = get(key);
    if (v == nullptr) {
      return std::optional<std::string>();
    }
    if (!v->IsString()) {
      return fail(ErrorCode::InvalidArgument, path(key) + ": must be a string");
    }
    return std::optional<std::string>(str(*v));
  }

  Result<std::string> requiredString(std::string_view key) const {
    OPSY_ASSIGN_OR_RETURN(std::optional<std::string> s, optString(key));
    if (!s || s->empty()) {
      return fail(ErrorCode::InvalidArgument, path(key) + ": required");
    }
    return *s;
  }

  Result<bool> boolOr(std::string_view key, bool fallback) const {
    const Value* v = get(key);
    if (v == nullptr) {
      return fallback;
    }
    if (!v->IsBool()) {
      return fail(ErrorCode::InvalidArgument, path(key) + ": must be true or false");
    }
    return v->GetBool();
  }

  Result<std::optional<int>> optInt(std::string_view key, int min, int max) const {
    const Value* v = get(key);
    if (v == nullptr) {
      return std::optional<int>();
    }
    if (!v->IsInt64()) {
      return fail(ErrorCode::InvalidArgument, path(key) + ": must be an integer");
    }
    std::int64_t n = v->GetInt64();
    if (n < min || n > max) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("{}: {} is outside {}..{}", path(key), n, min, max));
    }
    return std::optional<int>(static_cast<int>(n));
  }

  Result<std::optional<Duration>> optDuration(std::string_view key) const {
    OPSY_ASSIGN_OR_RETURN(std::optional<std::string> s, optString(key));
    if (!s) {
      return std::optional<Duration>();
    }
    auto d = parseDuration(*s);
    if (!d) {
      return fail(ErrorCode::InvalidArgument, path(key) + ": " + d.error().message);
    }
    return std::optional<Duration>(*d);
  }

  Result<std::vector<std::string>> strings(std::string_view key) const {
    std::vector<std::string> out;
    const Value* v = get(key);
    if (v == nullptr) {
      return out;
    }
    if (!v->IsArray()) {
      return fail(ErrorCode::InvalidArgument, path(key) + ": must be a list of strings");
    }
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
      if (!(*v)[i].IsString()) {
        return fail(ErrorCode::InvalidArgument,
                    fmt::format("{}[{}]: must be a string", path(key), i));
      }
      out.push_back(str((*v)[i]));
    }
    return out;
  }

  Result<std::optional<Fields>> object(std::string_view key) const {
    const Value* v = get(key);
    if (v == nullptr) {
      return std::optional<Fields>();
    }
    if (!v->IsObject()) {
      return fail(ErrorCode::InvalidArgument, path(key) + ": must be an object");
    }
    return std::optional<Fields>(Fields(*v, path(key)));
  }

 private:
  const Value& obj_;
  std::string path_;
};

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
  return sm;
}

Result<notify::NotifierConfig> parseNotifier(const Fields& spec) {
  const Value* notifier = spec.get("notifier");
  if (notifier == nullptr) {
    return notify::NotifierConfig{};
  }
  rapidjson::StringBuffer json;
  rapidjson::Writer<rapidjson::StringBuffer> writer(json);
  notifier->Accept(writer);
  return notify::parseNotifierConfig(std::string_view(json.GetString(), json.GetSize()),
                                     spec.path("notifier"));
}

// --- status encoding ---

void writeString(JsonWriter& w, std::string_view key, std::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// Empty strings are written as null so a merge patch clears them.
void writeOptString(JsonWriter& w, std::string_view key, std::string_view value) {
  if (value.empty()) {
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    w.Null();
  } else {
    writeString(w, key, value);
  }
}

void writeOptTime(JsonWriter& w, std::string_view key, const std::optional<TimePoint>& t) {
  writeOptString(w, key, t ? formatRfc3339(*t) : std::string());
}

std::optional<TimePoint> timeMember(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  if (v == nullptr || !v->IsString()) {
    return std::nullopt;
  }
  auto t = parseRfc3339(str(*v));
  return t ? std::optional<TimePoint>(*t) : std::nullopt;
}

std::string stringMember(const Value& obj, std::string_view key) {
  const Value* v = member(obj, key);
  return v != nullptr && v->IsString() ? str(*v) : std::string();
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

std::string_view toString(GroupKind kind) {
  return kind == GroupKind::Managed ? "managed" : "self-managed";
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
  }
  return "Pending";
}

std::optional<Phase> parsePhase(std::string_view text) {
  for (Phase p : {Phase::UpToDate, Phase::Pending, Phase::Updating, Phase::Succeeded, Phase::Failed,
                  Phase::Skipped, Phase::Excluded}) {
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
  rapidjson::Document doc;
  doc.Parse(text->data(), text->size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return fail(ErrorCode::InvalidArgument, "spec: must be an object");
  }
  Fields f(doc, "spec");
  Spec spec;
  OPSY_ASSIGN_OR_RETURN(spec.region, f.requiredString("region"));
  OPSY_ASSIGN_OR_RETURN(spec.cluster_name, f.requiredString("clusterName"));
  OPSY_ASSIGN_OR_RETURN(spec.ami, f.optString("ami"));
  if (spec.ami && spec.ami->empty()) {
    spec.ami.reset();
  }
  OPSY_ASSIGN_OR_RETURN(spec.ami_filters, parseFilters(f));
  if (spec.ami.has_value() == !spec.ami_filters.empty()) {
    return fail(ErrorCode::InvalidArgument,
                "spec.ami: set exactly one of spec.ami or spec.amiFilters");
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
  OPSY_ASSIGN_OR_RETURN(spec.exclude, f.strings("exclude"));
  for (size_t i = 0; i < spec.exclude.size(); ++i) {
    if (spec.exclude[i].empty()) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("spec.exclude[{}]: must not be empty", i));
    }
  }
  OPSY_ASSIGN_OR_RETURN(spec.paused, f.boolOr("paused", false));
  OPSY_ASSIGN_OR_RETURN(spec.refresh, parseRefreshConfig(f));
  OPSY_ASSIGN_OR_RETURN(spec.self_managed, parseSelfManaged(f));
  OPSY_ASSIGN_OR_RETURN(spec.notifier, parseNotifier(f));
  return spec;
}

RefresherStatus parseStatus(const kube::Object& obj) {
  RefresherStatus s;
  std::optional<std::string> text = obj.getJson("/status");
  if (!text) {
    return s;
  }
  rapidjson::Document doc;
  doc.Parse(text->data(), text->size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return s;
  }
  s.state = stringMember(doc, "state");
  if (const Value* g = member(doc, "observedGeneration"); g != nullptr && g->IsInt64()) {
    s.observed_generation = g->GetInt64();
  }
  s.target_ami = stringMember(doc, "targetAMI");
  s.target_expires_at = timeMember(doc, "targetExpiresAt");
  s.updated = stringMember(doc, "updated");
  s.last_run = timeMember(doc, "lastRun");
  s.last_run_status = stringMember(doc, "lastRunStatus");
  if (const Value* groups = member(doc, "nodegroups"); groups != nullptr && groups->IsArray()) {
    for (const Value& g : groups->GetArray()) {
      NodegroupStatus ng;
      ng.name = stringMember(g, "name");
      if (ng.name.empty()) {
        continue;
      }
      ng.kind =
          stringMember(g, "kind") == "self-managed" ? GroupKind::SelfManaged : GroupKind::Managed;
      if (const Value* lt = member(g, "launchTemplate"); lt != nullptr) {
        ng.launch_template.id = stringMember(*lt, "id");
        ng.launch_template.version = stringMember(*lt, "version");
      }
      ng.previous_launch_template_version = stringMember(g, "previousLaunchTemplateVersion");
      ng.current_image = stringMember(g, "currentImage");
      ng.target_image = stringMember(g, "targetImage");
      ng.phase = parsePhase(stringMember(g, "phase")).value_or(Phase::Pending);
      ng.update_id = stringMember(g, "updateID");
      ng.rollback_update_id = stringMember(g, "rollbackUpdateID");
      ng.message = stringMember(g, "message");
      ng.last_transition_time = timeMember(g, "lastTransitionTime");
      s.nodegroups.push_back(std::move(ng));
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
  JsonWriter w(buf);
  w.StartObject();
  w.Key("status");
  w.StartObject();
  writeOptString(w, "state", s.state);
  w.Key("observedGeneration");
  w.Int64(s.observed_generation);
  writeOptString(w, "targetAMI", s.target_ami);
  writeOptTime(w, "targetExpiresAt", s.target_expires_at);
  writeOptString(w, "updated", s.updated);
  writeOptTime(w, "lastRun", s.last_run);
  writeOptString(w, "lastRunStatus", s.last_run_status);
  w.Key("nodegroups");
  w.StartArray();
  for (const NodegroupStatus& ng : s.nodegroups) {
    // Inside an array a merge patch replaces the whole entry, so empty fields are just left out.
    w.StartObject();
    writeString(w, "name", ng.name);
    writeString(w, "kind", toString(ng.kind));
    if (!ng.launch_template.id.empty() || !ng.launch_template.version.empty()) {
      w.Key("launchTemplate");
      w.StartObject();
      writeString(w, "id", ng.launch_template.id);
      writeString(w, "version", ng.launch_template.version);
      w.EndObject();
    }
    auto opt = [&](std::string_view key, const std::string& value) {
      if (!value.empty()) {
        writeString(w, key, value);
      }
    };
    opt("previousLaunchTemplateVersion", ng.previous_launch_template_version);
    opt("currentImage", ng.current_image);
    opt("targetImage", ng.target_image);
    writeString(w, "phase", toString(ng.phase));
    opt("updateID", ng.update_id);
    opt("rollbackUpdateID", ng.rollback_update_id);
    opt("message", ng.message);
    if (ng.last_transition_time) {
      writeString(w, "lastTransitionTime", formatRfc3339(*ng.last_transition_time));
    }
    w.EndObject();
  }
  w.EndArray();
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

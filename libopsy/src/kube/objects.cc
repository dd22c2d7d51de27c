#include "opsy/kube/objects.h"

#include <fmt/format.h>

#include "kube/base64.h"
#include "kube/json.h"

namespace opsy::kube {
namespace {

// Parses `json`, decodes the shared metadata into `out`, and hands the document to `decode`.
template <class T, class Fn>
Result<T> decodeTyped(std::string_view json, std::string_view what, Fn&& decode) {
  OPSY_ASSIGN_OR_RETURN(rapidjson::Document doc, parseJsonObject(json, what));
  T out;
  auto meta = decodeMeta(doc);
  if (!meta) {
    return fail(std::move(meta).error().context(what));
  }
  out.metadata = std::move(*meta);
  out.raw = std::string(json);
  OPSY_RETURN_IF_ERROR(decode(doc, out));
  return out;
}

// Re-opens the object's raw JSON (or starts an empty one), writes apiVersion, kind and metadata,
// then lets `encode` overlay the typed fields.
template <class T, class Fn>
std::string encodeTyped(const T& obj, Fn&& encode) {
  rapidjson::Document doc;
  if (!obj.raw.empty()) {
    doc.Parse(obj.raw.data(), obj.raw.size());
  }
  if (obj.raw.empty() || doc.HasParseError() || !doc.IsObject()) {
    doc.SetObject();
  }
  auto& alloc = doc.GetAllocator();
  setString(doc, "apiVersion", T::resource().apiVersion(), alloc);
  setString(doc, "kind", T::resource().kind, alloc);
  encodeMeta(obj.metadata, doc, alloc);
  encode(doc, alloc);
  return writeJson(doc);
}

template <class T>
Result<T> fromObjectVia(const Object& obj) {
  return T::fromJson(obj.toJson());
}

template <class T>
Object toObjectVia(const T& typed) {
  auto obj = Object::parse(typed.toJson());
  // toJson() always produces a JSON object with valid metadata, so parse cannot fail.
  return obj ? std::move(*obj) : Object();
}

std::optional<std::int32_t> optInt32(const rapidjson::Value& obj, std::string_view key) {
  auto v = optInt(obj, key);
  if (!v.has_value()) {
    return std::nullopt;
  }
  return static_cast<std::int32_t>(*v);
}

std::optional<std::int64_t> widen(std::optional<std::int32_t> v) {
  if (!v.has_value()) {
    return std::nullopt;
  }
  return *v;
}

std::vector<JobCondition> decodeConditions(const rapidjson::Value& status) {
  std::vector<JobCondition> out;
  const rapidjson::Value* list = member(status, "conditions");
  if (list == nullptr || !list->IsArray()) {
    return out;
  }
  for (const auto& c : list->GetArray()) {
    JobCondition cond;
    cond.type = stringOr(c, "type");
    cond.status = stringOr(c, "status");
    cond.reason = stringOr(c, "reason");
    cond.message = stringOr(c, "message");
    cond.last_transition_time = optTime(c, "lastTransitionTime");
    out.push_back(std::move(cond));
  }
  return out;
}

std::vector<ContainerStatus> decodeContainerStatuses(const rapidjson::Value& status,
                                                     std::string_view key) {
  std::vector<ContainerStatus> out;
  const rapidjson::Value* list = member(status, key);
  if (list == nullptr || !list->IsArray()) {
    return out;
  }
  for (const auto& c : list->GetArray()) {
    ContainerStatus cs;
    cs.name = stringOr(c, "name");
    cs.ready = optBool(c, "ready").value_or(false);
    cs.restart_count = optInt32(c, "restartCount").value_or(0);
    cs.image = stringOr(c, "image");
    const rapidjson::Value* state = member(c, "state");
    if (state != nullptr && state->IsObject()) {
      if (const rapidjson::Value* t = member(*state, "terminated"); t != nullptr) {
        cs.state = "terminated";
        cs.reason = stringOr(*t, "reason");
        cs.message = stringOr(*t, "message");
        cs.exit_code = optInt32(*t, "exitCode");
        cs.started_at = optTime(*t, "startedAt");
        cs.finished_at = optTime(*t, "finishedAt");
      } else if (const rapidjson::Value* r = member(*state, "running"); r != nullptr) {
        cs.state = "running";
        cs.started_at = optTime(*r, "startedAt");
      } else if (const rapidjson::Value* w = member(*state, "waiting"); w != nullptr) {
        cs.state = "waiting";
        cs.reason = stringOr(*w, "reason");
        cs.message = stringOr(*w, "message");
      }
    }
    out.push_back(std::move(cs));
  }
  return out;
}

}  // namespace

// ---- Job ----

Result<Job> Job::fromJson(std::string_view json) {
  return decodeTyped<Job>(json, "job", [](const rapidjson::Value& doc, Job& job) -> Status {
    if (const rapidjson::Value* spec = member(doc, "spec"); spec != nullptr && spec->IsObject()) {
      job.backoff_limit = optInt32(*spec, "backoffLimit");
      job.active_deadline_seconds = optInt(*spec, "activeDeadlineSeconds");
      job.ttl_seconds_after_finished = optInt32(*spec, "ttlSecondsAfterFinished");
      job.completions = optInt32(*spec, "completions");
      job.parallelism = optInt32(*spec, "parallelism");
      job.suspend = optBool(*spec, "suspend");
      if (const rapidjson::Value* t = member(*spec, "template"); t != nullptr) {
        job.pod_template_json = writeJson(*t);
      }
    }
    if (const rapidjson::Value* st = member(doc, "status"); st != nullptr && st->IsObject()) {
      job.conditions = decodeConditions(*st);
      job.active = optInt32(*st, "active").value_or(0);
      job.ready = optInt32(*st, "ready").value_or(0);
      job.succeeded = optInt32(*st, "succeeded").value_or(0);
      job.failed = optInt32(*st, "failed").value_or(0);
      job.terminating = optInt32(*st, "terminating").value_or(0);
      job.start_time = optTime(*st, "startTime");
      job.completion_time = optTime(*st, "completionTime");
    }
    return ok();
  });
}

Result<Job> Job::fromObject(const Object& obj) {
  return fromObjectVia<Job>(obj);
}

std::string Job::toJson() const {
  return encodeTyped(*this, [this](rapidjson::Document& doc, JsonAlloc& alloc) {
    rapidjson::Value& spec = objectMember(doc, "spec", alloc);
    setOptInt(spec, "backoffLimit", widen(backoff_limit), alloc);
    setOptInt(spec, "activeDeadlineSeconds", active_deadline_seconds, alloc);
    setOptInt(spec, "ttlSecondsAfterFinished", widen(ttl_seconds_after_finished), alloc);
    setOptInt(spec, "completions", widen(completions), alloc);
    setOptInt(spec, "parallelism", widen(parallelism), alloc);
    setOptBool(spec, "suspend", suspend, alloc);
    if (!pod_template_json.empty()) {
      rapidjson::Document t(&alloc);
      t.Parse(pod_template_json.data(), pod_template_json.size());
      if (!t.HasParseError()) {
        setMember(spec, "template", rapidjson::Value(t, alloc), alloc);
      }
    }
  });
}

Object Job::toObject() const {
  return toObjectVia(*this);
}

const JobCondition* Job::condition(std::string_view type) const {
  for (const auto& c : conditions) {
    if (c.type == type) {
      return &c;
    }
  }
  return nullptr;
}

bool Job::succeededTerminally() const {
  const JobCondition* c = condition("Complete");
  return c != nullptr && c->isTrue();
}

bool Job::failedTerminally() const {
  const JobCondition* c = condition("Failed");
  return c != nullptr && c->isTrue();
}

bool Job::finished() const {
  return succeededTerminally() || failedTerminally();
}

// ---- Pod ----

Result<Pod> Pod::fromJson(std::string_view json) {
  return decodeTyped<Pod>(json, "pod", [](const rapidjson::Value& doc, Pod& pod) -> Status {
    if (const rapidjson::Value* spec = member(doc, "spec"); spec != nullptr) {
      pod.node_name = stringOr(*spec, "nodeName");
    }
    if (const rapidjson::Value* st = member(doc, "status"); st != nullptr && st->IsObject()) {
      pod.phase = stringOr(*st, "phase");
      pod.reason = stringOr(*st, "reason");
      pod.message = stringOr(*st, "message");
      pod.init_container_statuses = decodeContainerStatuses(*st, "initContainerStatuses");
      pod.container_statuses = decodeContainerStatuses(*st, "containerStatuses");
    }
    return ok();
  });
}

Result<Pod> Pod::fromObject(const Object& obj) {
  return fromObjectVia<Pod>(obj);
}

// Pod status is written by the kubelet; only metadata is ours to change.
std::string Pod::toJson() const {
  return encodeTyped(*this, [](rapidjson::Document&, JsonAlloc&) {});
}

Object Pod::toObject() const {
  return toObjectVia(*this);
}

const ContainerStatus* Pod::containerStatus(std::string_view name) const {
  for (const auto& c : container_statuses) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

// ---- Secret ----

Result<Secret> Secret::fromJson(std::string_view json) {
  return decodeTyped<Secret>(json, "secret", [](const rapidjson::Value& doc, Secret& s) -> Status {
    s.type = stringOr(doc, "type");
    for (const auto& [key, encoded] : stringMap(doc, "data")) {
      auto decoded = base64Decode(encoded);
      if (!decoded) {
        return fail(ErrorCode::InvalidArgument,
                    fmt::format("secret: data.{}: not valid base64", key));
      }
      s.data.emplace(key, std::move(*decoded));
    }
    return ok();
  });
}

Result<Secret> Secret::fromObject(const Object& obj) {
  return fromObjectVia<Secret>(obj);
}

std::string Secret::toJson() const {
  return encodeTyped(*this, [this](rapidjson::Document& doc, JsonAlloc& alloc) {
    setOptString(doc, "type", type, alloc);
    std::map<std::string, std::string> encoded;
    for (const auto& [k, v] : data) {
      encoded.emplace(k, base64Encode(v));
    }
    setStringMap(doc, "data", encoded, alloc);
  });
}

Object Secret::toObject() const {
  return toObjectVia(*this);
}

// ---- Event ----

Result<Event> Event::fromJson(std::string_view json) {
  return decodeTyped<Event>(json, "event", [](const rapidjson::Value& doc, Event& e) -> Status {
    if (const rapidjson::Value* r = member(doc, "regarding"); r != nullptr && r->IsObject()) {
      e.regarding = decodeObjectReference(*r);
    }
    if (const rapidjson::Value* r = member(doc, "related"); r != nullptr && r->IsObject()) {
      e.related = decodeObjectReference(*r);
    }
    e.note = stringOr(doc, "note");
    e.reason = stringOr(doc, "reason");
    e.action = stringOr(doc, "action");
    e.type = stringOr(doc, "type");
    e.event_time = optTime(doc, "eventTime");
    e.reporting_controller = stringOr(doc, "reportingController");
    e.reporting_instance = stringOr(doc, "reportingInstance");
    if (const rapidjson::Value* s = member(doc, "series"); s != nullptr && s->IsObject()) {
      e.series = EventSeries{optInt32(*s, "count").value_or(0), optTime(*s, "lastObservedTime")};
    }
    return ok();
  });
}

Result<Event> Event::fromObject(const Object& obj) {
  return fromObjectVia<Event>(obj);
}

std::string Event::toJson() const {
  return encodeTyped(*this, [this](rapidjson::Document& doc, JsonAlloc& alloc) {
    setMember(doc, "regarding", encodeObjectReference(regarding, alloc), alloc);
    if (related.has_value()) {
      setMember(doc, "related", encodeObjectReference(*related, alloc), alloc);
    } else {
      removeMember(doc, "related");
    }
    setOptString(doc, "note", note, alloc);
    setOptString(doc, "reason", reason, alloc);
    setOptString(doc, "action", action, alloc);
    setOptString(doc, "type", type, alloc);
    setOptTime(doc, "eventTime", event_time, true, alloc);
    setOptString(doc, "reportingController", reporting_controller, alloc);
    setOptString(doc, "reportingInstance", reporting_instance, alloc);
    if (series.has_value()) {
      rapidjson::Value s(rapidjson::kObjectType);
      setOptInt(s, "count", series->count, alloc);
      setOptTime(s, "lastObservedTime", series->last_observed_time, true, alloc);
      setMember(doc, "series", std::move(s), alloc);
    } else {
      removeMember(doc, "series");
    }
  });
}

Object Event::toObject() const {
  return toObjectVia(*this);
}

// ---- Lease ----

Result<Lease> Lease::fromJson(std::string_view json) {
  return decodeTyped<Lease>(json, "lease", [](const rapidjson::Value& doc, Lease& l) -> Status {
    const rapidjson::Value* spec = member(doc, "spec");
    if (spec == nullptr || !spec->IsObject()) {
      return ok();
    }
    l.holder_identity = optString(*spec, "holderIdentity");
    l.lease_duration_seconds = optInt32(*spec, "leaseDurationSeconds");
    l.acquire_time = optTime(*spec, "acquireTime");
    l.renew_time = optTime(*spec, "renewTime");
    l.lease_transitions = optInt32(*spec, "leaseTransitions");
    l.strategy = stringOr(*spec, "strategy");
    l.preferred_holder = stringOr(*spec, "preferredHolder");
    return ok();
  });
}

Result<Lease> Lease::fromObject(const Object& obj) {
  return fromObjectVia<Lease>(obj);
}

std::string Lease::toJson() const {
  return encodeTyped(*this, [this](rapidjson::Document& doc, JsonAlloc& alloc) {
    rapidjson::Value& spec = objectMember(doc, "spec", alloc);
    if (holder_identity.has_value()) {
      setString(spec, "holderIdentity", *holder_identity, alloc);
    } else {
      removeMember(spec, "holderIdentity");
    }
    setOptInt(spec, "leaseDurationSeconds", widen(lease_duration_seconds), alloc);
    setOptTime(spec, "acquireTime", acquire_time, true, alloc);
    setOptTime(spec, "renewTime", renew_time, true, alloc);
    setOptInt(spec, "leaseTransitions", widen(lease_transitions), alloc);
    setOptString(spec, "strategy", strategy, alloc);
    setOptString(spec, "preferredHolder", preferred_holder, alloc);
  });
}

Object Lease::toObject() const {
  return toObjectVia(*this);
}

}  // namespace opsy::kube

#include "opsy/kube/objects.h"

#include <fmt/format.h>

#include "kube/base64.h"
#include "kube/meta_codec.h"

namespace opsy::kube {
namespace {

// Parses `json`, decodes the shared metadata into `out`, and hands the document to `decode`.
template <class T, class Fn>
Result<T> decodeTyped(std::string_view json, std::string_view what, Fn&& decode) {
  OPSY_ASSIGN_OR_RETURN(json::Document doc, json::parseObject(json, what));
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
  json::Document doc;
  if (!obj.raw.empty()) {
    doc.Parse(obj.raw.data(), obj.raw.size());
  }
  if (obj.raw.empty() || doc.HasParseError() || !doc.IsObject()) {
    doc.SetObject();
  }
  auto& alloc = doc.GetAllocator();
  json::setString(doc, "apiVersion", T::resource().apiVersion(), alloc);
  json::setString(doc, "kind", T::resource().kind, alloc);
  encodeMeta(obj.metadata, doc, alloc);
  encode(doc, alloc);
  return json::writeJson(doc);
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

std::optional<std::int32_t> optInt32(const json::Value& obj, std::string_view key) {
  auto v = json::optInt64(obj, key);
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

std::vector<JobCondition> decodeConditions(const json::Value& status) {
  std::vector<JobCondition> out;
  const json::Value* list = json::member(status, "conditions");
  if (list == nullptr || !list->IsArray()) {
    return out;
  }
  for (const auto& c : list->GetArray()) {
    JobCondition cond;
    cond.type = json::stringOr(c, "type");
    cond.status = json::stringOr(c, "status");
    cond.reason = json::stringOr(c, "reason");
    cond.message = json::stringOr(c, "message");
    cond.last_transition_time = json::optTime(c, "lastTransitionTime");
    out.push_back(std::move(cond));
  }
  return out;
}

std::vector<ContainerStatus> decodeContainerStatuses(const json::Value& status,
                                                     std::string_view key) {
  std::vector<ContainerStatus> out;
  const json::Value* list = json::member(status, key);
  if (list == nullptr || !list->IsArray()) {
    return out;
  }
  for (const auto& c : list->GetArray()) {
    ContainerStatus cs;
    cs.name = json::stringOr(c, "name");
    cs.ready = json::optBool(c, "ready").value_or(false);
    cs.restart_count = optInt32(c, "restartCount").value_or(0);
    cs.image = json::stringOr(c, "image");
    const json::Value* state = json::member(c, "state");
    if (state != nullptr && state->IsObject()) {
      if (const json::Value* t = json::member(*state, "terminated"); t != nullptr) {
        cs.state = "terminated";
        cs.reason = json::stringOr(*t, "reason");
        cs.message = json::stringOr(*t, "message");
        cs.exit_code = optInt32(*t, "exitCode");
        cs.started_at = json::optTime(*t, "startedAt");
        cs.finished_at = json::optTime(*t, "finishedAt");
      } else if (const json::Value* r = json::member(*state, "running"); r != nullptr) {
        cs.state = "running";
        cs.started_at = json::optTime(*r, "startedAt");
      } else if (const json::Value* w = json::member(*state, "waiting"); w != nullptr) {
        cs.state = "waiting";
        cs.reason = json::stringOr(*w, "reason");
        cs.message = json::stringOr(*w, "message");
      }
    }
    out.push_back(std::move(cs));
  }
  return out;
}

}  // namespace

// ---- Job ----

Result<Job> Job::fromJson(std::string_view json) {
  return decodeTyped<Job>(json, "job", [](const json::Value& doc, Job& job) -> Status {
    if (const json::Value* spec = json::member(doc, "spec"); spec != nullptr && spec->IsObject()) {
      job.backoff_limit = optInt32(*spec, "backoffLimit");
      job.active_deadline_seconds = json::optInt64(*spec, "activeDeadlineSeconds");
      job.ttl_seconds_after_finished = optInt32(*spec, "ttlSecondsAfterFinished");
      job.completions = optInt32(*spec, "completions");
      job.parallelism = optInt32(*spec, "parallelism");
      job.suspend = json::optBool(*spec, "suspend");
      if (const json::Value* t = json::member(*spec, "template"); t != nullptr) {
        job.pod_template_json = json::writeJson(*t);
      }
    }
    if (const json::Value* st = json::member(doc, "status"); st != nullptr && st->IsObject()) {
      job.conditions = decodeConditions(*st);
      job.active = optInt32(*st, "active").value_or(0);
      job.ready = optInt32(*st, "ready").value_or(0);
      job.succeeded = optInt32(*st, "succeeded").value_or(0);
      job.failed = optInt32(*st, "failed").value_or(0);
      job.terminating = optInt32(*st, "terminating").value_or(0);
      job.start_time = json::optTime(*st, "startTime");
      job.completion_time = json::optTime(*st, "completionTime");
    }
    return ok();
  });
}

Result<Job> Job::fromObject(const Object& obj) {
  return fromObjectVia<Job>(obj);
}

std::string Job::toJson() const {
  return encodeTyped(*this, [this](json::Document& doc, json::Alloc& alloc) {
    json::Value& spec = json::objectMember(doc, "spec", alloc);
    json::setOptInt(spec, "backoffLimit", widen(backoff_limit), alloc);
    json::setOptInt(spec, "activeDeadlineSeconds", active_deadline_seconds, alloc);
    json::setOptInt(spec, "ttlSecondsAfterFinished", widen(ttl_seconds_after_finished), alloc);
    json::setOptInt(spec, "completions", widen(completions), alloc);
    json::setOptInt(spec, "parallelism", widen(parallelism), alloc);
    json::setOptBool(spec, "suspend", suspend, alloc);
    if (!pod_template_json.empty()) {
      json::Document t(&alloc);
      t.Parse(pod_template_json.data(), pod_template_json.size());
      if (!t.HasParseError()) {
        json::setMember(spec, "template", json::Value(t, alloc), alloc);
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
  return decodeTyped<Pod>(json, "pod", [](const json::Value& doc, Pod& pod) -> Status {
    if (const json::Value* spec = json::member(doc, "spec"); spec != nullptr) {
      pod.node_name = json::stringOr(*spec, "nodeName");
    }
    if (const json::Value* st = json::member(doc, "status"); st != nullptr && st->IsObject()) {
      pod.phase = json::stringOr(*st, "phase");
      pod.reason = json::stringOr(*st, "reason");
      pod.message = json::stringOr(*st, "message");
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
  return encodeTyped(*this, [](json::Document&, json::Alloc&) {});
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
  return decodeTyped<Secret>(json, "secret", [](const json::Value& doc, Secret& s) -> Status {
    s.type = json::stringOr(doc, "type");
    for (const auto& [key, encoded] : json::stringMap(doc, "data")) {
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
  return encodeTyped(*this, [this](json::Document& doc, json::Alloc& alloc) {
    json::setOptString(doc, "type", type, alloc);
    std::map<std::string, std::string> encoded;
    for (const auto& [k, v] : data) {
      encoded.emplace(k, base64Encode(v));
    }
    json::setStringMap(doc, "data", encoded, alloc);
  });
}

Object Secret::toObject() const {
  return toObjectVia(*this);
}

// ---- Event ----

Result<Event> Event::fromJson(std::string_view json) {
  return decodeTyped<Event>(json, "event", [](const json::Value& doc, Event& e) -> Status {
    if (const json::Value* r = json::member(doc, "regarding"); r != nullptr && r->IsObject()) {
      e.regarding = decodeObjectReference(*r);
    }
    if (const json::Value* r = json::member(doc, "related"); r != nullptr && r->IsObject()) {
      e.related = decodeObjectReference(*r);
    }
    e.note = json::stringOr(doc, "note");
    e.reason = json::stringOr(doc, "reason");
    e.action = json::stringOr(doc, "action");
    e.type = json::stringOr(doc, "type");
    e.event_time = json::optTime(doc, "eventTime");
    e.reporting_controller = json::stringOr(doc, "reportingController");
    e.reporting_instance = json::stringOr(doc, "reportingInstance");
    if (const json::Value* s = json::member(doc, "series"); s != nullptr && s->IsObject()) {
      e.series =
          EventSeries{optInt32(*s, "count").value_or(0), json::optTime(*s, "lastObservedTime")};
    }
    return ok();
  });
}

Result<Event> Event::fromObject(const Object& obj) {
  return fromObjectVia<Event>(obj);
}

std::string Event::toJson() const {
  return encodeTyped(*this, [this](json::Document& doc, json::Alloc& alloc) {
    json::setMember(doc, "regarding", encodeObjectReference(regarding, alloc), alloc);
    if (related.has_value()) {
      json::setMember(doc, "related", encodeObjectReference(*related, alloc), alloc);
    } else {
      json::removeMember(doc, "related");
    }
    json::setOptString(doc, "note", note, alloc);
    json::setOptString(doc, "reason", reason, alloc);
    json::setOptString(doc, "action", action, alloc);
    json::setOptString(doc, "type", type, alloc);
    json::setOptMicroTime(doc, "eventTime", event_time, alloc);
    json::setOptString(doc, "reportingController", reporting_controller, alloc);
    json::setOptString(doc, "reportingInstance", reporting_instance, alloc);
    if (series.has_value()) {
      json::Value s(rapidjson::kObjectType);
      json::setOptInt(s, "count", series->count, alloc);
      json::setOptMicroTime(s, "lastObservedTime", series->last_observed_time, alloc);
      json::setMember(doc, "series", std::move(s), alloc);
    } else {
      json::removeMember(doc, "series");
    }
  });
}

Object Event::toObject() const {
  return toObjectVia(*this);
}

// ---- Lease ----

Result<Lease> Lease::fromJson(std::string_view json) {
  return decodeTyped<Lease>(json, "lease", [](const json::Value& doc, Lease& l) -> Status {
    const json::Value* spec = json::member(doc, "spec");
    if (spec == nullptr || !spec->IsObject()) {
      return ok();
    }
    l.holder_identity = json::optString(*spec, "holderIdentity");
    l.lease_duration_seconds = optInt32(*spec, "leaseDurationSeconds");
    l.acquire_time = json::optTime(*spec, "acquireTime");
    l.renew_time = json::optTime(*spec, "renewTime");
    l.lease_transitions = optInt32(*spec, "leaseTransitions");
    l.strategy = json::stringOr(*spec, "strategy");
    l.preferred_holder = json::stringOr(*spec, "preferredHolder");
    return ok();
  });
}

Result<Lease> Lease::fromObject(const Object& obj) {
  return fromObjectVia<Lease>(obj);
}

std::string Lease::toJson() const {
  return encodeTyped(*this, [this](json::Document& doc, json::Alloc& alloc) {
    json::Value& spec = json::objectMember(doc, "spec", alloc);
    if (holder_identity.has_value()) {
      json::setString(spec, "holderIdentity", *holder_identity, alloc);
    } else {
      json::removeMember(spec, "holderIdentity");
    }
    json::setOptInt(spec, "leaseDurationSeconds", widen(lease_duration_seconds), alloc);
    json::setOptMicroTime(spec, "acquireTime", acquire_time, alloc);
    json::setOptMicroTime(spec, "renewTime", renew_time, alloc);
    json::setOptInt(spec, "leaseTransitions", widen(lease_transitions), alloc);
    json::setOptString(spec, "strategy", strategy, alloc);
    json::setOptString(spec, "preferredHolder", preferred_holder, alloc);
  });
}

Object Lease::toObject() const {
  return toObjectVia(*this);
}

}  // namespace opsy::kube

// Object storage of the fake Kubernetes API server: create/update/patch/delete with the real
// server's metadata rules, admission of custom resources, finalizers, garbage collection and the
// CRD registry. Every function here runs with mu_ held.
#include <openssl/evp.h>

#include <algorithm>

#include "support/fake_kube_impl.h"
#include "support/fake_kube_rules.h"
#include "support/fake_kube_schema.h"
#include "support/fake_kube_validation.h"

namespace opsy::testing {

namespace {

JsonValue& metadataOf(Json& doc) {
  return objectMember(doc, "metadata", doc.GetAllocator());
}

// The object without metadata (and without status when `skip_status`), for generation checks.
std::string contentOf(const JsonValue& object, bool skip_status) {
  Json copy;
  copy.CopyFrom(object, copy.GetAllocator());
  removeMember(copy, "metadata");
  if (skip_status) {
    removeMember(copy, "status");
  }
  return toJson(copy);
}

int64_t generationOf(const JsonValue& object) {
  const JsonValue* meta = member(object, "metadata");
  const JsonValue* g = meta != nullptr ? member(*meta, "generation") : nullptr;
  return g != nullptr && g->IsInt64() ? g->GetInt64() : 0;
}

bool hasFinalizers(const JsonValue& object) {
  const JsonValue* meta = member(object, "metadata");
  const JsonValue* f = meta != nullptr ? member(*meta, "finalizers") : nullptr;
  return f != nullptr && f->IsArray() && f->Size() > 0;
}

// Leaf paths of an applied configuration: objects are walked, lists and scalars are leaves.
void leafPaths(const JsonValue& value, const std::string& prefix, std::set<std::string>& out) {
  if (value.IsObject() && value.MemberCount() > 0) {
    for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      if (prefix.empty() && (key == "apiVersion" || key == "kind")) {
        continue;
      }
      if (prefix == ".metadata" &&
          (key == "name" || key == "namespace" || key == "resourceVersion" || key == "uid")) {
        continue;
      }
      leafPaths(it->value, prefix + "." + key, out);
    }
    return;
  }
  out.insert(prefix);
}

const JsonValue* valueAtPath(const JsonValue& root, const std::string& path) {
  const JsonValue* current = &root;
  size_t start = 1;
  while (current != nullptr && start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string key =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    current = member(*current, key);
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  return current;
}

void removeAtPath(JsonValue& root, const std::string& path) {
  size_t last = path.rfind('.');
  if (last == std::string::npos) {
    return;
  }
  JsonValue* parent =
      last == 0 ? &root : const_cast<JsonValue*>(valueAtPath(root, path.substr(0, last)));
  if (parent != nullptr) {
    removeMember(*parent, path.substr(last + 1));
  }
}

// Secrets: stringData is write-only; the server folds it into data (base64), where it wins over
// a data entry of the same key, and never returns it.
void foldSecretStringData(JsonValue& object, rapidjson::Document::AllocatorType& alloc) {
  JsonValue* string_data = member(object, "stringData");
  if (string_data == nullptr) {
    return;
  }
  if (string_data->IsObject()) {
    JsonValue& data = objectMember(object, "data", alloc);
    for (auto it = string_data->MemberBegin(); it != string_data->MemberEnd(); ++it) {
      if (!it->value.IsString()) {
        continue;
      }
      std::string plain(it->value.GetString(), it->value.GetStringLength());
      std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
      int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                              reinterpret_cast<const unsigned char*>(plain.data()),
                              static_cast<int>(plain.size()));
      encoded.resize(static_cast<size_t>(n));
      setString(data, std::string(it->name.GetString(), it->name.GetStringLength()), encoded,
                alloc);
    }
  }
  removeMember(object, "stringData");
}

// Built-in validation the controllers can trip over: events.k8s.io/v1 Events (strict rules for
// that API), core v1 Events (involvedObject namespace), Leases, and the x-kubernetes-validations
// rules of CustomResourceDefinitions here; names, labels, Secrets, ConfigMaps and Jobs in
// fake_kube_validation.cc.
std::vector<StatusCause> validateBuiltin(const ResourceType& type, const JsonValue& object,
                                         const std::string& ns) {
  std::vector<StatusCause> causes;
  auto required = [&](const char* field) {
    if (stringAt(object, {field}).empty()) {
      causes.push_back({"FieldValueRequired", "Required value", field});
    }
  };
  auto atMost = [&](const char* field, size_t limit) {
    if (stringAt(object, {field}).size() > limit) {
      causes.push_back(
          {"FieldValueInvalid",
           "Invalid value: \"\": can have at most " + std::to_string(limit) + " characters",
           field});
    }
  };
  if (type.group == "events.k8s.io" && type.plural == "events") {
    required("eventTime");
    const std::string event_type = stringAt(object, {"type"});
    if (event_type != "Normal" && event_type != "Warning") {
      causes.push_back(
          {"FieldValueInvalid", "Invalid value: \"\": has invalid value: " + event_type, "type"});
    }
    required("reportingController");
    required("reportingInstance");
    atMost("reportingInstance", 128);
    required("action");
    atMost("action", 128);
    required("reason");
    atMost("reason", 128);
    atMost("note", 1024);
    const std::string regarding_ns = stringAt(object, {"regarding", "namespace"});
    if (!regarding_ns.empty() && regarding_ns != ns) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: \"" + regarding_ns + "\": does not match event.namespace",
                        "regarding.namespace"});
    }
  } else if (type.group.empty() && type.plural == "events") {
    const std::string involved_ns = stringAt(object, {"involvedObject", "namespace"});
    if (!involved_ns.empty() && involved_ns != ns) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: \"" + involved_ns + "\": does not match event.namespace",
                        "involvedObject.namespace"});
    }
  } else if (type.plural == "customresourcedefinitions") {
    causes = checkCrdValidationRules(object);
  } else if (type.plural == "leases") {
    const JsonValue* spec = member(object, "spec");
    const JsonValue* duration = spec != nullptr ? member(*spec, "leaseDurationSeconds") : nullptr;
    if (duration != nullptr && duration->IsNumber() && duration->GetDouble() <= 0) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: " + toJson(*duration) + ": must be greater than 0",
                        "spec.leaseDurationSeconds"});
    }
    const JsonValue* transitions = spec != nullptr ? member(*spec, "leaseTransitions") : nullptr;
    if (transitions != nullptr && transitions->IsNumber() && transitions->GetDouble() < 0) {
      causes.push_back(
          {"FieldValueInvalid",
           "Invalid value: " + toJson(*transitions) + ": must be greater than or equal to 0",
           "spec.leaseTransitions"});
    }
  }
  auto general = validateObject(type, object, ns);
  causes.insert(causes.end(), general.begin(), general.end());
  return causes;
}

}  // namespace

std::string FakeKube::Impl::objectKey(std::string_view ns, std::string_view name) {
  return std::string(ns) + "/" + std::string(name);
}

JsonPtr FakeKube::Impl::getLocked(const ResourceType& type, std::string_view ns,
                                  std::string_view name) const {
  auto store = objects_.find(type.storageKey());
  if (store == objects_.end()) {
    return nullptr;
  }
  auto it = store->second.find(objectKey(type.namespaced ? ns : "", name));
  return it == store->second.end() ? nullptr : it->second;
}

JsonPtr FakeKube::Impl::withApiVersion(const JsonPtr& object, const ResourceType& type) const {
  if (object != nullptr && type.isEventsV1()) {
    return coreToEventsV1(*object);
  }
  if (object == nullptr || stringAt(*object, {"apiVersion"}) == type.apiVersion()) {
    return object;
  }
  auto copy = cloneJson(*object);
  setString(*copy, "apiVersion", type.apiVersion(), copy->GetAllocator());
  return copy;
}

void FakeKube::Impl::commitLocked(const ResourceType& type, const std::string& key, JsonPtr object,
                                  const std::string& event_type, JsonPtr previous) {
  auto& store = objects_[type.storageKey()];
  const std::string uid = stringAt(*object, {"metadata", "uid"});
  if (event_type == "DELETED") {
    store.erase(key);
    by_uid_.erase(uid);
    applied_fields_.erase(uid);
  } else {
    store[key] = object;
    by_uid_[uid] = {type.storageKey(), key};
  }
  history_.push_back(WatchEvent{rv_, type.storageKey(), event_type, object, std::move(previous)});
  while (history_.size() > options_.history_limit) {
    history_floor_ = history_.front().rv;
    history_.pop_front();
  }
  changed_.notify_all();
}

ApiResult<JsonPtr> FakeKube::Impl::createLocked(const ResourceType& type, const std::string& ns,
                                                Json object, const WriteOptions& options) {
  if (!object.IsObject()) {
    return apiFail(badRequestError("the body of the request is not a JSON object"));
  }
  auto& alloc = object.GetAllocator();
  // Adding members may move an object's members, so metadata is looked up afresh each time.
  auto meta = [&]() -> JsonValue& { return metadataOf(object); };
  std::string name = stringAt(object, {"metadata", "name"});
  if (name.empty()) {
    const std::string generate = stringAt(object, {"metadata", "generateName"});
    if (generate.empty()) {
      return apiFail(
          invalidError(type, "",
                       {{"FieldValueRequired", "Required value: name or generateName is required",
                         "metadata.name"}}));
    }
    name = generate + randomSuffix();
    setString(meta(), "name", name, alloc);
  }
  if (type.namespaced) {
    const std::string body_ns = stringAt(object, {"metadata", "namespace"});
    if (!body_ns.empty() && body_ns != ns) {
      return apiFail(badRequestError(
          "the namespace of the provided object does not match the namespace sent on the "
          "request"));
    }
    if (ns.empty()) {
      return apiFail(
          simpleError(404, "NotFound", "the server could not find the requested resource"));
    }
    static const ResourceType namespaces = builtinResourceTypes()[0];
    if (getLocked(namespaces, "", ns) == nullptr) {
      ApiError e = notFoundError(namespaces, ns);
      return apiFail(e);
    }
    setString(meta(), "namespace", ns, alloc);
  } else {
    removeMember(meta(), "namespace");
  }
  const std::string key = objectKey(type.namespaced ? ns : "", name);
  if (getLocked(type, ns, name) != nullptr) {
    return apiFail(alreadyExistsError(type, name));
  }
  if (type.isEventsV1() && !options.internal) {
    if (auto causes = validateBuiltin(type, object, ns); !causes.empty()) {
      return apiFail(invalidError(type, name, std::move(causes)));
    }
  }
  if (type.isEventsV1()) {
    eventsV1ToCore(object);
  }
  setString(object, "apiVersion", type.storedApiVersion(), alloc);
  setString(object, "kind", type.kind, alloc);
  if (!options.internal) {
    // As the API server's strategies do: a Namespace's and a Node's status are kept on create
    // (the kubelet registers its Node with its status); every other status is the controller's.
    if (type.hasStatus() && type.plural != "namespaces" && type.plural != "nodes") {
      removeMember(object, "status");
    }
    removeMember(meta(), "deletionTimestamp");
    removeMember(meta(), "managedFields");
  }
  if (type.custom && type.schema != nullptr && !options.internal) {
    std::vector<std::string> pruned;
    auto causes = admitCustomResource(object, *type.schema, alloc, &pruned, type.rules.get(),
                                      nullptr, options.warnings);
    if (!causes.empty()) {
      return apiFail(invalidError(type, name, std::move(causes)));
    }
    if (!pruned.empty()) {
      if (options.field_validation == "Strict") {
        std::string msg = "strict decoding error: ";
        for (size_t i = 0; i < pruned.size(); ++i) {
          msg += (i > 0 ? ", " : "") + std::string("unknown field \"") + pruned[i] + "\"";
        }
        return apiFail(badRequestError(msg));
      }
      if (options.field_validation != "Ignore" && options.warnings != nullptr) {
        for (const auto& p : pruned) {
          options.warnings->push_back("unknown field \"" + p + "\"");
        }
      }
    }
  }
  if (!options.internal) {
    if (auto decode = decodeError(type, object)) {
      return apiFail(*decode);
    }
  }
  if (!options.internal && !type.isEventsV1()) {
    if (auto causes = validateBuiltin(type, object, ns); !causes.empty()) {
      return apiFail(invalidError(type, name, std::move(causes)));
    }
  }
  // Type-specific defaults the real registry strategies apply.
  if (type.plural == "namespaces") {
    auto& spec = objectMember(object, "spec", alloc);
    JsonValue finalizers(rapidjson::kArrayType);
    finalizers.PushBack(str("kubernetes", alloc), alloc);
    setMember(spec, "finalizers", std::move(finalizers), alloc);
    setString(objectMember(object, "status", alloc), "phase", "Active", alloc);
    setString(objectMember(meta(), "labels", alloc), "kubernetes.io/metadata.name", name, alloc);
  } else if (type.group.empty() && type.plural == "secrets") {
    foldSecretStringData(object, alloc);
    if (stringAt(object, {"type"}).empty()) {
      setString(object, "type", "Opaque", alloc);
    }
  } else if (type.plural == "pods" && stringAt(object, {"status", "phase"}).empty()) {
    setString(objectMember(object, "status", alloc), "phase", "Pending", alloc);
  } else if (type.plural == "jobs" && !options.internal) {
    auto& spec = objectMember(object, "spec", alloc);
    auto& pod_spec = objectMember(objectMember(spec, "template", alloc), "spec", alloc);
    const std::string restart = stringAt(pod_spec, {"restartPolicy"});
    if (restart != "Never" && restart != "OnFailure") {
      return apiFail(
          invalidError(type, name,
                       {{restart.empty() ? "FieldValueRequired" : "FieldValueNotSupported",
                         restart.empty() ? "Required value: valid values: \"OnFailure\", \"Never\""
                                         : "Unsupported value: \"" + restart +
                                               "\": supported values: \"OnFailure\", \"Never\"",
                         "spec.template.spec.restartPolicy"}}));
    }
    if (member(spec, "backoffLimit") == nullptr) {
      setMember(spec, "backoffLimit", JsonValue(6), alloc);
    }
    if (member(spec, "completions") == nullptr) {
      setMember(spec, "completions", JsonValue(1), alloc);
    }
    if (member(spec, "parallelism") == nullptr) {
      setMember(spec, "parallelism", JsonValue(1), alloc);
    }
    if (member(spec, "suspend") == nullptr) {
      setMember(spec, "suspend", JsonValue(false), alloc);
    }
    if (member(spec, "completionMode") == nullptr) {
      setString(spec, "completionMode", "NonIndexed", alloc);
    }
  }
  if (type.plural == "customresourcedefinitions" && !options.internal) {
    removeMember(object, "status");
  }
  if (!options.internal && toJson(object).size() > kMaxStoredObjectBytes) {
    return apiFail(storedObjectTooLargeError());
  }
  if (options.dry_run) {
    return std::make_shared<Json>(std::move(object));
  }
  const std::string uid = newUid();
  setString(meta(), "uid", uid, alloc);
  setString(meta(), "resourceVersion", std::to_string(++rv_), alloc);
  if (stringAt(object, {"metadata", "creationTimestamp"}).empty() || !options.internal) {
    setString(meta(), "creationTimestamp", nowRfc3339(), alloc);
  }
  if (type.has_generation || type.custom) {
    setMember(meta(), "generation", JsonValue(int64_t{1}), alloc);
  }
  if (type.plural == "jobs") {
    // The Job controller's selector and labels (manualSelector not supported).
    auto& spec = objectMember(object, "spec", alloc);
    auto& selector = objectMember(spec, "selector", alloc);
    auto& match = objectMember(selector, "matchLabels", alloc);
    setString(match, "batch.kubernetes.io/controller-uid", uid, alloc);
    auto& tmeta = objectMember(objectMember(spec, "template", alloc), "metadata", alloc);
    auto& labels = objectMember(tmeta, "labels", alloc);
    setString(labels, "batch.kubernetes.io/controller-uid", uid, alloc);
    setString(labels, "batch.kubernetes.io/job-name", name, alloc);
    setString(labels, "controller-uid", uid, alloc);
    setString(labels, "job-name", name, alloc);
    auto& jlabels = objectMember(meta(), "labels", alloc);
    if (member(jlabels, "job-name") == nullptr) {
      setString(jlabels, "batch.kubernetes.io/controller-uid", uid, alloc);
      setString(jlabels, "batch.kubernetes.io/job-name", name, alloc);
      setString(jlabels, "controller-uid", uid, alloc);
      setString(jlabels, "job-name", name, alloc);
    }
  }
  if (type.plural == "customresourcedefinitions") {
    registerCrdLocked(object);
    auto& status = objectMember(object, "status", alloc);
    JsonValue conditions(rapidjson::kArrayType);
    for (const char* t : {"NamesAccepted", "Established"}) {
      JsonValue c(rapidjson::kObjectType);
      c.AddMember("type", str(t, alloc), alloc);
      c.AddMember("status", "True", alloc);
      c.AddMember("lastTransitionTime", str(nowRfc3339(), alloc), alloc);
      c.AddMember(
          "reason",
          str(std::string_view(t) == "Established" ? "InitialNamesAccepted" : "NoConflicts", alloc),
          alloc);
      c.AddMember("message",
                  str(std::string_view(t) == "Established" ? "the initial names have been accepted"
                                                           : "no conflicts found",
                      alloc),
                  alloc);
      conditions.PushBack(c, alloc);
    }
    setMember(status, "conditions", std::move(conditions), alloc);
    JsonValue accepted;
    if (const JsonValue* names = member(*member(object, "spec"), "names"); names != nullptr) {
      accepted.CopyFrom(*names, alloc);
    }
    setMember(status, "acceptedNames", std::move(accepted), alloc);
    JsonValue stored(rapidjson::kArrayType);
    if (const JsonValue* versions = member(*member(object, "spec"), "versions");
        versions != nullptr && versions->IsArray()) {
      for (const auto& v : versions->GetArray()) {
        if (const JsonValue* s = member(v, "storage");
            s != nullptr && s->IsBool() && s->GetBool()) {
          stored.PushBack(str(stringAt(v, {"name"}), alloc), alloc);
        }
      }
    }
    setMember(status, "storedVersions", std::move(stored), alloc);
  }
  auto stored = std::make_shared<Json>(std::move(object));
  commitLocked(type, key, stored, "ADDED", nullptr);
  if (type.plural == "jobs" && !options.internal) {
    startJobLocked(stored);
  }
  return stored;
}

ApiResult<JsonPtr> FakeKube::Impl::updateLocked(const ResourceType& type, const std::string& ns,
                                                const std::string& name,
                                                const std::string& subresource, Json object,
                                                const WriteOptions& options, bool check_rv) {
  JsonPtr current = getLocked(type, ns, name);
  if (current == nullptr) {
    return apiFail(notFoundError(type, name));
  }
  if (!object.IsObject()) {
    return apiFail(badRequestError("the body of the request is not a JSON object"));
  }
  const std::string body_name = stringAt(object, {"metadata", "name"});
  if (!body_name.empty() && body_name != name) {
    return apiFail(badRequestError("the name of the object (" + body_name +
                                   ") does not match the name on the URL (" + name + ")"));
  }
  if (type.isEventsV1()) {
    eventsV1ToCore(object);
  }
  const std::string body_rv = stringAt(object, {"metadata", "resourceVersion"});
  const std::string current_rv = stringAt(*current, {"metadata", "resourceVersion"});
  if (check_rv && body_rv.empty() && type.custom) {
    return apiFail(
        invalidError(type, name,
                     {{"FieldValueInvalid", "Invalid value: 0x0: must be specified for an update",
                       "metadata.resourceVersion"}}));
  }
  if (check_rv && !body_rv.empty() && body_rv != current_rv) {
    return apiFail(conflictError(type, name));
  }
  Json next;
  if (subresource == "status" && !options.internal) {
    // /status writes change only .status.
    next.CopyFrom(*current, next.GetAllocator());
    removeMember(next, "status");
    if (const JsonValue* status = member(object, "status"); status != nullptr) {
      JsonValue copy;
      copy.CopyFrom(*status, next.GetAllocator());
      next.AddMember("status", copy, next.GetAllocator());
    }
  } else {
    next.Swap(object);
    auto& nalloc = next.GetAllocator();
    if (type.hasStatus() && !options.internal) {
      removeMember(next, "status");
      if (const JsonValue* status = member(*current, "status"); status != nullptr) {
        JsonValue copy;
        copy.CopyFrom(*status, nalloc);
        next.AddMember("status", copy, nalloc);
      }
    }
    // System-owned metadata stays as stored.
    auto& meta = metadataOf(next);
    const JsonValue& old_meta = *member(*current, "metadata");
    for (const char* field : {"uid", "creationTimestamp", "namespace", "name", "generation",
                              "deletionTimestamp", "deletionGracePeriodSeconds"}) {
      removeMember(meta, field);
      if (const JsonValue* v = member(old_meta, field); v != nullptr) {
        JsonValue copy;
        copy.CopyFrom(*v, nalloc);
        meta.AddMember(str(field, nalloc), copy, nalloc);
      }
    }
    if (stringAt(*current, {"metadata", "deletionTimestamp"}).empty() == false) {
      // Finalizers may only be removed once deletion started; adding new ones is refused.
      const JsonValue* nf = member(meta, "finalizers");
      const JsonValue* of = member(old_meta, "finalizers");
      if (nf != nullptr && nf->IsArray()) {
        for (const auto& f : nf->GetArray()) {
          bool known = false;
          if (of != nullptr && of->IsArray()) {
            for (const auto& o : of->GetArray()) {
              known = known || o == f;
            }
          }
          if (!known) {
            return apiFail(invalidError(
                type, name,
                {{"FieldValueForbidden",
                  "Forbidden: no new finalizers can be added if the object is being deleted, "
                  "found new finalizers []string{\"" +
                      std::string(f.IsString() ? f.GetString() : "") + "\"}",
                  "metadata.finalizers"}}));
          }
        }
      }
    }
  }
  auto& nalloc = next.GetAllocator();
  if (type.group.empty() && type.plural == "secrets") {
    foldSecretStringData(next, nalloc);
  }
  setString(next, "apiVersion", type.storedApiVersion(), nalloc);
  setString(next, "kind", type.kind, nalloc);
  if (type.custom && type.schema != nullptr && !options.internal) {
    std::vector<std::string> pruned;
    auto causes = admitCustomResource(next, *type.schema, nalloc, &pruned, type.rules.get(),
                                      current.get(), options.warnings);
    if (!causes.empty()) {
      return apiFail(invalidError(type, name, std::move(causes)));
    }
    if (!pruned.empty() && options.field_validation == "Strict") {
      std::string msg = "strict decoding error: ";
      for (size_t i = 0; i < pruned.size(); ++i) {
        msg += (i > 0 ? ", " : "") + std::string("unknown field \"") + pruned[i] + "\"";
      }
      return apiFail(badRequestError(msg));
    }
    if (!pruned.empty() && options.field_validation != "Ignore" && options.warnings != nullptr) {
      for (const auto& p : pruned) {
        options.warnings->push_back("unknown field \"" + p + "\"");
      }
    }
  }
  if (!options.internal) {
    if (auto decode = decodeError(type, next)) {
      return apiFail(*decode);
    }
  }
  if (!options.internal && !type.custom && !type.isEventsV1()) {
    auto causes = validateBuiltin(type, next, ns);
    auto immutable = validateUpdate(type, *current, next);
    causes.insert(causes.end(), immutable.begin(), immutable.end());
    if (!causes.empty()) {
      return apiFail(invalidError(type, name, std::move(causes)));
    }
  }
  auto& meta = metadataOf(next);
  setString(meta, "resourceVersion", current_rv, nalloc);
  if (type.has_generation || type.custom) {
    int64_t generation = generationOf(*current);
    if (contentOf(next, type.hasStatus()) != contentOf(*current, type.hasStatus())) {
      ++generation;
    }
    setMember(meta, "generation", JsonValue(generation), nalloc);
  }
  // A no-op write changes nothing, not even the resourceVersion.
  if (next == *current) {
    return current;
  }
  if (!options.internal && toJson(next).size() > kMaxStoredObjectBytes) {
    return apiFail(storedObjectTooLargeError());
  }
  if (options.dry_run) {
    return std::make_shared<Json>(std::move(next));
  }
  const std::string key = objectKey(type.namespaced ? ns : "", name);
  if (!stringAt(next, {"metadata", "deletionTimestamp"}).empty() && !hasFinalizers(next)) {
    // Removing the last finalizer of an object being deleted deletes it.
    setString(meta, "resourceVersion", std::to_string(++rv_), nalloc);
    auto stored = std::make_shared<Json>(std::move(next));
    commitLocked(type, key, stored, "DELETED", current);
    collectGarbageLocked(stringAt(*stored, {"metadata", "uid"}), "Background");
    if (type.plural == "customresourcedefinitions") {
      unregisterCrdLocked(*stored);
    }
    return stored;
  }
  setString(meta, "resourceVersion", std::to_string(++rv_), nalloc);
  auto stored = std::make_shared<Json>(std::move(next));
  if (type.plural == "customresourcedefinitions") {
    registerCrdLocked(*stored);
  }
  commitLocked(type, key, stored, "MODIFIED", current);
  return stored;
}

ApiResult<JsonPtr> FakeKube::Impl::patchLocked(const ResourceType& type, const std::string& ns,
                                               const std::string& name,
                                               const std::string& subresource,
                                               const std::string& content_type,
                                               const std::string& body, const WriteOptions& options,
                                               bool force) {
  const bool apply = content_type == "application/apply-patch+yaml";
  // Patches apply to the object as this API version serves it.
  JsonPtr current = withApiVersion(getLocked(type, ns, name), type);
  if (current == nullptr && !apply) {
    return apiFail(notFoundError(type, name));
  }
  auto parsed = apply ? parseJsonOrYaml(body) : parseJson(body);
  if (!parsed) {
    return apiFail(badRequestError(parsed.error().message));
  }
  Json patch = std::move(*parsed);
  if (apply) {
    if (options.field_manager.empty()) {
      return apiFail(badRequestError(
          "PATCH requests with apply-patch must specify fieldManager (fieldManager is required "
          "for apply requests)"));
    }
    if (!patch.IsObject()) {
      return apiFail(badRequestError("apply patch must be an object"));
    }
    std::set<std::string> fields;
    leafPaths(patch, "", fields);
    if (current == nullptr) {
      setString(metadataOf(patch), "name", name, patch.GetAllocator());
      auto created = createLocked(type, ns, std::move(patch), options);
      if (created && !options.dry_run) {
        applied_fields_[stringAt(**created, {"metadata", "uid"})][options.field_manager] = fields;
      }
      return created;
    }
    const std::string uid = stringAt(*current, {"metadata", "uid"});
    auto& owners = applied_fields_[uid];
    std::vector<StatusCause> conflicts;
    for (const auto& field : fields) {
      for (const auto& [manager, owned] : owners) {
        if (manager == options.field_manager || owned.count(field) == 0) {
          continue;
        }
        const JsonValue* have = valueAtPath(*current, field);
        const JsonValue* want = valueAtPath(patch, field);
        if (have != nullptr && want != nullptr && *have != *want) {
          conflicts.push_back({"FieldManagerConflict", "conflict with \"" + manager + "\"", field});
        }
      }
    }
    if (!conflicts.empty() && !force) {
      std::string message = "Apply failed with " + std::to_string(conflicts.size()) +
                            (conflicts.size() == 1 ? " conflict: " : " conflicts: ");
      for (size_t i = 0; i < conflicts.size(); ++i) {
        message += (i > 0 ? "; " : "") + conflicts[i].message + ": " + conflicts[i].field;
      }
      ApiError e = conflictError(type, name);
      e.message = message;
      e.causes = std::move(conflicts);
      return apiFail(e);
    }
    Json next;
    next.CopyFrom(*current, next.GetAllocator());
    // Fields this manager applied before and no longer applies are removed, unless another
    // manager also owns them.
    for (const auto& old_field : owners[options.field_manager]) {
      if (fields.count(old_field) > 0) {
        continue;
      }
      bool shared = false;
      for (const auto& [manager, owned] : owners) {
        shared = shared || (manager != options.field_manager && owned.count(old_field) > 0);
      }
      if (!shared) {
        removeAtPath(next, old_field);
      }
    }
    applyMerge(next, patch, next.GetAllocator());
    setString(metadataOf(next), "resourceVersion",
              stringAt(*current, {"metadata", "resourceVersion"}), next.GetAllocator());
    auto updated = updateLocked(type, ns, name, subresource, std::move(next), options, false);
    if (updated && !options.dry_run) {
      if (force) {
        for (auto& [manager, owned] : owners) {
          for (const auto& f : fields) {
            owned.erase(f);
          }
        }
      }
      applied_fields_[uid][options.field_manager] = fields;
    }
    return updated;
  }
  Json next;
  next.CopyFrom(*current, next.GetAllocator());
  if (content_type == "application/merge-patch+json") {
    mergePatch(next, patch, next.GetAllocator());
  } else if (content_type == "application/strategic-merge-patch+json") {
    if (type.custom) {
      return apiFail(simpleError(
          415, "UnsupportedMediaType",
          "the body of the request was in an unknown format - accepted media types include: "
          "application/json-patch+json, application/merge-patch+json, "
          "application/apply-patch+yaml"));
    }
    strategicMergePatch(next, patch, next.GetAllocator());
  } else if (content_type == "application/json-patch+json") {
    auto patched = jsonPatch(next, patch);
    if (!patched) {
      ApiError e = simpleError(422, "Invalid", patched.error().message);
      return apiFail(e);
    }
  } else {
    return apiFail(simpleError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media "
                               "types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml"));
  }
  // A patch that sets metadata.resourceVersion is a precondition; otherwise none is checked.
  const std::string patched_rv = stringAt(next, {"metadata", "resourceVersion"});
  const std::string current_rv = stringAt(*current, {"metadata", "resourceVersion"});
  if (patched_rv != current_rv) {
    return apiFail(conflictError(type, name));
  }
  return updateLocked(type, ns, name, subresource, std::move(next), options, false);
}

ApiResult<JsonPtr> FakeKube::Impl::deleteLocked(const ResourceType& type, const std::string& ns,
                                                const std::string& name,
                                                const DeleteOptions& options, bool* deleted_now) {
  *deleted_now = false;
  JsonPtr current = getLocked(type, ns, name);
  if (current == nullptr) {
    return apiFail(notFoundError(type, name));
  }
  const std::string uid = stringAt(*current, {"metadata", "uid"});
  if (!options.precondition_uid.empty() && options.precondition_uid != uid) {
    return apiFail(conflictError(type, name,
                                 "Precondition failed: UID in precondition: " +
                                     options.precondition_uid + ", UID in object meta: " + uid));
  }
  const std::string current_rv = stringAt(*current, {"metadata", "resourceVersion"});
  if (!options.precondition_rv.empty() && options.precondition_rv != current_rv) {
    return apiFail(conflictError(
        type, name,
        "Precondition failed: ResourceVersion in precondition: " + options.precondition_rv +
            ", ResourceVersion in object meta: " + current_rv));
  }
  if (options.dry_run) {
    return current;
  }
  std::string propagation = options.propagation;
  if (propagation.empty()) {
    // batch/v1 Jobs orphan their Pods unless told otherwise; everything else cascades.
    propagation = type.plural == "jobs" ? "Orphan" : "Background";
  }
  const std::string key = objectKey(type.namespaced ? ns : "", name);
  if (type.plural == "namespaces") {
    // The namespace controller's work, done at once: every namespaced object goes.
    std::vector<std::pair<ResourceTypePtr, std::string>> victims;
    for (const auto& t : types_) {
      if (!t->namespaced) {
        continue;
      }
      auto store = objects_.find(t->storageKey());
      if (store == objects_.end()) {
        continue;
      }
      for (const auto& [k, obj] : store->second) {
        if (k.rfind(name + "/", 0) == 0) {
          victims.emplace_back(t, stringAt(*obj, {"metadata", "name"}));
        }
      }
    }
    for (const auto& [t, victim] : victims) {
      if (getLocked(*t, name, victim) != nullptr) {
        JsonPtr obj = getLocked(*t, name, victim);
        auto gone = cloneJson(*obj);
        setString(metadataOf(*gone), "resourceVersion", std::to_string(++rv_),
                  gone->GetAllocator());
        commitLocked(*t, objectKey(name, victim), gone, "DELETED", obj);
      }
    }
  }
  const bool already_deleting = !stringAt(*current, {"metadata", "deletionTimestamp"}).empty();
  if (hasFinalizers(*current) || propagation == "Foreground") {
    auto next = cloneJson(*current);
    auto& alloc = next->GetAllocator();
    auto& meta = metadataOf(*next);
    if (!already_deleting) {
      setString(meta, "deletionTimestamp", nowRfc3339(), alloc);
      setMember(meta, "deletionGracePeriodSeconds", JsonValue(0), alloc);
    }
    if (propagation == "Foreground" && !hasFinalizers(*current)) {
      // Foreground: dependents go first, then the owner (its finalizer is removed right away).
      collectGarbageLocked(uid, "Foreground");
      auto gone = cloneJson(*next);
      setString(metadataOf(*gone), "resourceVersion", std::to_string(++rv_), gone->GetAllocator());
      commitLocked(type, key, gone, "DELETED", current);
      *deleted_now = true;
      return gone;
    }
    if (propagation == "Foreground") {
      collectGarbageLocked(uid, "Foreground");
    }
    if (already_deleting) {
      return current;
    }
    setString(meta, "resourceVersion", std::to_string(++rv_), alloc);
    commitLocked(type, key, next, "MODIFIED", current);
    return next;
  }
  auto gone = cloneJson(*current);
  setString(metadataOf(*gone), "resourceVersion", std::to_string(++rv_), gone->GetAllocator());
  commitLocked(type, key, gone, "DELETED", current);
  *deleted_now = true;
  collectGarbageLocked(uid, propagation);
  if (type.plural == "customresourcedefinitions") {
    unregisterCrdLocked(*gone);
  }
  if (type.plural == "pods") {
    pod_logs_[key].finished = true;
  }
  return gone;
}

void FakeKube::Impl::collectGarbageLocked(const std::string& owner_uid,
                                          const std::string& propagation) {
  // Find dependents: objects with an ownerReference to owner_uid.
  std::vector<std::pair<ResourceTypePtr, JsonPtr>> dependents;
  for (const auto& t : types_) {
    auto store = objects_.find(t->storageKey());
    if (store == objects_.end()) {
      continue;
    }
    for (const auto& [k, obj] : store->second) {
      const JsonValue* meta = member(*obj, "metadata");
      const JsonValue* refs = meta != nullptr ? member(*meta, "ownerReferences") : nullptr;
      if (refs == nullptr || !refs->IsArray()) {
        continue;
      }
      for (const auto& ref : refs->GetArray()) {
        if (stringAt(ref, {"uid"}) == owner_uid) {
          dependents.emplace_back(t, obj);
          break;
        }
      }
    }
  }
  for (const auto& [t, obj] : dependents) {
    const std::string ns = stringAt(*obj, {"metadata", "namespace"});
    const std::string name = stringAt(*obj, {"metadata", "name"});
    if (getLocked(*t, ns, name) != obj) {
      continue;  // already changed during this sweep
    }
    // Remaining live owners keep the dependent; the dangling reference is removed.
    bool other_owner_alive = false;
    for (const auto& ref : member(*member(*obj, "metadata"), "ownerReferences")->GetArray()) {
      const std::string uid = stringAt(ref, {"uid"});
      other_owner_alive = other_owner_alive || (uid != owner_uid && by_uid_.count(uid) > 0);
    }
    if (propagation == "Orphan" || other_owner_alive) {
      auto next = cloneJson(*obj);
      auto& refs = *member(metadataOf(*next), "ownerReferences");
      for (auto it = refs.Begin(); it != refs.End();) {
        it = stringAt(*it, {"uid"}) == owner_uid ? refs.Erase(it) : it + 1;
      }
      if (refs.Empty()) {
        removeMember(metadataOf(*next), "ownerReferences");
      }
      WriteOptions internal;
      internal.internal = true;
      (void)updateLocked(*t, ns, name, "", std::move(*next), internal, false);
      continue;
    }
    bool deleted = false;
    DeleteOptions options;
    options.propagation = propagation == "Foreground" ? "Foreground" : "Background";
    (void)deleteLocked(*t, ns, name, options, &deleted);
  }
}

void FakeKube::Impl::registerCrdLocked(const JsonValue& crd) {
  const JsonValue* spec = member(crd, "spec");
  if (spec == nullptr) {
    return;
  }
  unregisterCrdLocked(crd);
  const JsonValue* names = member(*spec, "names");
  const JsonValue* versions = member(*spec, "versions");
  if (names == nullptr || versions == nullptr || !versions->IsArray()) {
    return;
  }
  for (const auto& v : versions->GetArray()) {
    const JsonValue* served = member(v, "served");
    if (served != nullptr && served->IsBool() && !served->GetBool()) {
      continue;
    }
    auto t = std::make_shared<ResourceType>();
    t->group = stringAt(*spec, {"group"});
    t->version = stringAt(v, {"name"});
    t->plural = stringAt(*names, {"plural"});
    t->kind = stringAt(*names, {"kind"});
    t->singular = stringAt(*names, {"singular"});
    if (t->singular.empty()) {
      t->singular = t->kind;
      std::transform(t->singular.begin(), t->singular.end(), t->singular.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
    t->namespaced = stringAt(*spec, {"scope"}) != "Cluster";
    for (const char* list : {"shortNames", "categories"}) {
      if (const JsonValue* values = member(*names, list); values != nullptr && values->IsArray()) {
        for (const auto& s : values->GetArray()) {
          (std::string_view(list) == "shortNames" ? t->short_names : t->categories)
              .push_back(s.GetString());
        }
      }
    }
    if (const JsonValue* sub = member(v, "subresources"); sub != nullptr) {
      if (member(*sub, "status") != nullptr) {
        t->subresources.push_back("status");
      }
    }
    t->custom = true;
    t->has_generation = true;
    t->return_deleted_object = false;  // the custom resource store answers with a Status
    if (const JsonValue* columns = member(v, "additionalPrinterColumns");
        columns != nullptr && columns->IsArray()) {
      t->printer_columns = cloneJson(*columns);
    }
    if (const JsonValue* schema = member(v, "schema"); schema != nullptr) {
      if (const JsonValue* open_api = member(*schema, "openAPIV3Schema"); open_api != nullptr) {
        t->schema = cloneJson(*open_api);
        t->rules = compileValidationRules(t->schema);
      }
    }
    types_.push_back(t);
  }
}

void FakeKube::Impl::unregisterCrdLocked(const JsonValue& crd) {
  const std::string group = stringAt(crd, {"spec", "group"});
  const std::string plural = stringAt(crd, {"spec", "names", "plural"});
  const bool deleted =
      getLocked(*findTypeLocked("apiextensions.k8s.io", "v1", "customresourcedefinitions"), "",
                stringAt(crd, {"metadata", "name"})) == nullptr;
  if (deleted) {
    // The CRD's cleanup finalizer: its custom resources go with it.
    if (auto t = findTypeLocked(group, "", plural); t != nullptr) {
      auto store = objects_.find(t->storageKey());
      if (store != objects_.end()) {
        auto copy = store->second;
        for (const auto& [k, obj] : copy) {
          auto gone = cloneJson(*obj);
          setString(metadataOf(*gone), "resourceVersion", std::to_string(++rv_),
                    gone->GetAllocator());
          commitLocked(*t, k, gone, "DELETED", obj);
        }
      }
    }
  }
  types_.erase(std::remove_if(types_.begin(), types_.end(),
                              [&](const ResourceTypePtr& t) {
                                return t->custom && t->group == group && t->plural == plural;
                              }),
               types_.end());
}

}  // namespace opsy::testing

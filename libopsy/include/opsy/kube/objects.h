// File: objects.h
//
// Typed built-in objects the controllers read and write: batch/v1 Job, v1 Pod, v1 Secret,
// events.k8s.io/v1 Event and coordination.k8s.io/v1 Lease. Only the fields the operator uses are
// modeled; like Object, each keeps the JSON it came from and toJson() writes the modeled fields
// back into it, so the rest of the object is preserved on update.
//
//   OPSY_ASSIGN_OR_RETURN(Job job, Job::fromObject(obj));
//   if (job.finished()) { ... job.condition("Failed") ... }
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/kube/object.h"
#include "opsy/kube/resource.h"

namespace opsy::kube {

// A Job's status condition as the server reports it (status conditions a controller writes are
// kube::Condition in conditions.h).
struct JobCondition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  std::optional<TimePoint> last_transition_time;

  bool isTrue() const { return status == "True"; }
};

// Shared by every typed object: the modeled metadata plus the JSON text the object came from.
struct TypedObject {
  ObjectMeta metadata;
  // JSON the object was decoded from; empty for an object built in code.
  std::string raw;

  std::string key() const { return objectKey(metadata.ns, metadata.name); }
};

struct Job : TypedObject {
  static const Resource& resource() { return resources::jobs(); }
  [[nodiscard]] static Result<Job> fromJson(std::string_view json);
  [[nodiscard]] static Result<Job> fromObject(const Object& obj);
  std::string toJson() const;
  Object toObject() const;

  // Spec fields a builder sets; unset fields are left to the server's defaults.
  std::optional<std::int32_t> backoff_limit;
  std::optional<std::int64_t> active_deadline_seconds;
  std::optional<std::int32_t> ttl_seconds_after_finished;
  std::optional<std::int32_t> completions;
  std::optional<std::int32_t> parallelism;
  std::optional<bool> suspend;
  // spec.template (a PodTemplateSpec) as JSON text; empty leaves the stored template alone.
  std::string pod_template_json;

  // Status (read-only).
  std::vector<JobCondition> conditions;
  std::int32_t active = 0;
  std::int32_t ready = 0;
  std::int32_t succeeded = 0;
  std::int32_t failed = 0;
  std::int32_t terminating = 0;
  std::optional<TimePoint> start_time;
  std::optional<TimePoint> completion_time;

  const JobCondition* condition(std::string_view type) const;
  // A terminal condition (Complete or Failed) is True.
  bool finished() const;
  bool succeededTerminally() const;
  bool failedTerminally() const;
};

struct ContainerStatus {
  std::string name;
  bool ready = false;
  std::int32_t restart_count = 0;
  std::string image;
  // Exactly one state is set by the kubelet; `state` says which ("waiting", "running",
  // "terminated", or "" when unknown).
  std::string state;
  std::string reason;   // waiting or terminated reason
  std::string message;  // waiting message, or the terminated container's termination message
  std::optional<std::int32_t> exit_code;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
};

struct Pod : TypedObject {
  static const Resource& resource() { return resources::pods(); }
  [[nodiscard]] static Result<Pod> fromJson(std::string_view json);
  [[nodiscard]] static Result<Pod> fromObject(const Object& obj);
  std::string toJson() const;
  Object toObject() const;

  std::string phase;  // Pending | Running | Succeeded | Failed | Unknown
  std::string reason;
  std::string message;
  std::string node_name;
  std::vector<ContainerStatus> init_container_statuses;
  std::vector<ContainerStatus> container_statuses;

  const ContainerStatus* containerStatus(std::string_view name) const;
};

struct Secret : TypedObject {
  static const Resource& resource() { return resources::secrets(); }
  // Fails when a data value is not valid base64, naming the key.
  [[nodiscard]] static Result<Secret> fromJson(std::string_view json);
  [[nodiscard]] static Result<Secret> fromObject(const Object& obj);
  std::string toJson() const;
  Object toObject() const;

  std::string type;  // "Opaque", "kubernetes.io/basic-auth", ...
  // Decoded values (the wire carries them base64-encoded).
  std::map<std::string, std::string> data;
};

struct EventSeries {
  std::int32_t count = 0;
  std::optional<TimePoint> last_observed_time;
};

// events.k8s.io/v1 Event.
struct Event : TypedObject {
  static const Resource& resource() { return resources::events(); }
  [[nodiscard]] static Result<Event> fromJson(std::string_view json);
  [[nodiscard]] static Result<Event> fromObject(const Object& obj);
  std::string toJson() const;
  Object toObject() const;

  ObjectReference regarding;
  std::optional<ObjectReference> related;
  std::string note;
  std::string reason;
  std::string action;
  std::string type;                     // Normal | Warning
  std::optional<TimePoint> event_time;  // MicroTime, required by the server
  std::string reporting_controller;
  std::string reporting_instance;
  std::optional<EventSeries> series;
};

// coordination.k8s.io/v1 Lease.
struct Lease : TypedObject {
  static const Resource& resource() { return resources::leases(); }
  [[nodiscard]] static Result<Lease> fromJson(std::string_view json);
  [[nodiscard]] static Result<Lease> fromObject(const Object& obj);
  std::string toJson() const;
  Object toObject() const;

  std::optional<std::string> holder_identity;
  std::optional<std::int32_t> lease_duration_seconds;
  std::optional<TimePoint> acquire_time;  // MicroTime
  std::optional<TimePoint> renew_time;    // MicroTime
  std::optional<std::int32_t> lease_transitions;
  std::string strategy;
  std::string preferred_holder;
};

}  // namespace opsy::kube

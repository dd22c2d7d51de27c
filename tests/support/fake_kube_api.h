// File: fake_kube_api.h
//
// The fake Kubernetes API server's vocabulary (internal): served resource types (built-in and
// CRD-defined), discovery documents built from them, and the `Status` error bodies the real API
// server returns (NotFound, AlreadyExists, Conflict, Invalid with causes, Expired, ...).
//
//   ApiError e = notFoundError(type, "x");  res.status = e.code;  res.body = statusBody(e);
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "opsy/core/clock.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {

class ValidationRules;  // fake_kube_rules.h

struct ResourceType {
  std::string group;
  std::string version;
  std::string plural;
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> subresources;  // "status", "log", ...
  bool has_generation = false;
  bool custom = false;                 // served from a CustomResourceDefinition
  bool return_deleted_object = false;  // DELETE answers with the object instead of a Status
  JsonPtr schema;                      // openAPIV3Schema of a custom resource version
  // The schema's x-kubernetes-validations, compiled (nullptr when it has none).
  std::shared_ptr<const ValidationRules> rules;
  // Objects live in another resource's store and are converted on the way in and out
  // (events.k8s.io/v1 Events are stored as core v1 Events).
  std::string storage_override;
  // additionalPrinterColumns of a custom resource version (array), for Table output.
  JsonPtr printer_columns;
  // Verbs discovery lists; empty: all of them.
  std::vector<std::string> verbs;
  // A review (TokenReview, SubjectAccessReview): only create, answered and never stored.
  bool review = false;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "pods", "jobs.batch": the name the real server uses in messages.
  std::string qualifiedResource() const { return group.empty() ? plural : plural + "." + group; }
  // "Pod", "PackerBuilder.ami.refresh.ops": the kind in Invalid messages.
  std::string qualifiedKind() const { return group.empty() ? kind : kind + "." + group; }
  std::string storageKey() const {
    return storage_override.empty() ? group + "/" + plural : storage_override;
  }
  bool isEventsV1() const { return group == "events.k8s.io" && plural == "events"; }
  // apiVersion of the stored form.
  std::string storedApiVersion() const { return isEventsV1() ? "v1" : apiVersion(); }
  bool hasStatus() const;
};
using ResourceTypePtr = std::shared_ptr<const ResourceType>;

std::vector<ResourceType> builtinResourceTypes();

// events.k8s.io/v1 Event <-> core v1 Event (the two APIs share stored objects).
void eventsV1ToCore(Json& event);
std::shared_ptr<Json> coreToEventsV1(const JsonValue& event);

struct StatusCause {
  std::string reason;   // FieldValueRequired, FieldValueNotSupported, FieldValueInvalid, ...
  std::string message;  // Unsupported value: "ask": supported values: "a", "b"
  std::string field;    // spec.builder.commands[0].onError
};

struct ApiError {
  int code = 500;
  std::string reason;  // NotFound, AlreadyExists, Conflict, Invalid, Expired, ...
  std::string message;
  std::string name;
  std::string group;
  std::string kind;
  std::vector<StatusCause> causes;
  int retry_after_seconds = 0;
  bool has_details = true;
};

std::string statusBody(const ApiError& error);
JsonPtr statusObject(const ApiError& error);

ApiError notFoundError(const ResourceType& type, const std::string& name);
ApiError alreadyExistsError(const ResourceType& type, const std::string& name);
ApiError conflictError(const ResourceType& type, const std::string& name,
                       const std::string& why =
                           "the object has been modified; please apply your "
                           "changes to the latest version and try again");
ApiError invalidError(const ResourceType& type, const std::string& name,
                      std::vector<StatusCause> causes);
ApiError badRequestError(const std::string& message);
ApiError expiredError(const std::string& message);
ApiError simpleError(int code, const std::string& reason, const std::string& message);

// Table output (meta.k8s.io/v1) for custom resources, as kubectl asks for it: the Name column,
// then the CRD's additionalPrinterColumns (or Age), cells evaluated from simple JSONPaths.
bool wantsTable(const std::string& accept_header);
std::shared_ptr<Json> tableFor(const ResourceType& type, const std::vector<JsonPtr>& objects,
                               bool with_columns, const std::string& resource_version,
                               TimePoint now, std::string_view include_object = "Metadata");
// Kubernetes' human-readable age: 45s, 3m20s, 5h, 2d3h, ...
std::string humanDuration(std::chrono::seconds d);

// Discovery documents.
std::string apiVersionsBody(const std::string& server_address);
std::string resourceListBody(const std::string& group_version,
                             const std::vector<ResourceTypePtr>& types);
// groups: group -> versions (preferred first).
std::string groupListBody(const std::map<std::string, std::vector<std::string>>& groups);
std::string groupBody(const std::string& group, const std::vector<std::string>& versions);
std::string versionBody();

// OpenAPI v3: the root index of group-versions, and one group-version's document (paths whose
// PATCH operations declare fieldValidation, and component schemas tagged with their GVK; a custom
// resource's schema is its openAPIV3Schema).
std::string openApiRootBody(const std::vector<ResourceTypePtr>& types);
std::string openApiGroupVersionBody(const std::vector<ResourceTypePtr>& types);

}  // namespace opsy::testing

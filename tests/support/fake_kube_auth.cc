// FakeKube's authentication and authorisation: TokenReview, SubjectAccessReview and the RBAC
// evaluation behind them (fake_kube_impl.h). RBAC is evaluated as the real authorizer does for
// the rules it reads: ClusterRoleBindings grant ClusterRoles everywhere, RoleBindings grant a Role
// or a ClusterRole within their namespace; subjects are Users, Groups and ServiceAccounts;
// "system:masters" may do anything. Not modelled: aggregated ClusterRoles, escalation checks.
#include <fmt/format.h>

#include <algorithm>

#include "support/fake_kube_impl.h"

namespace opsy::testing {
namespace {

bool contains(const JsonValue& object, const char* key, std::string_view value) {
  const JsonValue* list = member(object, key);
  if (list == nullptr || !list->IsArray()) {
    return false;
  }
  for (const auto& v : list->GetArray()) {
    if (v.IsString() &&
        (std::string_view(v.GetString()) == value || v.GetString() == std::string_view("*"))) {
      return true;
    }
  }
  return false;
}

// nonResourceURLs: exact, or a prefix ending in "*" ("*" alone matches everything).
bool matchesNonResourceUrl(const JsonValue& rule, std::string_view path) {
  const JsonValue* urls = member(rule, "nonResourceURLs");
  if (urls == nullptr || !urls->IsArray()) {
    return false;
  }
  for (const auto& u : urls->GetArray()) {
    if (!u.IsString()) {
      continue;
    }
    std::string_view url(u.GetString(), u.GetStringLength());
    if (url == path || (!url.empty() && url.back() == '*' &&
                        path.substr(0, url.size() - 1) == url.substr(0, url.size() - 1))) {
      return true;
    }
  }
  return false;
}

bool ruleAllows(const JsonValue& rule, const AccessRequest& request) {
  if (!contains(rule, "verbs", request.verb)) {
    return false;
  }
  if (!request.resource_request) {
    return matchesNonResourceUrl(rule, request.path);
  }
  if (!contains(rule, "apiGroups", request.group)) {
    return false;
  }
  const std::string resource =
      request.subresource.empty() ? request.resource : request.resource + "/" + request.subresource;
  bool resource_match = contains(rule, "resources", resource);
  if (!resource_match && !request.subresource.empty()) {
    resource_match = contains(rule, "resources", "*/" + request.subresource);
  }
  if (!resource_match) {
    return false;
  }
  const JsonValue* names = member(rule, "resourceNames");
  if (names != nullptr && names->IsArray() && !names->Empty()) {
    return !request.name.empty() && contains(rule, "resourceNames", request.name);
  }
  return true;
}

// Which subject of a binding names this user, as the real authorizer describes it ("User \"x\"").
std::optional<std::string> matchingSubject(const JsonValue& binding, const FakeUser& user) {
  const JsonValue* subjects = member(binding, "subjects");
  if (subjects == nullptr || !subjects->IsArray()) {
    return std::nullopt;
  }
  for (const auto& s : subjects->GetArray()) {
    const std::string kind = stringAt(s, {"kind"});
    const std::string name = stringAt(s, {"name"});
    if (kind == "User" && name == user.username) {
      return fmt::format("User \"{}\"", name);
    }
    if (kind == "Group" &&
        std::find(user.groups.begin(), user.groups.end(), name) != user.groups.end()) {
      return fmt::format("Group \"{}\"", name);
    }
    if (kind == "ServiceAccount") {
      std::string ns = stringAt(s, {"namespace"});
      if (user.username == "system:serviceaccount:" + ns + ":" + name) {
        return fmt::format("ServiceAccount \"{}/{}\"", ns, name);
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> jsonStrings(const JsonValue& object, const char* key) {
  std::vector<std::string> out;
  const JsonValue* list = member(object, key);
  if (list != nullptr && list->IsArray()) {
    for (const auto& v : list->GetArray()) {
      if (v.IsString()) {
        out.emplace_back(v.GetString(), v.GetStringLength());
      }
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> implicitGroups(const std::string& username) {
  std::vector<std::string> groups;
  constexpr std::string_view kPrefix = "system:serviceaccount:";
  if (username.rfind(kPrefix, 0) == 0) {
    std::string rest = username.substr(kPrefix.size());
    groups.push_back("system:serviceaccounts");
    groups.push_back("system:serviceaccounts:" + rest.substr(0, rest.find(':')));
  }
  groups.push_back("system:authenticated");
  return groups;
}

std::optional<FakeUser> FakeKube::Impl::userForToken(const std::string& token) const {
  std::lock_guard lock(token_mu_);
  if (token == token_) {
    FakeUser self;
    self.token = token;
    self.username = options_.token_user;
    self.uid = "fake-uid-controller";
    self.groups = implicitGroups(self.username);
    return self;
  }
  auto it = users_.find(token);
  if (it == users_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::optional<std::string> FakeKube::Impl::allowedByLocked(const FakeUser& user,
                                                           const AccessRequest& request) const {
  if (std::find(user.groups.begin(), user.groups.end(), "system:masters") != user.groups.end()) {
    return "allowed by group \"system:masters\"";
  }
  auto objects = [&](const char* plural) -> const std::map<std::string, JsonPtr>* {
    auto it = objects_.find("rbac.authorization.k8s.io/" + std::string(plural));
    return it == objects_.end() ? nullptr : &it->second;
  };
  auto roleRules = [&](const std::string& kind, const std::string& ns,
                       const std::string& name) -> const JsonValue* {
    const auto* roles = objects(kind == "ClusterRole" ? "clusterroles" : "roles");
    if (roles == nullptr) {
      return nullptr;
    }
    auto it = roles->find(objectKey(kind == "ClusterRole" ? "" : ns, name));
    return it == roles->end() ? nullptr : member(*it->second, "rules");
  };
  auto grants = [&](const JsonValue* rules) {
    if (rules == nullptr || !rules->IsArray()) {
      return false;
    }
    for (const auto& rule : rules->GetArray()) {
      if (ruleAllows(rule, request)) {
        return true;
      }
    }
    return false;
  };
  if (const auto* bindings = objects("clusterrolebindings")) {
    for (const auto& [key, binding] : *bindings) {
      const std::string role_kind = stringAt(*binding, {"roleRef", "kind"});
      const std::string role = stringAt(*binding, {"roleRef", "name"});
      auto subject = matchingSubject(*binding, user);
      if (!subject || role_kind != "ClusterRole" || !grants(roleRules(role_kind, "", role))) {
        continue;
      }
      return fmt::format("RBAC: allowed by ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to {}",
                         stringAt(*binding, {"metadata", "name"}), role, *subject);
    }
  }
  if (request.resource_request && !request.ns.empty()) {
    if (const auto* bindings = objects("rolebindings")) {
      for (const auto& [key, binding] : *bindings) {
        if (stringAt(*binding, {"metadata", "namespace"}) != request.ns) {
          continue;
        }
        const std::string role_kind = stringAt(*binding, {"roleRef", "kind"});
        const std::string role = stringAt(*binding, {"roleRef", "name"});
        auto subject = matchingSubject(*binding, user);
        if (!subject || !grants(roleRules(role_kind, request.ns, role))) {
          continue;
        }
        return fmt::format("RBAC: allowed by RoleBinding \"{}/{}\" of {} \"{}\" to {}",
                           stringAt(*binding, {"metadata", "name"}), request.ns, role_kind, role,
                           *subject);
      }
    }
  }
  return std::nullopt;
}

ApiResult<JsonPtr> FakeKube::Impl::reviewLocked(const ResourceType& type, const Json& body) {
  if (stringAt(body, {"kind"}) != type.kind) {
    return apiFail(badRequestError(fmt::format("not a {}", type.kind)));
  }
  auto out = cloneJson(body);
  auto& a = out->GetAllocator();
  setString(*out, "apiVersion", type.apiVersion(), a);
  JsonValue status(rapidjson::kObjectType);
  const JsonValue* spec = member(body, "spec");
  static const JsonValue kEmpty(rapidjson::kObjectType);
  if (spec == nullptr || !spec->IsObject()) {
    spec = &kEmpty;
  }

  if (type.plural == "tokenreviews") {
    const std::string token = stringAt(*spec, {"token"});
    if (token.empty()) {
      return apiFail(badRequestError("token is required for TokenReview in authentication"));
    }
    auto user = userForToken(token);
    JsonValue user_info(rapidjson::kObjectType);
    if (user) {
      status.AddMember("authenticated", true, a);
      user_info.AddMember("username", str(user->username, a), a);
      user_info.AddMember("uid", str(user->uid, a), a);
      JsonValue groups(rapidjson::kArrayType);
      for (const auto& g : user->groups) {
        groups.PushBack(str(g, a), a);
      }
      user_info.AddMember("groups", groups, a);
      status.AddMember("user", user_info, a);
      JsonValue audiences(rapidjson::kArrayType);
      audiences.PushBack("https://kubernetes.default.svc", a);
      status.AddMember("audiences", audiences, a);
    } else {
      status.AddMember("user", user_info, a);
      status.AddMember("error", "[invalid bearer token, token lookup failed]", a);
    }
  } else {
    // SubjectAccessReview, validated as the real server does before deciding.
    const JsonValue* resource_attrs = member(*spec, "resourceAttributes");
    const JsonValue* non_resource_attrs = member(*spec, "nonResourceAttributes");
    FakeUser user;
    user.username = stringAt(*spec, {"user"});
    user.groups = jsonStrings(*spec, "groups");
    std::vector<StatusCause> causes;
    if (resource_attrs != nullptr && non_resource_attrs != nullptr) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: \"object\": cannot be specified in combination with "
                        "resourceAttributes",
                        "spec.nonResourceAttributes"});
    }
    if (resource_attrs == nullptr && non_resource_attrs == nullptr) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: \"null\": exactly one of nonResourceAttributes or "
                        "resourceAttributes must be specified",
                        "spec.resourceAttributes"});
    }
    if (user.username.empty() && user.groups.empty()) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: \"\": at least one of user or group must be specified",
                        "spec.user"});
    }
    if (!causes.empty()) {
      return apiFail(invalidError(type, "", std::move(causes)));
    }
    AccessRequest request;
    if (resource_attrs != nullptr) {
      request.resource_request = true;
      request.verb = stringAt(*resource_attrs, {"verb"});
      request.group = stringAt(*resource_attrs, {"group"});
      request.resource = stringAt(*resource_attrs, {"resource"});
      request.subresource = stringAt(*resource_attrs, {"subresource"});
      request.ns = stringAt(*resource_attrs, {"namespace"});
      request.name = stringAt(*resource_attrs, {"name"});
    } else {
      request.verb = stringAt(*non_resource_attrs, {"verb"});
      request.path = stringAt(*non_resource_attrs, {"path"});
    }
    auto reason = allowedByLocked(user, request);
    status.AddMember("allowed", reason.has_value(), a);
    if (reason) {
      status.AddMember("reason", str(*reason, a), a);
    }
  }
  setMember(*out, "status", std::move(status), a);
  return JsonPtr(std::move(out));
}

}  // namespace opsy::testing

#include "opsy/runtime/metrics_access.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>

#include "opsy/core/log.h"
#include "opsy/json/json.h"

namespace opsy::runtime {
namespace {

const kube::Resource& tokenReviews() {
  static const kube::Resource r{"authentication.k8s.io", "v1", "tokenreviews", "TokenReview",
                                false};
  return r;
}

const kube::Resource& subjectAccessReviews() {
  static const kube::Resource r{"authorization.k8s.io", "v1", "subjectaccessreviews",
                                "SubjectAccessReview", false};
  return r;
}

std::string tokenHash(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(token.data(), token.size(), digest, &size, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

// "Bearer <token>", the scheme case-insensitive as HTTP says; "" when it is anything else.
std::string bearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) {
    return "";
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) {
      return "";
    }
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') {
    token.remove_prefix(1);
  }
  while (!token.empty() && token.back() == ' ') {
    token.remove_suffix(1);
  }
  return std::string(token);
}

log::Logger logger() {
  return log::get("metrics-auth");
}

}  // namespace

std::string MetricsAccess::User::key() const {
  std::string k = name + '\n' + uid + '\n' + extra_json;
  for (const std::string& g : groups) {
    k += '\n' + g;
  }
  return k;
}

MetricsAccess::MetricsAccess(kube::ObjectWriter& client, Clock& clock, MetricsAccessOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {}

template <class Map>
void MetricsAccess::insertBounded(Map& map, const std::string& key,
                                  typename Map::mapped_type value) {
  if (map.size() >= options_.max_entries && map.find(key) == map.end()) {
    const TimePoint now = clock_.now();
    std::erase_if(map, [&](const auto& entry) { return entry.second.expires <= now; });
    if (map.size() >= options_.max_entries) {
      map.erase(std::min_element(map.begin(), map.end(), [](const auto& a, const auto& b) {
        return a.second.expires < b.second.expires;
      }));
    }
  }
  map[key] = std::move(value);
}

Result<MetricsAccess::Authenticated> MetricsAccess::authenticate(const std::string& token) {
  kube::Object review(tokenReviews(), "", "");
  OPSY_RETURN_IF_ERROR(review.setString("/spec/token", token));
  OPSY_ASSIGN_OR_RETURN(kube::Object answer, client_.create(tokenReviews(), review, {}));
  Authenticated out;
  out.ok = answer.getBool("/status/authenticated").value_or(false);
  if (out.ok) {
    json::Document doc;
    doc.Parse(answer.raw().data(), answer.raw().size());
    const json::Value* status = doc.IsObject() ? json::member(doc, "status") : nullptr;
    const json::Value* user = status != nullptr ? json::member(*status, "user") : nullptr;
    if (user == nullptr || !user->IsObject()) {
      return fail(ErrorCode::Internal, "TokenReview answer has no status.user");
    }
    out.user.name = json::stringOr(*user, "username");
    out.user.uid = json::stringOr(*user, "uid");
    out.user.groups = json::strings(*user, "groups");
    if (const json::Value* extra = json::member(*user, "extra");
        extra != nullptr && extra->IsObject()) {
      out.user.extra_json = json::writeJson(*extra);
    }
  }
  return out;
}

Result<bool> MetricsAccess::authorize(const User& user) {
  kube::Object review(subjectAccessReviews(), "", "");
  OPSY_RETURN_IF_ERROR(review.setString("/spec/user", user.name));
  if (!user.uid.empty()) {
    OPSY_RETURN_IF_ERROR(review.setString("/spec/uid", user.uid));
  }
  json::Document groups;
  groups.SetArray();
  for (const std::string& g : user.groups) {
    groups.PushBack(json::jsonString(g, groups.GetAllocator()), groups.GetAllocator());
  }
  OPSY_RETURN_IF_ERROR(review.setJson("/spec/groups", json::writeJson(groups)));
  OPSY_RETURN_IF_ERROR(review.setJson("/spec/extra", user.extra_json));
  OPSY_RETURN_IF_ERROR(review.setString("/spec/nonResourceAttributes/path", options_.path));
  OPSY_RETURN_IF_ERROR(review.setString("/spec/nonResourceAttributes/verb", "get"));
  OPSY_ASSIGN_OR_RETURN(kube::Object answer, client_.create(subjectAccessReviews(), review, {}));
  return answer.getBool("/status/allowed").value_or(false);
}

MetricsAccess::Decision MetricsAccess::review(std::string_view authorization) {
  const std::string token = bearerToken(authorization);
  if (token.empty()) {
    return {401, "Unauthorized: a bearer token is required\n"};
  }
  const std::string hash = tokenHash(token);
  std::optional<Authenticated> authn;
  {
    std::lock_guard lock(mu_);
    if (auto it = authn_.find(hash); it != authn_.end() && it->second.expires > clock_.now()) {
      authn = it->second;
    }
  }
  if (!authn) {
    auto reviewed = authenticate(token);
    if (!reviewed) {
      logger().warn("cannot review a metrics scraper's token",
                    log::kv("error", reviewed.error().message));
      return {503, "cannot verify the token right now\n"};
    }
    reviewed->expires = clock_.now() + options_.authentication_ttl;
    authn = *reviewed;
    std::lock_guard lock(mu_);
    insertBounded(authn_, hash, *reviewed);
  }
  if (!authn->ok) {
    return {401, "Unauthorized\n"};
  }

  const std::string user_key = authn->user.key();
  std::optional<bool> allowed;
  {
    std::lock_guard lock(mu_);
    if (auto it = authz_.find(user_key); it != authz_.end() && it->second.expires > clock_.now()) {
      allowed = it->second.allowed;
    }
  }
  if (!allowed) {
    auto reviewed = authorize(authn->user);
    if (!reviewed) {
      logger().warn("cannot review a metrics scraper's access",
                    log::kv("user", authn->user.name, "error", reviewed.error().message));
      return {503, "cannot verify access right now\n"};
    }
    allowed = *reviewed;
    const TimePoint expires = clock_.now() + (*allowed ? options_.allow_ttl : options_.deny_ttl);
    std::lock_guard lock(mu_);
    insertBounded(authz_, user_key, Authorized{*allowed, expires});
  }
  if (!*allowed) {
    return {403, fmt::format("Forbidden: user \"{}\" may not get path \"{}\"\n", authn->user.name,
                             options_.path)};
  }
  return {200, ""};
}

}  // namespace opsy::runtime

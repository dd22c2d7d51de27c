// File: metrics_access.h
//
// Who may read /metrics when it is protected (--metrics-secure): the scraper's bearer token is
// checked by the API server with a TokenReview, then the user it names must be allowed `get` on
// the non-resource URL /metrics by a SubjectAccessReview, i.e. by RBAC (a ClusterRole with
// nonResourceURLs: ["/metrics"]). This is the check controller-runtime's authn/authz filter and
// kube-rbac-proxy make, so the same RBAC objects work. Answers are cached (by a hash of the token,
// never the token) so a scrape every few seconds costs the API server a review a minute.
//
//   MetricsAccess access(client, clock);
//   MetricsAccess::Decision d = access.review(request.get_header_value("Authorization"));
//   if (d.http_status != 200) { respond(d.http_status, d.message); }
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "opsy/core/clock.h"
#include "opsy/kube/client.h"

namespace opsy::runtime {

struct MetricsAccessOptions {
  std::string path = "/metrics";
  // As controller-runtime's filter: authentication answers for a minute, authorisation allowed for
  // five and denied for thirty seconds (a grant takes effect soon, a revocation within minutes).
  Duration authentication_ttl = std::chrono::minutes(1);
  Duration allow_ttl = std::chrono::minutes(5);
  Duration deny_ttl = std::chrono::seconds(30);
  // Per cache; random tokens cannot grow memory beyond this.
  size_t max_entries = 1024;
};

class MetricsAccess {
 public:
  struct Decision {
    int http_status = 200;  // 200, 401 (who are you?), 403 (not allowed), 503 (cannot tell)
    std::string message;    // for the response body; names no token
  };

  MetricsAccess(kube::ObjectWriter& client, Clock& clock, MetricsAccessOptions options = {});

  // `authorization` is the request's Authorization header ("" when absent). Thread-safe; the
  // reviews run without a lock held.
  Decision review(std::string_view authorization);

 private:
  struct User {
    std::string name;
    std::string uid;
    std::vector<std::string> groups;
    std::string extra_json = "{}";
    std::string key() const;
  };
  struct Authenticated {
    bool ok = false;
    User user;
    TimePoint expires;
  };
  struct Authorized {
    bool allowed = false;
    TimePoint expires;
  };

  Result<Authenticated> authenticate(const std::string& token);
  Result<bool> authorize(const User& user);
  template <class Map>
  void insertBounded(Map& map, const std::string& key, typename Map::mapped_type value);

  kube::ObjectWriter& client_;
  Clock& clock_;
  MetricsAccessOptions options_;
  std::mutex mu_;
  std::map<std::string, Authenticated> authn_;  // by SHA-256 of the token
  std::map<std::string, Authorized> authz_;     // by User::key()
};

}  // namespace opsy::runtime

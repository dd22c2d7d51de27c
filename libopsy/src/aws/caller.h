// File: caller.h (private)
//
// The request loop every AWS client shares: rate limit, fetch credentials, sign, send, turn a
// non-2xx response into a typed Error, retry what the policy allows. Also the wire helpers for
// the query protocols (form encoding, EC2 flat lists, awsQuery .member.N lists) and XML/JSON
// access, so the per-service files only describe their operations.
#pragma once

#include <functional>

#include <pugixml.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "opsy/aws/client_options.h"
#include "opsy/core/token_bucket.h"
#include "opsy/json/json.h"

namespace opsy::aws {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

std::string formEncode(const QueryParams& params);

// EC2 flat list: Name.1=a&Name.2=b.
void addEc2List(QueryParams& p, const std::string& name, const std::vector<std::string>& values);
// EC2 filters: Filter.N.Name / Filter.N.Value.M.
template <class FilterT>
void addEc2Filters(QueryParams& p, const std::vector<FilterT>& filters) {
  for (size_t i = 0; i < filters.size(); ++i) {
    std::string prefix = "Filter." + std::to_string(i + 1);
    p.emplace_back(prefix + ".Name", filters[i].name);
    addEc2List(p, prefix + ".Value", filters[i].values);
  }
}
// awsQuery list: Name.member.1=a; an empty list is sent as "Name=".
void addMemberList(QueryParams& p, const std::string& name, const std::vector<std::string>& values);

// Child text, "" when absent.
std::string xmlText(const pugi::xml_node& node, const char* name);
// Child text parsed as an RFC 3339 time; nullopt when absent or malformed.
std::optional<TimePoint> xmlTime(const pugi::xml_node& node, const char* name);
// <tagSet><item><key/><value/></item></tagSet> (EC2) or <Tags><member><Key/>… (awsQuery).
std::map<std::string, std::string> xmlTags(const pugi::xml_node& set, const char* item,
                                           const char* key, const char* value);
// Parses the body; Internal error on malformed XML.
Result<pugi::xml_document*> parseXml(pugi::xml_document& doc, const std::string& body,
                                     std::string_view operation);

// Parses a REST-JSON body that must be an object; Internal error otherwise (the service, not the
// caller, sent it).
[[nodiscard]] Result<json::Document> parseJson(std::string_view body, std::string_view operation);

// An HTTP Date header (IMF-fixdate); nullopt when malformed.
std::optional<TimePoint> parseHttpDate(std::string_view text);

// Sends a client's calls. When a signed call fails with a clock-skew error (RequestTimeTooSkewed,
// SignatureDoesNotMatch, AuthFailure, …) and the response's Date differs from our clock by 4
// minutes or more, signing uses the server's time from then on and the call is sent once more.
class Caller;

// Runs a paginated query-protocol call: sends NextToken from the previous page until the service
// stops returning one, calling `on_page` with each page's result node — the document element for
// EC2, the <ActionResult> child for awsQuery services. Refuses to loop on a repeated token.
Status paginateQuery(Caller& caller, std::string_view action, std::string_view version,
                     const QueryParams& base, Protocol protocol,
                     const std::function<void(const pugi::xml_node&)>& on_page);

class Caller {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Caller>> create(Service service,
                                                              const ClientOptions& options);

  // POST / with Action, Version and `params`; returns the success body.
  [[nodiscard]] Result<std::string> query(std::string_view action, std::string_view version,
                                          const QueryParams& params, Protocol protocol,
                                          bool sign = true);
  // REST-JSON: `path` includes any query string; `body` empty for GET.
  [[nodiscard]] Result<std::string> restJson(std::string_view operation, std::string method,
                                             const std::string& path, std::string body);

  const Endpoint& endpoint() const { return endpoint_; }
  Clock& clock() { return *options_.clock; }

 private:
  Caller(Service service, ClientOptions options, Endpoint endpoint);
  Result<std::string> call(std::string_view operation, const http::Request& request,
                           Protocol protocol, bool sign);
  Result<std::string> sendOnce(std::string_view operation, const http::Request& request,
                               Protocol protocol, bool sign, int attempt,
                               std::optional<TimePoint>* server_time);
  bool correctSkew(const Error& e, std::optional<TimePoint> server_time);
  // AWS said the signing credentials are expired or unknown (ExpiredToken and alike).
  bool credentialsRefused(const Error& e);

  Service service_;
  ClientOptions options_;
  Endpoint endpoint_;
  http::RetryQuota quota_;
  // Client-side pacing; empty when max_requests_per_second is 0.
  std::optional<TokenBucket> limiter_;
  std::atomic<int64_t> skew_ms_{0};
};

}  // namespace opsy::aws

#include "aws/caller.h"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "opsy/aws/sigv4.h"
#include "opsy/core/log.h"
#include "opsy/core/time_format.h"

namespace opsy::aws {
namespace {

// botocore's threshold: smaller differences are left to the service's own tolerance.
constexpr std::chrono::minutes kSkewThreshold{4};

log::Logger logger() {
  return log::get("aws");
}

}  // namespace

std::string formEncode(const QueryParams& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out += uriEncode(k, false) + "=" + uriEncode(v, false);
  }
  return out;
}

void addEc2List(QueryParams& p, const std::string& name, const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    p.emplace_back(name + "." + std::to_string(i + 1), values[i]);
  }
}

void addMemberList(QueryParams& p, const std::string& name,
                   const std::vector<std::string>& values) {
  if (values.empty()) {
    p.emplace_back(name, "");
    return;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    p.emplace_back(name + ".member." + std::to_string(i + 1), values[i]);
  }
}

std::string xmlText(const pugi::xml_node& node, const char* name) {
  return node.child(name).text().as_string();
}

std::optional<TimePoint> xmlTime(const pugi::xml_node& node, const char* name) {
  std::string text = xmlText(node, name);
  if (text.empty()) {
    return std::nullopt;
  }
  auto t = parseRfc3339(text);
  return t ? std::optional<TimePoint>(*t) : std::nullopt;
}

std::map<std::string, std::string> xmlTags(const pugi::xml_node& set, const char* item,
                                           const char* key, const char* value) {
  std::map<std::string, std::string> tags;
  for (pugi::xml_node t : set.children(item)) {
    tags[xmlText(t, key)] = xmlText(t, value);
  }
  return tags;
}

Result<pugi::xml_document*> parseXml(pugi::xml_document& doc, const std::string& body,
                                     std::string_view operation) {
  pugi::xml_parse_result r = doc.load_string(body.c_str());
  if (!r) {
    return fail(ErrorCode::Internal,
                std::string(operation) + ": malformed XML response: " + r.description());
  }
  return &doc;
}

Result<json::Document> parseJson(std::string_view body, std::string_view operation) {
  Result<json::Document> doc = json::parseObject(body, operation);
  if (!doc) {
    return fail(ErrorCode::Internal, std::string(operation) + ": malformed JSON response");
  }
  return doc;
}

Status paginateQuery(Caller& caller, std::string_view action, std::string_view version,
                     const QueryParams& base, Protocol protocol,
                     const std::function<void(const pugi::xml_node&)>& on_page) {
  constexpr int kMaxPages = 1000;
  // EC2 returns <nextToken> at the top; awsQuery wraps results in <ActionResult><NextToken>.
  const bool ec2 = protocol == Protocol::Ec2Query;
  const std::string result_name = std::string(action) + "Result";
  std::string token;
  for (int page = 0; page < kMaxPages; ++page) {
    QueryParams p = base;
    if (!token.empty()) {
      p.emplace_back("NextToken", token);
    }
    OPSY_ASSIGN_OR_RETURN(std::string body, caller.query(action, version, p, protocol));
    pugi::xml_document doc;
    OPSY_RETURN_IF_ERROR(parseXml(doc, body, action));
    pugi::xml_node result =
        ec2 ? doc.document_element() : doc.document_element().child(result_name.c_str());
    on_page(result);
    std::string next = xmlText(result, ec2 ? "nextToken" : "NextToken");
    if (next.empty()) {
      return ok();
    }
    if (next == token) {
      return fail(ErrorCode::Internal, std::string(action) + ": service repeated its page token");
    }
    token = std::move(next);
  }
  return fail(ErrorCode::Internal, std::string(action) + ": more than 1000 pages");
}

Result<std::unique_ptr<Caller>> Caller::create(Service service, const ClientOptions& options) {
  if (!options.transport) {
    return fail(ErrorCode::InvalidArgument, "aws client needs a transport");
  }
  if (!options.clock) {
    return fail(ErrorCode::InvalidArgument, "aws client needs a clock");
  }
  OPSY_ASSIGN_OR_RETURN(std::string region, resolveRegion(options.region, options.env));
  Endpoint ep;
  if (!options.endpoint_url.empty()) {
    ep.url = options.endpoint_url;
    while (!ep.url.empty() && ep.url.back() == '/') {
      ep.url.pop_back();
    }
    ep.region = region;
    ep.signing_name = std::string(signingName(service));
    ep.overridden = true;
  } else {
    OPSY_ASSIGN_OR_RETURN(ep, resolveEndpoint(service, region, options.env, options.endpoint));
  }
  return std::unique_ptr<Caller>(new Caller(service, options, std::move(ep)));
}

Caller::Caller(Service service, ClientOptions options, Endpoint endpoint)
    : service_(service),
      options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      limiter_(options_.max_requests_per_second > 0
                   ? std::optional<TokenBucket>(std::in_place, *options_.clock,
                                                options_.max_requests_per_second,
                                                std::max(1, static_cast<int>(options_.burst)))
                   : std::nullopt) {}

Result<std::string> Caller::query(std::string_view action, std::string_view version,
                                  const QueryParams& params, Protocol protocol, bool sign) {
  QueryParams all;
  all.reserve(params.size() + 2);
  all.emplace_back("Action", std::string(action));
  all.emplace_back("Version", std::string(version));
  all.insert(all.end(), params.begin(), params.end());
  http::Request req;
  req.method = "POST";
  req.url = endpoint_.url + "/";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  req.body = formEncode(all);
  return call(action, req, protocol, sign);
}

Result<std::string> Caller::restJson(std::string_view operation, std::string method,
                                     const std::string& path, std::string body) {
  http::Request req;
  req.method = std::move(method);
  req.url = endpoint_.url + path;
  if (!body.empty()) {
    req.headers = {{"Content-Type", "application/json"}};
  }
  req.body = std::move(body);
  return call(operation, req, Protocol::RestJson, true);
}

Result<std::string> Caller::call(std::string_view operation, const http::Request& request,
                                 Protocol protocol, bool sign) {
  auto result = http::withRetries<std::string>(
      options_.retry, quota_, *options_.clock, [&](int attempt) -> Result<std::string> {
        std::optional<TimePoint> server_time;
        auto r = sendOnce(operation, request, protocol, sign, attempt, &server_time);
        if (!r && sign && correctSkew(r.error(), server_time)) {
          // Re-signed with the corrected time; this does not count as a retry.
          r = sendOnce(operation, request, protocol, sign, attempt, nullptr);
        }
        if (!r && sign && attempt == 1 && credentialsRefused(r.error())) {
          // Cached temporary credentials revoked or expired early (a role session ended, the
          // clock of whoever issued them ran ahead): drop them and sign once more with fresh ones.
          logger().warn(
              "AWS refused the cached credentials; fetching new ones",
              log::kv("service", endpoint_.signing_name, "aws_code", r.error().provider_code));
          options_.credentials->invalidate();
          r = sendOnce(operation, request, protocol, sign, attempt, nullptr);
        }
        return r;
      });
  if (!result) {
    Error e = std::move(result.error());
    e.action = endpoint_.signing_name + ":" + std::string(operation);
    if (e.http_status == 404 && e.provider_code.empty()) {
      e.message = fmt::format(
          "{} answered HTTP 404 without an AWS error code; check the endpoint "
          "(AWS_ENDPOINT_URL*) and any proxy in between",
          endpoint_.url);
    }
    return fail(std::move(e).context(endpoint_.signing_name + " " + std::string(operation)));
  }
  return result;
}

bool Caller::credentialsRefused(const Error& e) {
  static constexpr std::string_view kCodes[] = {
      "ExpiredToken",         "ExpiredTokenException",
      "InvalidClientTokenId", "UnrecognizedClientException",
      "InvalidToken",         "TokenRefreshRequired"};
  return options_.credentials != nullptr &&
         std::find(std::begin(kCodes), std::end(kCodes), e.provider_code) != std::end(kCodes);
}

bool Caller::correctSkew(const Error& e, std::optional<TimePoint> server_time) {
  static constexpr std::string_view kSkewCodes[] = {
      "RequestTimeTooSkewed",      "RequestExpired",        "RequestInTheFuture",
      "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure"};
  if (!server_time || std::find(std::begin(kSkewCodes), std::end(kSkewCodes), e.provider_code) ==
                          std::end(kSkewCodes)) {
    return false;
  }
  auto skew =
      std::chrono::duration_cast<std::chrono::milliseconds>(*server_time - options_.clock->now());
  if (std::chrono::abs(skew) < kSkewThreshold) {
    return false;
  }
  skew_ms_.store(skew.count());
  logger().warn("clock skew corrected",
                log::kv("service", endpoint_.signing_name, "skew_ms", skew.count()));
  return true;
}

Result<std::string> Caller::sendOnce(std::string_view operation, const http::Request& request,
                                     Protocol protocol, bool sign, int attempt,
                                     std::optional<TimePoint>* server_time) {
  const std::string& service = endpoint_.signing_name;
  if (limiter_) {
    limiter_->take();
  }
  http::Request req = request;
  req.timeout = options_.timeout;
  if (sign) {
    if (!options_.credentials) {
      return fail(ErrorCode::Unauthenticated, "aws client has no credentials provider");
    }
    auto resolved = options_.credentials->credentials();
    if (!resolved) {
      // No call was made: whatever the chain said (a variable unset, IMDS unreachable), to the
      // caller it is "no usable credentials", never a verdict on the resource asked for.
      Error e = std::move(resolved.error());
      if (e.code != ErrorCode::Unavailable && e.code != ErrorCode::Throttled &&
          e.code != ErrorCode::DeadlineExceeded) {
        e.code = ErrorCode::Unauthenticated;
      }
      return fail(std::move(e).context("resolve AWS credentials"));
    }
    Credentials creds = std::move(*resolved);
    TimePoint now = options_.clock->now() + std::chrono::milliseconds(skew_ms_.load());
    OPSY_RETURN_IF_ERROR(signRequest(req, creds, endpoint_.region, endpoint_.signing_name, now));
  }
  logger().trace("aws request", log::kv("service", service, "operation", operation, "attempt",
                                        attempt, "url", req.url));
  auto started = options_.clock->steadyNow();
  auto observe = [&](int status, std::string_view code) {
    if (options_.observer) {
      CallObservation o;
      o.service = service;
      o.operation = operation;
      o.attempt = attempt;
      o.http_status = status;
      o.error_code = code;
      o.elapsed = std::chrono::duration_cast<Duration>(options_.clock->steadyNow() - started);
      options_.observer(o);
    }
  };
  auto resp = options_.transport->send(req);
  if (!resp) {
    observe(0, toString(resp.error().code));
    logger().debug("aws transport error",
                   log::kv("service", service, "operation", operation, "attempt", attempt, "error",
                           resp.error().toString()));
    return fail(std::move(resp.error()));
  }
  std::string request_id;
  for (const char* h : {"x-amzn-RequestId", "x-amz-request-id"}) {
    if (auto id = resp->header(h)) {
      request_id = std::string(*id);
      break;
    }
  }
  if (resp->status < 200 || resp->status >= 300) {
    Error e = parseErrorResponse(protocol, *resp);
    observe(resp->status, e.provider_code);
    logger().debug(
        "aws error response",
        log::kv("service", service, "operation", operation, "attempt", attempt, "code",
                resp->status, "aws_code", e.provider_code, "aws_request_id", e.request_id));
    if (server_time != nullptr) {
      if (auto date = resp->header("Date")) {
        *server_time = parseHttpDate(*date);
      }
    }
    return fail(std::move(e));
  }
  observe(resp->status, "");
  logger().debug("aws response",
                 log::kv("service", service, "operation", operation, "attempt", attempt, "code",
                         resp->status, "aws_request_id", request_id));
  return std::move(resp->body);
}

std::optional<TimePoint> parseHttpDate(std::string_view text) {
  // IMF-fixdate, the only form servers may send: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  return TimePoint(std::chrono::seconds(timegm(&tm)));
}

}  // namespace opsy::aws

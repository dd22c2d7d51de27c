#include "support/fake_aws.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <regex>
#include <sstream>
#include <thread>

#include "opsy/core/log.h"
#include "opsy/core/time_format.h"
#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

std::string lowerCopy(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

void parseForm(std::string_view text, std::multimap<std::string, std::string>& out,
               bool skip_signing) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t amp = text.find('&', start);
    std::string_view part =
        text.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string name = percentDecode(part.substr(0, eq), true);
      std::string value =
          eq == std::string_view::npos ? "" : percentDecode(part.substr(eq + 1), true);
      if (!(skip_signing && name.rfind("X-Amz-", 0) == 0)) {
        out.emplace(std::move(name), std::move(value));
      }
    }
    if (amp == std::string_view::npos) {
      break;
    }
    start = amp + 1;
  }
}

// Closes the client's connection without a response: find our end of the TCP connection by its
// ports and shut it down, so the client reads EOF before any status line.
void dropConnection(const httplib::Request& req) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    return;
  }
  while (dirent* entry = readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2) {
      continue;
    }
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t llen = sizeof(local);
    socklen_t plen = sizeof(peer);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) != 0 ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0 ||
        local.ss_family != AF_INET || peer.ss_family != AF_INET) {
      continue;
    }
    const auto* l = reinterpret_cast<const sockaddr_in*>(&local);
    const auto* p = reinterpret_cast<const sockaddr_in*>(&peer);
    if (ntohs(l->sin_port) == req.local_port && ntohs(p->sin_port) == req.remote_port) {
      shutdown(fd, SHUT_RDWR);
      break;
    }
  }
  closedir(dir);
}

const std::regex kNodegroups("^/clusters/([^/]+)/node-groups$");
const std::regex kNodegroup("^/clusters/([^/]+)/node-groups/([^/]+)$");
const std::regex kUpdateVersion("^/clusters/([^/]+)/node-groups/([^/]+)/update-version$");
const std::regex kUpdateConfig("^/clusters/([^/]+)/node-groups/([^/]+)/update-config$");
const std::regex kUpdate("^/clusters/([^/]+)/updates/([^/]+)$");
const std::regex kCluster("^/clusters/([^/]+)$");

std::string serviceFromVersion(const std::string& version) {
  if (version == "2016-11-15") {
    return "ec2";
  }
  if (version == "2011-01-01") {
    return "autoscaling";
  }
  if (version == "2011-06-15") {
    return "sts";
  }
  if (version == "2010-03-31") {
    return "sns";
  }
  return "";
}

// "ec2.us-west-2.amazonaws.com[:443]" -> "us-west-2": an unsigned request sent to a regional
// host name (through a proxy, say) still says which region it is for.
std::string regionFromHost(const std::string& host) {
  std::string name = host.substr(0, host.find(':'));
  for (const char* suffix : {".amazonaws.com", ".amazonaws.com.cn"}) {
    std::string_view sv(name);
    std::string_view suf(suffix);
    if (sv.size() > suf.size() && sv.substr(sv.size() - suf.size()) == suf) {
      std::string_view labels = sv.substr(0, sv.size() - suf.size());
      size_t dot = labels.find('.');
      if (dot != std::string_view::npos && labels.find('.', dot + 1) == std::string_view::npos) {
        return std::string(labels.substr(dot + 1));
      }
    }
  }
  return "";
}

std::string xmlnsFor(const std::string& service) {
  if (service == "autoscaling") {
    return kAsgXmlns;
  }
  if (service == "sts") {
    return kStsXmlns;
  }
  return kSnsXmlns;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// wire helpers

std::vector<std::string> Call::list(const std::string& prefix) const {
  std::vector<std::string> out;
  for (int i = 1;; ++i) {
    auto it = params.find(prefix + "." + std::to_string(i));
    if (it == params.end()) {
      break;
    }
    out.push_back(it->second);
  }
  return out;
}

std::string xmlString(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

void setXml(Call& call, int status, const pugi::xml_document& doc) {
  call.res.status = status;
  call.res.set_content(xmlString(doc), "text/xml;charset=UTF-8");
}

void ec2Error(Call& call, int status, const std::string& code, const std::string& message) {
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  auto root = doc.append_child("Response");
  auto err = root.append_child("Errors").append_child("Error");
  err.append_child("Code").text() = code.c_str();
  err.append_child("Message").text() = message.c_str();
  root.append_child("RequestID").text() = call.request_id.c_str();
  call.error_code = code;
  setXml(call, status, doc);
}

void queryError(Call& call, int status, const std::string& code, const std::string& message,
                const std::string& xmlns, bool sender) {
  pugi::xml_document doc;
  auto root = doc.append_child("ErrorResponse");
  root.append_attribute("xmlns") = xmlns.c_str();
  auto err = root.append_child("Error");
  err.append_child("Type").text() = sender ? "Sender" : "Receiver";
  err.append_child("Code").text() = code.c_str();
  err.append_child("Message").text() = message.c_str();
  root.append_child("RequestId").text() = call.request_id.c_str();
  call.error_code = code;
  call.res.set_header("x-amzn-RequestId", call.request_id);
  setXml(call, status, doc);
}

void jsonError(Call& call, int status, const std::string& code, const std::string& message,
               const std::vector<std::pair<std::string, std::string>>& extra) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("message");
  w.String(message.c_str());
  for (const auto& [k, v] : extra) {
    w.Key(k.c_str());
    w.String(v.c_str());
  }
  w.EndObject();
  call.error_code = code;
  call.res.status = status;
  call.res.set_header("x-amzn-RequestId", call.request_id);
  // Real services append a model namespace after ':'; clients must strip it.
  call.res.set_header(
      "X-Amzn-ErrorType",
      code + ":http://internal.amazon.com/coral/com.amazonaws." + call.service + "/");
  call.res.set_content(buf.GetString(), "application/json");
}

pugi::xml_node queryResult(pugi::xml_document& doc, const Call& call, const std::string& xmlns) {
  auto root = doc.append_child((call.operation + "Response").c_str());
  root.append_attribute("xmlns") = xmlns.c_str();
  auto result = root.append_child((call.operation + "Result").c_str());
  root.append_child("ResponseMetadata").append_child("RequestId").text() = call.request_id.c_str();
  return result;
}

std::string isoMillis(TimePoint t) {
  return formatRfc3339Millis(t);
}

bool wildcardMatch(std::string_view pattern, std::string_view text) {
  // A backslash escapes the next character ("\\*" is a literal '*'), as EC2 filters allow.
  if (pattern.find('\\') != std::string_view::npos) {
    std::string literal_marks;
    std::string plain;
    for (size_t i = 0; i < pattern.size(); ++i) {
      bool escaped = pattern[i] == '\\' && i + 1 < pattern.size();
      if (escaped) {
        ++i;
      }
      plain.push_back(pattern[i]);
      literal_marks.push_back(escaped ? 'l' : 'w');
    }
    return wildcardMatchMarked(plain, literal_marks, text);
  }
  return wildcardMatchMarked(pattern, std::string(pattern.size(), 'w'), text);
}

bool wildcardMatchMarked(std::string_view pattern, std::string_view marks, std::string_view text) {
  auto is_star = [&](size_t i) { return pattern[i] == '*' && marks[i] == 'w'; };
  auto is_any = [&](size_t i) { return pattern[i] == '?' && marks[i] == 'w'; };
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && !is_star(p) && (is_any(p) || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && is_star(p)) {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && is_star(p)) {
    ++p;
  }
  return p == pattern.size();
}

std::string base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Impl

FakeAws::Impl::Impl(FakeAwsOptions o)
    : options(std::move(o)),
      clock(options.clock ? options.clock : realClockPtr()),
      rng(options.seed),
      credentials(options.credentials) {}

std::string FakeAws::Impl::newRequestId() {
  std::lock_guard<std::mutex> lock(mu);
  return newUuid();
}

std::string FakeAws::Impl::newUuid() {
  uint64_t a = rng();
  uint64_t b = rng();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>((b >> 48) & 0xfff),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string FakeAws::Impl::newHexId(const std::string& prefix, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = prefix;
  for (int i = 0; i < digits; ++i) {
    out.push_back(kHex[rng() % 16]);
  }
  return out;
}

std::string FakeAws::Impl::pageToken(const std::string& kind, const std::string& fingerprint,
                                     size_t offset) {
  std::string payload = kind + "|" + std::to_string(offset) + "|" + sha256Hex(fingerprint);
  std::string mac = toHex(hmacSha256("fake-aws-page-token", payload)).substr(0, 16);
  return base64Encode(payload + "|" + mac);
}

std::optional<size_t> FakeAws::Impl::parsePageToken(const std::string& token,
                                                    const std::string& kind,
                                                    const std::string& fingerprint) {
  std::string decoded(token.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                          reinterpret_cast<const unsigned char*>(token.data()),
                          static_cast<int>(token.size()));
  if (n <= 0 || token.size() % 4 != 0) {
    return std::nullopt;
  }
  decoded.resize(static_cast<size_t>(n));
  while (!decoded.empty() && decoded.back() == '\0') {
    decoded.pop_back();
  }
  size_t first = decoded.find('|');
  size_t second = first == std::string::npos ? first : decoded.find('|', first + 1);
  if (second == std::string::npos) {
    return std::nullopt;
  }
  std::string off_text = decoded.substr(first + 1, second - first - 1);
  if (off_text.empty() || off_text.size() > 9 ||
      !std::all_of(off_text.begin(), off_text.end(),
                   [](unsigned char c) { return std::isdigit(c); })) {
    return std::nullopt;
  }
  size_t offset = std::stoul(off_text);
  if (pageToken(kind, fingerprint, offset) != token) {
    return std::nullopt;
  }
  return offset;
}

bool FakeAws::Impl::queryPage(Call& call, const std::string& kind, size_t total,
                              int default_records, int max_records, QueryPage* page) {
  int records = default_records;
  if (call.has("MaxRecords")) {
    const std::string raw = call.get("MaxRecords");
    const bool digits =
        !raw.empty() && raw.size() <= 6 &&
        std::all_of(raw.begin(), raw.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!digits || std::stoi(raw) < 1 || std::stoi(raw) > max_records) {
      queryError(call, 400, "ValidationError",
                 "1 validation error detected: Value '" + raw +
                     "' at 'maxRecords' failed to satisfy constraint: Member must have value "
                     "less than or equal to " +
                     std::to_string(max_records),
                 kAsgXmlns);
      return false;
    }
    records = std::stoi(raw);
  }
  // A token belongs to the call it came from: the same operation and parameters.
  std::string fingerprint = call.operation;
  for (const auto& [k, v] : call.params) {
    if (k != "NextToken" && k != "MaxRecords") {
      fingerprint += "\n" + k + "=" + v;
    }
  }
  page->begin = 0;
  if (call.has("NextToken")) {
    auto offset = parsePageToken(call.get("NextToken"), kind, fingerprint);
    if (!offset || *offset > total) {
      queryError(call, 400, "InvalidNextToken",
                 "The token '" + call.get("NextToken") + "' was invalid", kAsgXmlns);
      return false;
    }
    page->begin = *offset;
  }
  page->end = std::min(total, page->begin + static_cast<size_t>(records));
  page->next_token = page->end < total ? pageToken(kind, fingerprint, page->end) : "";
  return true;
}

std::optional<SigV4Secret> FakeAws::Impl::lookupKey(const std::string& access_key) {
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = credentials.find(access_key); it != credentials.end()) {
    return SigV4Secret{it->second, ""};
  }
  if (auto it = issued.find(access_key); it != issued.end()) {
    return SigV4Secret{it->second.secret_key, it->second.session_token,
                       now() >= it->second.expires};
  }
  return std::nullopt;
}

void FakeAws::Impl::route(Call& call) {
  const auto& req = call.req;
  std::string scope_service;
  std::string auth = req.get_header_value("Authorization");
  std::string credential;
  if (auth.rfind("AWS4-HMAC-SHA256", 0) == 0) {
    size_t pos = auth.find("Credential=");
    if (pos != std::string::npos) {
      credential = auth.substr(pos + 11, auth.find_first_of(", ", pos) - pos - 11);
    }
  } else if (req.has_param("X-Amz-Credential")) {
    credential = req.get_param_value("X-Amz-Credential");
  }
  if (!credential.empty()) {
    std::vector<std::string> parts;
    std::stringstream ss(credential);
    for (std::string p; std::getline(ss, p, '/');) {
      parts.push_back(p);
    }
    if (parts.size() == 5) {
      call.region = parts[2];
      scope_service = parts[3];
    }
  }
  // Query protocols read parameters from the query string and the form body.
  size_t q = req.target.find('?');
  if (q != std::string::npos) {
    parseForm(std::string_view(req.target).substr(q + 1), call.params, true);
  }
  std::string content_type = lowerCopy(req.get_header_value("Content-Type"));
  if (req.method == "POST" && content_type.find("application/x-www-form-urlencoded") == 0) {
    parseForm(req.body, call.params, false);
  }
  std::string host = lowerCopy(req.get_header_value("Host"));
  if (req.path.rfind("/api/", 0) == 0) {
    call.service = "slack";
  } else if (!scope_service.empty()) {
    call.service = scope_service;
  } else if (req.path.rfind("/v2/email", 0) == 0) {
    call.service = "ses";
  } else if (req.path.rfind("/clusters", 0) == 0) {
    call.service = "eks";
  } else if (!serviceFromVersion(call.get("Version")).empty()) {
    call.service = serviceFromVersion(call.get("Version"));
  } else {
    for (const char* prefix : {"ec2", "eks", "autoscaling", "sts", "sns"}) {
      if (host.rfind(std::string(prefix) + ".", 0) == 0) {
        call.service = prefix;
      }
    }
    if (host.rfind("email.", 0) == 0) {
      call.service = "ses";
    }
  }
  if (call.service.empty()) {
    call.service = "unknown";
  }
  if (call.region.empty()) {
    call.region = regionFromHost(host);
  }
  if (call.service == "ec2" || call.service == "autoscaling" || call.service == "sts" ||
      call.service == "sns") {
    call.operation = call.get("Action");
  } else if (call.service == "ses") {
    call.operation = req.method == "POST" && req.path == "/v2/email/outbound-emails"
                         ? "SendEmail"
                         : req.method + " " + req.path;
  } else if (call.service == "slack") {
    call.operation = req.path.substr(5);
  } else if (call.service == "eks") {
    std::smatch m;
    const std::string& p = req.path;
    if (req.method == "GET" && std::regex_match(p, m, kNodegroups)) {
      call.operation = "ListNodegroups";
    } else if (req.method == "GET" && std::regex_match(p, m, kNodegroup)) {
      call.operation = "DescribeNodegroup";
    } else if (req.method == "POST" && std::regex_match(p, m, kUpdateVersion)) {
      call.operation = "UpdateNodegroupVersion";
    } else if (req.method == "POST" && std::regex_match(p, m, kUpdateConfig)) {
      call.operation = "UpdateNodegroupConfig";
    } else if (req.method == "GET" && std::regex_match(p, m, kUpdate)) {
      call.operation = "DescribeUpdate";
    } else if (req.method == "GET" && std::regex_match(p, m, kCluster)) {
      call.operation = "DescribeCluster";
    } else if (req.method == "GET" && p == "/clusters") {
      call.operation = "ListClusters";
    } else {
      call.operation = req.method + " " + p;
    }
  }
}

// Auth failures, as each service family reports them (best knowledge of real behaviour):
//   EC2:             unsigned -> 400 MissingParameter (AWSAccessKeyId); malformed -> 400
//                    IncompleteSignature; skew or expired session -> 400 RequestExpired; unknown
//                    key, bad signature, wrong scope or token -> 401 AuthFailure.
//   awsQuery (Auto Scaling, STS, SNS): unsigned -> 403 MissingAuthenticationToken; malformed ->
//                    400 IncompleteSignature; unknown key / token -> 403 InvalidClientTokenId;
//                    expired session -> 403 ExpiredToken; bad
//                    signature, skew ("Signature expired"), wrong scope -> 403
//                    SignatureDoesNotMatch.
//   REST-JSON (EKS, SES v2): 403 MissingAuthenticationTokenException, IncompleteSignatureException,
//                    UnrecognizedClientException, ExpiredTokenException, InvalidSignatureException
//                    (skew included).
bool FakeAws::Impl::authenticate(Call& call) {
  if (call.service == "slack") {
    return true;
  }
  if (call.service == "sts" &&
      (call.operation == "AssumeRoleWithWebIdentity" || call.operation == "AssumeRoleWithSAML")) {
    return true;  // modelled as noAuth
  }
  ReceivedRequest received;
  received.method = call.req.method;
  received.target = call.req.target;
  received.body = call.req.body;
  for (const auto& [k, v] : call.req.headers) {
    // httplib adds these to the request it hands us; they were not on the wire.
    if (k == "REMOTE_ADDR" || k == "REMOTE_PORT" || k == "LOCAL_ADDR" || k == "LOCAL_PORT") {
      continue;
    }
    received.headers.emplace_back(k, v);
  }
  SigV4VerifyOptions opts;
  opts.now = now();
  if (!options.region.empty()) {
    opts.expected_region = options.region;
  }
  SigV4Verdict v = verifySigV4(
      received, [this](const std::string& key) { return lookupKey(key); }, opts);
  if (v.outcome == SigV4Outcome::Valid) {
    call.access_key = v.access_key;
    return true;
  }
  const std::string& svc = call.service;
  if (svc == "ec2") {
    switch (v.outcome) {
      case SigV4Outcome::Missing:
        ec2Error(call, 400, "MissingParameter",
                 "The request must contain the parameter AWSAccessKeyId");
        break;
      case SigV4Outcome::Malformed: ec2Error(call, 400, "IncompleteSignature", v.message); break;
      case SigV4Outcome::Expired:
      case SigV4Outcome::ExpiredToken:
        ec2Error(call, 400, "RequestExpired", "Request has expired.");
        break;
      default:
        ec2Error(call, 401, "AuthFailure",
                 "AWS was not able to validate the provided access credentials");
        break;
    }
    return false;
  }
  if (svc == "eks" || svc == "ses") {
    switch (v.outcome) {
      case SigV4Outcome::Missing:
        jsonError(call, 403, "MissingAuthenticationTokenException", "Missing Authentication Token");
        break;
      case SigV4Outcome::Malformed:
        jsonError(call, 403, "IncompleteSignatureException", v.message);
        break;
      case SigV4Outcome::UnknownKey:
      case SigV4Outcome::MissingToken:
        jsonError(call, 403, "UnrecognizedClientException", v.message);
        break;
      case SigV4Outcome::ExpiredToken:
        jsonError(call, 403, "ExpiredTokenException", v.message);
        break;
      default: jsonError(call, 403, "InvalidSignatureException", v.message); break;
    }
    return false;
  }
  std::string xmlns = xmlnsFor(svc);
  switch (v.outcome) {
    case SigV4Outcome::Missing:
      queryError(call, 403, "MissingAuthenticationToken", "Request is missing Authentication Token",
                 xmlns);
      break;
    case SigV4Outcome::Malformed:
      queryError(call, 400, "IncompleteSignature", v.message, xmlns);
      break;
    case SigV4Outcome::UnknownKey:
    case SigV4Outcome::MissingToken:
      queryError(call, 403, "InvalidClientTokenId", v.message, xmlns);
      break;
    case SigV4Outcome::ExpiredToken: queryError(call, 403, "ExpiredToken", v.message, xmlns); break;
    default: queryError(call, 403, "SignatureDoesNotMatch", v.message, xmlns); break;
  }
  return false;
}

// Injected faults use each service's own codes: EC2 503 RequestLimitExceeded / 500 InternalError /
// 503 Unavailable; Auto Scaling and STS 400 Throttling / 500 InternalFailure / 503
// ServiceUnavailable; SNS 429 Throttled (its modelled Publish fault) / 500 InternalError; EKS 400
// InvalidRequestException "Request limit exceeded." (what EKS is seen to send) / 500
// ServerException / 503 ServiceUnavailableException; SES v2 429 TooManyRequestsException; Slack 429
// + Retry-After.
void FakeAws::Impl::sendServiceError(Call& call, const FaultRule& rule) {
  const std::string& svc = call.service;
  const FaultKind kind = rule.kind;
  const int retry_after = rule.retry_after_seconds;
  if (kind == FaultKind::AccessDenied) {
    sendAccessDenied(call, rule.message);
    return;
  }
  if (kind == FaultKind::BareNotFound) {
    call.error_code = "bare-404";
    call.res.status = 404;
    call.res.set_content("404 page not found\n", "text/plain; charset=utf-8");
    return;
  }
  if (svc == "ec2") {
    if (kind == FaultKind::Throttle) {
      ec2Error(call, 503, "RequestLimitExceeded", "Request limit exceeded.");
    } else if (kind == FaultKind::ServerError) {
      ec2Error(call, 500, "InternalError", "An internal error has occurred");
    } else {
      ec2Error(call, 503, "Unavailable", "The server is overloaded and can't handle the request");
    }
  } else if (svc == "eks") {
    if (kind == FaultKind::Throttle) {
      // EKS reports its request limit as a non-modelled 400 InvalidRequestException, which SDKs
      // do not retry by code: clients must recognise the message.
      jsonError(call, 400, "InvalidRequestException", "Request limit exceeded.");
    } else if (kind == FaultKind::ServerError) {
      jsonError(call, 500, "ServerException", "An internal error occurred");
    } else {
      jsonError(call, 503, "ServiceUnavailableException", "The service is unavailable");
    }
  } else if (svc == "ses") {
    if (kind == FaultKind::Throttle) {
      jsonError(call, 429, "TooManyRequestsException", "Maximum sending rate exceeded.");
    } else if (kind == FaultKind::ServerError) {
      jsonError(call, 500, "InternalFailure", "An internal error occurred");
    } else {
      jsonError(call, 503, "ServiceUnavailable", "Service unavailable");
    }
  } else if (svc == "slack") {
    call.error_code = kind == FaultKind::Throttle ? "ratelimited" : "http_error";
    if (kind == FaultKind::Throttle) {
      call.res.status = 429;
      call.res.set_header("Retry-After", std::to_string(retry_after));
      call.res.set_content(R"({"ok":false,"error":"ratelimited"})", "application/json");
    } else {
      call.res.status = kind == FaultKind::ServerError ? 500 : 503;
      call.res.set_content("upstream error", "text/plain");
    }
  } else {
    std::string xmlns = xmlnsFor(svc);
    if (kind == FaultKind::Throttle) {
      if (svc == "sns") {
        queryError(call, 429, "Throttled", "Rate exceeded", xmlns);
      } else {
        queryError(call, 400, "Throttling", "Rate exceeded", xmlns);
      }
    } else if (kind == FaultKind::ServerError) {
      queryError(call, 500, svc == "sns" ? "InternalError" : "InternalFailure",
                 "An internal error occurred", xmlns, false);
    } else {
      queryError(call, 503, "ServiceUnavailable", "Service is unavailable", xmlns, false);
    }
  }
}

bool FakeAws::Impl::injectFault(Call& call) {
  std::optional<FaultRule> fired;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if (!it->service.empty() && it->service != call.service) {
        continue;
      }
      if (!it->operation.empty() && it->operation != call.operation) {
        continue;
      }
      // GetCallerIdentity needs no permission: a policy that denies it changes nothing.
      if (it->kind == FaultKind::AccessDenied && call.service == "sts" &&
          call.operation == "GetCallerIdentity") {
        continue;
      }
      if (it->rate < 1.0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng) >= it->rate) {
        continue;
      }
      fired = *it;
      if (it->count > 0 && --it->count == 0) {
        faults.erase(it);
      }
      break;
    }
  }
  if (!fired) {
    return false;
  }
  switch (fired->kind) {
    case FaultKind::Latency: std::this_thread::sleep_for(fired->latency); return false;
    case FaultKind::Drop:
      call.error_code = "connection-dropped";
      call.res.status = 0;
      call.drop = true;
      return true;
    default: sendServiceError(call, *fired); return true;
  }
}

bool FakeAws::Impl::serves(const std::string& region) const {
  return region == options.region ||
         std::find(options.regions.begin(), options.regions.end(), region) != options.regions.end();
}

std::string FakeAws::Impl::regionOf(const Call& call) const {
  if (!call.region.empty()) {
    return call.region;
  }
  return options.region.empty() ? "us-east-1" : options.region;
}

void FakeAws::Impl::dispatch(Call& call) {
  const std::string& svc = call.service;
  if (svc == "ec2") {
    handleEc2(call);
  } else if (svc == "eks") {
    handleEks(call);
  } else if (svc == "autoscaling") {
    handleAutoScaling(call);
  } else if (svc == "sts") {
    handleSts(call);
  } else if (svc == "sns") {
    handleSns(call);
  } else if (svc == "ses") {
    handleSes(call);
  } else if (svc == "slack") {
    handleSlack(call);
  } else {
    call.res.status = 404;
    call.error_code = "UnknownService";
    call.res.set_content("unknown service", "text/plain");
  }
}

void FakeAws::Impl::handle(const httplib::Request& req, httplib::Response& res) {
  Call call{req, res, "", "", {}, newRequestId(), "", "", "", false};
  route(call);
  res.set_header("x-amzn-RequestId", call.request_id);
  if (!call.region.empty() && !serves(call.region)) {
    // No such endpoint: the SDK would fail to resolve or connect, so nothing answers.
    call.error_code = "unknown-region";
    res.status = 0;
    call.drop = true;
  } else if (authenticate(call) && !injectFault(call)) {
    if ((call.service == "ec2" || call.service == "autoscaling" || call.service == "sts" ||
         call.service == "sns") &&
        call.operation.empty()) {
      if (call.service == "ec2") {
        ec2Error(call, 400, "MissingAction", "The request must contain the parameter Action");
      } else {
        queryError(call, 400, "MissingAction", "Missing Action", xmlnsFor(call.service));
      }
    } else {
      dispatch(call);
    }
  }
  FakeCall record{call.service, call.operation, res.status, call.error_code, call.region};
  log::get("fake-aws")
      .debug("request served", log::kv("service", call.service, "operation", call.operation,
                                       "status", res.status, "code", call.error_code));
  {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(std::move(record));
  }
  // Logged first: a client that sees the connection close may read the call log at once.
  if (call.drop) {
    dropConnection(req);
  }
  // A finished update or refresh (or a scaling request) may have replaced instances.
  notifyInstancesChanged();
}

// ---------------------------------------------------------------------------------------------
// FakeAws

FakeAws::FakeAws(FakeAwsOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->server.set_keep_alive_max_count(1000);
  impl_->server.Get("/_fake/state", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(stateJson(), "application/json");
  });
  impl_->server.Post("/_fake/seed", [this](const httplib::Request& req, httplib::Response& res) {
    auto st = loadSeed(req.body);
    res.status = st ? 204 : 400;
    if (!st) {
      res.set_content(st.error().message, "text/plain");
    }
  });
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    impl_->handle(req, res);
  };
  impl_->server.Get(".*", handler);
  impl_->server.Post(".*", handler);
  impl_->server.Put(".*", handler);
  impl_->server.Delete(".*", handler);
  impl_->server.Patch(".*", handler);
}

FakeAws::~FakeAws() {
  stop();
}

Status FakeAws::start() {
  if (impl_->running) {
    return ok();
  }
  // Headers and body go out as separate writes; with Nagle's algorithm the body would wait for the
  // client's delayed ACK, ~40 ms on every answer.
  impl_->server.set_tcp_nodelay(true);
  int port = impl_->options.port == 0
                 ? impl_->server.bind_to_any_port(impl_->options.host)
                 : (impl_->server.bind_to_port(impl_->options.host, impl_->options.port)
                        ? impl_->options.port
                        : -1);
  if (port <= 0) {
    return fail(ErrorCode::Unavailable, "fake aws: cannot bind " + impl_->options.host);
  }
  impl_->bound_port = port;
  impl_->running = true;
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  // The socket already listens (connections queue up); wait so stop() cannot race the loop.
  while (!impl_->server.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ok();
}

void FakeAws::stop() {
  if (!impl_->running.exchange(false)) {
    return;
  }
  impl_->server.stop();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
}

std::string FakeAws::endpoint() const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->bound_port);
}

int FakeAws::port() const {
  return impl_->bound_port;
}

#define OPSY_FAKE_LOCK std::lock_guard<std::mutex> lock(impl_->mu)

void FakeAws::addCredentials(const std::string& access_key, const std::string& secret_key) {
  OPSY_FAKE_LOCK;
  impl_->credentials[access_key] = secret_key;
}
void FakeAws::addSessionCredentials(const std::string& access_key, const std::string& secret_key,
                                    const std::string& session_token) {
  OPSY_FAKE_LOCK;
  impl_->issued[access_key] = IssuedCredentials{
      .secret_key = secret_key,
      .session_token = session_token,
      .expires = impl_->now() + impl_->issued_lifetime,
      .arn = "arn:aws:sts::" + impl_->options.account_id + ":assumed-role/opsy-controller/opsy",
      .user_id = "AROAEXAMPLE:opsy"};
}
void FakeAws::setAcceptedWebIdentityToken(const std::string& token) {
  OPSY_FAKE_LOCK;
  impl_->web_identity_token = token;
}
void FakeAws::setIssuedCredentialLifetime(std::chrono::seconds lifetime) {
  OPSY_FAKE_LOCK;
  impl_->issued_lifetime = lifetime;
}
void FakeAws::addSnsTopic(const std::string& topic_arn) {
  OPSY_FAKE_LOCK;
  impl_->sns_topics.insert(topic_arn);
}
void FakeAws::addSesIdentity(const std::string& identity) {
  OPSY_FAKE_LOCK;
  impl_->ses_identities.insert(lowerCopy(identity));
}
void FakeAws::addSlackToken(const std::string& token) {
  OPSY_FAKE_LOCK;
  impl_->slack_tokens.insert(token);
}
void FakeAws::addSlackChannel(const std::string& id, const std::string& name) {
  OPSY_FAKE_LOCK;
  impl_->slack_channels[id] = name;
}

void FakeAws::addImage(FakeImage image) {
  OPSY_FAKE_LOCK;
  if (image.creation_date.empty()) {
    image.creation_date = isoMillis(impl_->now());
  }
  for (const auto& snap : image.snapshot_ids) {
    impl_->snapshots.try_emplace(snap, FakeSnapshot{.id = snap,
                                                    .owner_id = image.owner_id,
                                                    .start_time = image.creation_date,
                                                    .description = "Created by image " + image.id,
                                                    .is_public = image.is_public,
                                                    .region = image.region});
  }
  std::string id = image.id;
  impl_->images[id] = std::move(image);
}
std::optional<FakeImage> FakeAws::image(const std::string& id) const {
  OPSY_FAKE_LOCK;
  auto it = impl_->images.find(id);
  return it == impl_->images.end() ? std::nullopt : std::optional<FakeImage>(it->second);
}
std::vector<FakeImage> FakeAws::images() const {
  OPSY_FAKE_LOCK;
  std::vector<FakeImage> out;
  for (const auto& [id, img] : impl_->images) {
    out.push_back(img);
  }
  return out;
}
std::vector<std::string> FakeAws::snapshots() const {
  OPSY_FAKE_LOCK;
  std::vector<std::string> out;
  for (const auto& [id, snap] : impl_->snapshots) {
    out.push_back(id);
  }
  return out;
}
void FakeAws::addSnapshot(const std::string& snapshot_id) {
  addSnapshot(FakeSnapshot{.id = snapshot_id});
}
void FakeAws::addSnapshot(FakeSnapshot snapshot) {
  OPSY_FAKE_LOCK;
  if (snapshot.start_time.empty()) {
    snapshot.start_time = isoMillis(impl_->now());
  }
  std::string id = snapshot.id;
  impl_->snapshots[id] = std::move(snapshot);
}
std::optional<FakeSnapshot> FakeAws::snapshot(const std::string& id) const {
  OPSY_FAKE_LOCK;
  auto it = impl_->snapshots.find(id);
  return it == impl_->snapshots.end() ? std::nullopt : std::optional<FakeSnapshot>(it->second);
}
void FakeAws::addLaunchTemplate(FakeLaunchTemplate lt) {
  OPSY_FAKE_LOCK;
  int64_t n = 0;
  for (auto& v : lt.versions) {
    v.version_number = ++n;
    if (v.create_time.empty()) {
      v.create_time = isoMillis(impl_->now());
    }
  }
  std::string id = lt.id;
  impl_->launch_templates[id] = std::move(lt);
}
std::optional<FakeLaunchTemplate> FakeAws::launchTemplate(const std::string& id_or_name) const {
  OPSY_FAKE_LOCK;
  for (const auto& [id, lt] : impl_->launch_templates) {
    if (id == id_or_name || lt.name == id_or_name) {
      return lt;
    }
  }
  return std::nullopt;
}
std::vector<FakeTemplateDefaultChange> FakeAws::defaultVersionChanges() const {
  OPSY_FAKE_LOCK;
  return impl_->default_changes;
}
void FakeAws::addSecurityGroup(FakeSecurityGroup group) {
  OPSY_FAKE_LOCK;
  std::string id = group.id;
  impl_->security_groups[id] = std::move(group);
}
std::vector<FakeSecurityGroup> FakeAws::securityGroups() const {
  OPSY_FAKE_LOCK;
  std::vector<FakeSecurityGroup> out;
  for (const auto& [id, g] : impl_->security_groups) {
    out.push_back(g);
  }
  return out;
}
void FakeAws::addKeyPair(FakeKeyPair key) {
  OPSY_FAKE_LOCK;
  std::string name = key.name;
  impl_->key_pairs[name] = std::move(key);
}
std::vector<FakeKeyPair> FakeAws::keyPairs() const {
  OPSY_FAKE_LOCK;
  std::vector<FakeKeyPair> out;
  for (const auto& [name, k] : impl_->key_pairs) {
    out.push_back(k);
  }
  return out;
}

void FakeAws::addCluster(FakeCluster cluster) {
  OPSY_FAKE_LOCK;
  std::string name = cluster.name;
  impl_->clusters[name] = std::move(cluster);
}
void FakeAws::addNodegroup(FakeNodegroup nodegroup) {
  {
    OPSY_FAKE_LOCK;
    if (!impl_->clusters.count(nodegroup.cluster)) {
      impl_->clusters[nodegroup.cluster] = FakeCluster{nodegroup.cluster};
    }
    // Added again, the group is what the caller now says it is: its old instances go, and so do
    // those its ASG launched as a self-managed group before the node group named it.
    for (FakeInstance* i : impl_->nodegroupInstances(nodegroup.cluster, nodegroup.name)) {
      impl_->setInstanceStateLocked(*i, "terminated");
    }
    for (const auto& asg : nodegroup.asg_names) {
      for (FakeInstance* i : impl_->asgInstances(asg)) {
        if (i->nodegroup.empty()) {
          impl_->setInstanceStateLocked(*i, "terminated");
        }
      }
    }
    auto key = std::make_pair(nodegroup.cluster, nodegroup.name);
    const FakeNodegroup& ng = impl_->nodegroups[key] = std::move(nodegroup);
    impl_->launchForNodegroup(ng, ng.scaling.desired_size, std::nullopt);
  }
  impl_->notifyInstancesChanged();
}
std::optional<FakeNodegroup> FakeAws::nodegroup(const std::string& cluster,
                                                const std::string& name) const {
  OPSY_FAKE_LOCK;
  auto it = impl_->nodegroups.find({cluster, name});
  return it == impl_->nodegroups.end() ? std::nullopt : std::optional<FakeNodegroup>(it->second);
}
std::vector<FakeEksUpdate> FakeAws::eksUpdates() const {
  OPSY_FAKE_LOCK;
  return impl_->eks_updates;
}
bool FakeAws::setNodegroupHealth(const std::string& cluster, const std::string& name,
                                 const std::string& status, std::vector<FakeHealthIssue> issues) {
  OPSY_FAKE_LOCK;
  auto it = impl_->nodegroups.find({cluster, name});
  if (it == impl_->nodegroups.end()) {
    return false;
  }
  it->second.status = status;
  it->second.health_issues = std::move(issues);
  return true;
}
bool FakeAws::completeEksUpdate(const std::string& update_id) {
  bool done = false;
  {
    OPSY_FAKE_LOCK;
    for (auto& u : impl_->eks_updates) {
      if (u.id == update_id && u.status == "InProgress") {
        impl_->finishEksUpdate(u, true, "", "");
        done = true;
        break;
      }
    }
  }
  impl_->notifyInstancesChanged();
  return done;
}
bool FakeAws::failEksUpdate(const std::string& update_id, const std::string& error_code,
                            const std::string& message) {
  OPSY_FAKE_LOCK;
  for (auto& u : impl_->eks_updates) {
    if (u.id == update_id && u.status == "InProgress") {
      impl_->finishEksUpdate(u, false, error_code, message);
      return true;
    }
  }
  return false;
}
void FakeAws::setEksAutoCompleteAfter(int describe_calls) {
  OPSY_FAKE_LOCK;
  impl_->eks_auto_complete = describe_calls;
}

void FakeAws::addAutoScalingGroup(FakeAutoScalingGroup group) {
  {
    OPSY_FAKE_LOCK;
    std::string name = group.name;
    const FakeAutoScalingGroup& g = impl_->asgs[name] = std::move(group);
    // A node group's own ASG runs that node group's instances; a self-managed group added again
    // replaces its instances.
    if (impl_->nodegroupOwning(name) == nullptr) {
      for (FakeInstance* i : impl_->asgInstances(name)) {
        impl_->setInstanceStateLocked(*i, "terminated");
      }
      impl_->launchForAsg(g, g.desired_capacity);
    }
  }
  impl_->notifyInstancesChanged();
}
std::optional<FakeAutoScalingGroup> FakeAws::autoScalingGroup(const std::string& name) const {
  OPSY_FAKE_LOCK;
  auto it = impl_->asgs.find(name);
  return it == impl_->asgs.end() ? std::nullopt : std::optional<FakeAutoScalingGroup>(it->second);
}
std::vector<FakeInstanceRefresh> FakeAws::instanceRefreshes() const {
  OPSY_FAKE_LOCK;
  return impl_->refreshes;
}
std::vector<std::string> FakeAws::autoScalingGroupUpdates() const {
  OPSY_FAKE_LOCK;
  return impl_->asg_updates;
}
bool FakeAws::completeInstanceRefresh(const std::string& id) {
  bool done = false;
  {
    OPSY_FAKE_LOCK;
    for (auto& r : impl_->refreshes) {
      if (r.id == id && (r.status == "Pending" || r.status == "InProgress")) {
        impl_->finishRefresh(r, true, "");
        done = true;
        break;
      }
    }
  }
  impl_->notifyInstancesChanged();
  return done;
}
bool FakeAws::failInstanceRefresh(const std::string& id, const std::string& reason) {
  OPSY_FAKE_LOCK;
  for (auto& r : impl_->refreshes) {
    if (r.id == id && (r.status == "Pending" || r.status == "InProgress")) {
      impl_->finishRefresh(r, false, reason);
      return true;
    }
  }
  return false;
}
void FakeAws::setInstanceRefreshAutoCompleteAfter(int describe_calls) {
  OPSY_FAKE_LOCK;
  impl_->refresh_auto_complete = describe_calls;
}

std::vector<FakeSnsMessage> FakeAws::snsMessages() const {
  OPSY_FAKE_LOCK;
  return impl_->sns_messages;
}
std::vector<FakeSesEmail> FakeAws::sesEmails() const {
  OPSY_FAKE_LOCK;
  return impl_->ses_emails;
}
std::vector<FakeSlackPost> FakeAws::slackPosts() const {
  OPSY_FAKE_LOCK;
  return impl_->slack_posts;
}

std::vector<FakeCall> FakeAws::calls() const {
  OPSY_FAKE_LOCK;
  return impl_->calls;
}
int FakeAws::callCount(std::string_view service, std::string_view operation) const {
  OPSY_FAKE_LOCK;
  return static_cast<int>(
      std::count_if(impl_->calls.begin(), impl_->calls.end(), [&](const FakeCall& c) {
        return c.service == service && (operation.empty() || c.operation == operation);
      }));
}
void FakeAws::clearCalls() {
  OPSY_FAKE_LOCK;
  impl_->calls.clear();
}
std::vector<FakeCall> FakeAws::takeCalls() {
  OPSY_FAKE_LOCK;
  std::vector<FakeCall> out;
  out.swap(impl_->calls);
  return out;
}
void FakeAws::addFault(FaultRule rule) {
  OPSY_FAKE_LOCK;
  impl_->faults.push_back(std::move(rule));
}
void FakeAws::clearFaults() {
  OPSY_FAKE_LOCK;
  impl_->faults.clear();
}

#undef OPSY_FAKE_LOCK

}  // namespace opsy::testing

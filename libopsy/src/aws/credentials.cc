#include "opsy/aws/credentials.h"

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "aws/url.h"
#include "opsy/aws/endpoints.h"
#include "opsy/aws/errors.h"
#include "opsy/aws/sigv4.h"
#include "opsy/aws/sts.h"
#include "opsy/core/log.h"
#include "opsy/core/time_format.h"
#include "opsy/json/json.h"

namespace opsy::aws {
namespace {

constexpr std::string_view kImdsDefaultEndpoint = "http://169.254.169.254";
constexpr std::string_view kEcsHost = "http://169.254.170.2";

log::Logger logger() {
  return log::get("aws.credentials");
}

Credentials remember(Credentials c) {
  log::registerSecret(c.secret_access_key);
  log::registerSecret(c.session_token);
  return c;
}

Result<std::string> readWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(ErrorCode::FailedPrecondition, "cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) {
    return "";
  }
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// ---------------------------------------------------------------------------------------------

class StaticProvider : public CredentialsProvider {
 public:
  explicit StaticProvider(Credentials c) : creds_(remember(std::move(c))) {}
  Result<Credentials> credentials() override { return creds_; }
  std::string name() const override { return "static"; }

 private:
  Credentials creds_;
};

class EnvironmentProvider : public CredentialsProvider {
 public:
  explicit EnvironmentProvider(EnvLookup env) : env_(std::move(env)) {}
  Result<Credentials> credentials() override {
    auto id = nonEmpty(env_, "AWS_ACCESS_KEY_ID");
    auto secret = nonEmpty(env_, "AWS_SECRET_ACCESS_KEY");
    if (!id && !secret) {
      return fail(ErrorCode::NotFound, "AWS_ACCESS_KEY_ID is not set");
    }
    if (!id || !secret) {
      return fail(ErrorCode::FailedPrecondition,
                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
    }
    Credentials c;
    c.access_key_id = *id;
    c.secret_access_key = *secret;
    c.session_token = nonEmpty(env_, "AWS_SESSION_TOKEN").value_or("");
    return remember(std::move(c));
  }
  std::string name() const override { return "environment"; }

 private:
  EnvLookup env_;
};

// section -> key -> value; keys lower-cased, values trimmed; '#' and ';' start comments.
using IniFile = std::map<std::string, std::map<std::string, std::string>>;

IniFile parseIni(const std::string& text) {
  IniFile out;
  std::istringstream in(text);
  std::string line;
  std::string section;
  while (std::getline(in, line)) {
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') {
      continue;
    }
    if (t.front() == '[' && t.back() == ']') {
      section = trim(std::string_view(t).substr(1, t.size() - 2));
      out[section];
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos || section.empty()) {
      continue;
    }
    std::string key = trim(std::string_view(t).substr(0, eq));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out[section][key] = trim(std::string_view(t).substr(eq + 1));
  }
  return out;
}

class ProfileProvider : public CredentialsProvider {
 public:
  explicit ProfileProvider(EnvLookup env) : env_(std::move(env)) {}

  Result<Credentials> credentials() override {
    auto explicit_profile = nonEmpty(env_, "AWS_PROFILE");
    std::string profile = explicit_profile.value_or("default");
    std::string home = nonEmpty(env_, "HOME").value_or("");
    std::string creds_path = nonEmpty(env_, "AWS_SHARED_CREDENTIALS_FILE")
                                 .value_or(home.empty() ? "" : home + "/.aws/credentials");
    std::string config_path =
        nonEmpty(env_, "AWS_CONFIG_FILE").value_or(home.empty() ? "" : home + "/.aws/config");

    std::optional<std::map<std::string, std::string>> section;
    if (auto text = readWholeFile(creds_path); text && !creds_path.empty()) {
      IniFile ini = parseIni(*text);
      if (auto it = ini.find(profile); it != ini.end()) {
        section = it->second;
      }
    }
    if (!section || !section->contains("aws_access_key_id")) {
      if (auto text = readWholeFile(config_path); text && !config_path.empty()) {
        IniFile ini = parseIni(*text);
        auto it = ini.find(profile == "default" ? profile : "profile " + profile);
        if (it == ini.end() && profile == "default") {
          it = ini.find("profile default");
        }
        if (it != ini.end() && it->second.contains("aws_access_key_id")) {
          section = it->second;
        }
      }
    }
    if (!section) {
      Error e{explicit_profile ? ErrorCode::FailedPrecondition : ErrorCode::NotFound,
              "profile \"" + profile + "\" not found in " + creds_path + " or " + config_path};
      return fail(std::move(e));
    }
    auto get = [&](const char* key) {
      auto it = section->find(key);
      return it == section->end() ? std::string() : it->second;
    };
    Credentials c;
    c.access_key_id = get("aws_access_key_id");
    c.secret_access_key = get("aws_secret_access_key");
    c.session_token = get("aws_session_token");
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      return fail(ErrorCode::NotFound,
                  "profile \"" + profile + "\" has no aws_access_key_id/aws_secret_access_key");
    }
    return remember(std::move(c));
  }
  std::string name() const override { return "profile"; }

 private:
  EnvLookup env_;
};

// ---------------------------------------------------------------------------------------------

class WebIdentityProvider : public CredentialsProvider {
 public:
  WebIdentityProvider(EnvLookup env, http::TransportPtr transport, ClockPtr clock,
                      WebIdentityOptions options)
      : env_(std::move(env)),
        transport_(std::move(transport)),
        clock_(std::move(clock)),
        options_(std::move(options)) {}

  Result<Credentials> credentials() override {
    auto role = nonEmpty(env_, "AWS_ROLE_ARN");
    auto token_file = nonEmpty(env_, "AWS_WEB_IDENTITY_TOKEN_FILE");
    if (!role && !token_file) {
      return fail(ErrorCode::NotFound, "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE are not set");
    }
    if (!role || !token_file) {
      return fail(ErrorCode::FailedPrecondition,
                  "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE must be set together");
    }
    OPSY_ASSIGN_OR_RETURN(std::string token, readWholeFile(*token_file));
    token = trim(token);
    if (token.empty()) {
      return fail(ErrorCode::FailedPrecondition, "web identity token file is empty");
    }
    log::registerSecret(token);
    std::string session =
        nonEmpty(env_, "AWS_ROLE_SESSION_NAME")
            .value_or("opsy-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                   clock_->now().time_since_epoch())
                                                   .count()));
    ClientOptions options;
    auto region = resolveRegion("", env_);
    // Unsigned, so the region only picks the endpoint; without one the global endpoint works.
    options.region = region ? *region : "us-east-1";
    options.endpoint_url = options_.sts_endpoint;
    if (!region && options.endpoint_url.empty()) {
      options.endpoint_url =
          nonEmpty(env_, "AWS_ENDPOINT_URL_STS")
              .value_or(nonEmpty(env_, "AWS_ENDPOINT_URL").value_or("https://sts.amazonaws.com"));
    }
    options.transport = transport_;
    options.clock = clock_;
    options.env = env_;
    options.timeout = std::chrono::seconds(10);
    OPSY_ASSIGN_OR_RETURN(StsApiPtr sts, makeStsClient(options));
    AssumeRoleWithWebIdentityInput in;
    in.role_arn = *role;
    in.role_session_name = session;
    in.web_identity_token = token;
    in.duration_seconds = options_.duration_seconds;
    auto assumed = sts->assumeRoleWithWebIdentity(in);
    if (!assumed) {
      return fail(std::move(assumed.error()).context("web identity"));
    }
    Credentials c = std::move(assumed->credentials);
    logger().info("assumed role with web identity", log::kv("role_arn", *role));
    return remember(std::move(c));
  }
  std::string name() const override { return "web-identity"; }

 private:
  EnvLookup env_;
  http::TransportPtr transport_;
  ClockPtr clock_;
  WebIdentityOptions options_;
};

// ---------------------------------------------------------------------------------------------

Result<Credentials> parseJsonCredentials(const std::string& body, std::string_view source) {
  Result<json::Document> doc = json::parseObject(body, source);
  if (!doc) {
    return fail(ErrorCode::Internal, std::string(source) + ": response is not a JSON object");
  }
  auto str = [&](const char* key) { return json::stringOr(*doc, key); };
  if (json::member(*doc, "Code") != nullptr && str("Code") != "Success") {
    return fail(ErrorCode::Unavailable, std::string(source) + ": credentials code " + str("Code"));
  }
  Credentials c;
  c.access_key_id = str("AccessKeyId");
  c.secret_access_key = str("SecretAccessKey");
  c.session_token = str("Token");
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return fail(ErrorCode::Internal, std::string(source) + ": response has no credentials");
  }
  if (std::string exp = str("Expiration"); !exp.empty()) {
    OPSY_ASSIGN_OR_RETURN(TimePoint t, parseRfc3339(exp));
    c.expiration = t;
  }
  return c;
}

bool isLoopback(const std::string& host) {
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

class ContainerProvider : public CredentialsProvider {
 public:
  ContainerProvider(EnvLookup env, http::TransportPtr transport)
      : env_(std::move(env)), transport_(std::move(transport)) {}

  Result<Credentials> credentials() override {
    std::string url;
    if (auto rel = nonEmpty(env_, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
      url = std::string(kEcsHost) + (rel->front() == '/' ? "" : "/") + *rel;
    } else if (auto full = nonEmpty(env_, "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
      UrlParts parts;
      if (!splitUrl(*full, &parts)) {
        return fail(ErrorCode::FailedPrecondition,
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
      }
      bool allowed = isLoopback(parts.host) || parts.host == "169.254.170.2" ||
                     parts.host == "169.254.170.23" || parts.host == "[fd00:ec2::23]";
      if (!allowed) {
        return fail(ErrorCode::FailedPrecondition,
                    "container credentials host " + parts.host +
                        " is not allowed (loopback, 169.254.170.2, 169.254.170.23, "
                        "fd00:ec2::23)");
      }
      url = *full;
    } else {
      return fail(ErrorCode::NotFound, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not set");
    }
    http::Request req;
    req.method = "GET";
    req.url = url;
    req.timeout = std::chrono::seconds(2);
    std::optional<std::string> auth;
    if (auto file = nonEmpty(env_, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
      OPSY_ASSIGN_OR_RETURN(std::string text, readWholeFile(*file));
      auth = trim(text);
    } else if (auto token = nonEmpty(env_, "AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
      auth = *token;
    }
    if (auth) {
      if (auth->find_first_of("\r\n") != std::string::npos) {
        return fail(ErrorCode::FailedPrecondition,
                    "container authorization token contains CR or LF");
      }
      log::registerSecret(*auth);
      req.headers.emplace_back("Authorization", *auth);
    }
    auto resp = transport_->send(req);
    if (!resp) {
      return fail(std::move(resp.error()).context("container credentials"));
    }
    if (resp->status != 200) {
      Error e{resp->status >= 500 ? ErrorCode::Unavailable : ErrorCode::PermissionDenied,
              "container credentials: HTTP " + std::to_string(resp->status)};
      return fail(std::move(e).withHttpStatus(resp->status));
    }
    OPSY_ASSIGN_OR_RETURN(Credentials c, parseJsonCredentials(resp->body, "container credentials"));
    return remember(std::move(c));
  }
  std::string name() const override { return "container"; }

 private:
  EnvLookup env_;
  http::TransportPtr transport_;
};

class ImdsProvider : public CredentialsProvider {
 public:
  ImdsProvider(EnvLookup env, http::TransportPtr transport)
      : env_(std::move(env)), transport_(std::move(transport)) {}

  Result<Credentials> credentials() override {
    if (envFlag(env_, "AWS_EC2_METADATA_DISABLED")) {
      return fail(ErrorCode::NotFound, "disabled by AWS_EC2_METADATA_DISABLED");
    }
    std::string base = nonEmpty(env_, "AWS_EC2_METADATA_SERVICE_ENDPOINT")
                           .value_or(std::string(kImdsDefaultEndpoint));
    while (!base.empty() && base.back() == '/') {
      base.pop_back();
    }
    http::Request token_req;
    token_req.method = "PUT";
    token_req.url = base + "/latest/api/token";
    token_req.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    token_req.timeout = std::chrono::seconds(1);
    auto token_resp = transport_->send(token_req);
    if (!token_resp) {
      // Nothing answers at the metadata address: not on EC2 (or the hop limit is too low).
      return fail(ErrorCode::NotFound, "imds not reachable: " + token_resp.error().message);
    }
    OPSY_ASSIGN_OR_RETURN(std::string token, fetch(token_req, "imds token", *token_resp));
    log::registerSecret(token);

    http::Request role_req;
    role_req.url = base + "/latest/meta-data/iam/security-credentials/";
    role_req.headers = {{"X-aws-ec2-metadata-token", token}};
    role_req.timeout = std::chrono::seconds(1);
    OPSY_ASSIGN_OR_RETURN(std::string roles, fetch(role_req, "imds role"));
    std::string role = trim(roles.substr(0, roles.find('\n')));
    if (role.empty()) {
      return fail(ErrorCode::NotFound, "instance has no IAM role");
    }
    http::Request creds_req = role_req;
    creds_req.url += role;
    OPSY_ASSIGN_OR_RETURN(std::string body, fetch(creds_req, "imds credentials"));
    OPSY_ASSIGN_OR_RETURN(Credentials c, parseJsonCredentials(body, "imds"));
    return remember(std::move(c));
  }
  std::string name() const override { return "imds"; }

 private:
  Result<std::string> fetch(const http::Request& req, std::string_view what) {
    auto resp = transport_->send(req);
    if (!resp) {
      return fail(std::move(resp.error()).context(what));
    }
    return fetch(req, what, *resp);
  }

  Result<std::string> fetch(const http::Request&, std::string_view what,
                            const http::Response& response) {
    const http::Response* resp = &response;
    if (resp->status != 200) {
      ErrorCode code = resp->status == 404   ? ErrorCode::NotFound
                       : resp->status >= 500 ? ErrorCode::Unavailable
                                             : ErrorCode::PermissionDenied;
      Error e{code, std::string(what) + ": HTTP " + std::to_string(resp->status)};
      return fail(std::move(e).withHttpStatus(resp->status));
    }
    return resp->body;
  }

  EnvLookup env_;
  http::TransportPtr transport_;
};

// ---------------------------------------------------------------------------------------------

class ChainProvider : public CredentialsProvider {
 public:
  explicit ChainProvider(std::vector<CredentialsProviderPtr> providers)
      : providers_(std::move(providers)) {}

  Result<Credentials> credentials() override {
    std::string tried;
    ErrorCode last = ErrorCode::NotFound;
    for (const auto& p : providers_) {
      auto c = p->credentials();
      if (c) {
        logger().debug("credentials found", log::kv("provider", p->name()));
        return c;
      }
      if (!tried.empty()) {
        tried += "; ";
      }
      tried += p->name() + ": " + c.error().message;
      last = c.error().code;
      if (last != ErrorCode::NotFound) {
        // Configured but failing: do not fall through to a different identity.
        break;
      }
    }
    return fail(last == ErrorCode::NotFound ? ErrorCode::Unauthenticated : last,
                "no AWS credentials (" + tried + ")");
  }
  std::string name() const override { return "chain"; }
  void invalidate() override {
    for (const auto& p : providers_) {
      p->invalidate();
    }
  }

 private:
  std::vector<CredentialsProviderPtr> providers_;
};

class CachingProvider : public CredentialsProvider {
 public:
  CachingProvider(CredentialsProviderPtr inner, ClockPtr clock, Duration refresh_before)
      : inner_(std::move(inner)), clock_(std::move(clock)), refresh_before_(refresh_before) {}

  Result<Credentials> credentials() override {
    std::lock_guard<std::mutex> lock(mu_);
    TimePoint now = clock_->now();
    if (cached_ && (!cached_->expiration || now + refresh_before_ < *cached_->expiration)) {
      return *cached_;
    }
    auto fresh = inner_->credentials();
    if (fresh) {
      cached_ = *fresh;
      return fresh;
    }
    if (cached_ && cached_->expiration && now < *cached_->expiration) {
      logger().warn("credentials refresh failed, using cached",
                    log::kv("provider", inner_->name(), "error", fresh.error().toString()));
      return *cached_;
    }
    return fresh;
  }
  std::string name() const override { return inner_->name(); }
  void invalidate() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cached_.reset();
    }
    inner_->invalidate();
  }

 private:
  std::mutex mu_;
  CredentialsProviderPtr inner_;
  ClockPtr clock_;
  Duration refresh_before_;
  std::optional<Credentials> cached_;
};

}  // namespace

CredentialsProviderPtr makeStaticProvider(Credentials credentials) {
  return std::make_shared<StaticProvider>(std::move(credentials));
}
CredentialsProviderPtr makeEnvironmentProvider(EnvLookup env) {
  return std::make_shared<EnvironmentProvider>(std::move(env));
}
CredentialsProviderPtr makeProfileProvider(EnvLookup env) {
  return std::make_shared<ProfileProvider>(std::move(env));
}
CredentialsProviderPtr makeWebIdentityProvider(EnvLookup env, http::TransportPtr transport,
                                               ClockPtr clock, WebIdentityOptions options) {
  return std::make_shared<WebIdentityProvider>(std::move(env), std::move(transport),
                                               std::move(clock), std::move(options));
}
CredentialsProviderPtr makeContainerProvider(EnvLookup env, http::TransportPtr transport) {
  return std::make_shared<ContainerProvider>(std::move(env), std::move(transport));
}
CredentialsProviderPtr makeImdsProvider(EnvLookup env, http::TransportPtr transport) {
  return std::make_shared<ImdsProvider>(std::move(env), std::move(transport));
}
CredentialsProviderPtr makeChainProvider(std::vector<CredentialsProviderPtr> providers) {
  return std::make_shared<ChainProvider>(std::move(providers));
}
CredentialsProviderPtr makeCachingProvider(CredentialsProviderPtr inner, ClockPtr clock,
                                           Duration refresh_before) {
  return std::make_shared<CachingProvider>(std::move(inner), std::move(clock), refresh_before);
}

CredentialsProviderPtr makeDefaultCredentialsChain(EnvLookup env, http::TransportPtr transport,
                                                   ClockPtr clock) {
  std::vector<CredentialsProviderPtr> providers = {
      makeEnvironmentProvider(env),     makeWebIdentityProvider(env, transport, clock),
      makeProfileProvider(env),         makeContainerProvider(env, transport),
      makeImdsProvider(env, transport),
  };
  return makeCachingProvider(makeChainProvider(std::move(providers)), std::move(clock));
}

}  // namespace opsy::aws

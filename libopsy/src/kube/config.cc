#include "opsy/kube/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "kube/base64.h"
#include "kube/exec_credential.h"
#include "opsy/core/log.h"
#include "opsy/core/strings.h"

namespace opsy::kube {
namespace {

namespace fs = std::filesystem;

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(ErrorCode::NotFound, fmt::format("{}: cannot read file", path));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

class StaticTokenSource : public CredentialSource {
 public:
  explicit StaticTokenSource(std::string token) { credential_.token = std::move(token); }
  Result<Credential> credential() override { return credential_; }

 private:
  Credential credential_;
};

class FileTokenSource : public CredentialSource {
 public:
  FileTokenSource(std::string path, Clock& clock, Duration refresh)
      : path_(std::move(path)), clock_(clock), refresh_(refresh) {}

  Result<Credential> credential() override {
    std::lock_guard lock(mu_);
    auto now = clock_.steadyNow();
    if (read_at_.has_value() && now - *read_at_ < refresh_) {
      return credential_;
    }
    auto text = readFile(path_);
    if (!text) {
      return fail(ErrorCode::Unauthenticated, fmt::format("{}: cannot read token file", path_));
    }
    std::string token(trimSpace(*text));
    if (token.empty()) {
      return fail(ErrorCode::Unauthenticated, fmt::format("{}: token file is empty", path_));
    }
    credential_.token = std::move(token);
    read_at_ = now;
    return credential_;
  }

  void invalidate() override {
    std::lock_guard lock(mu_);
    read_at_.reset();
  }

 private:
  std::string path_;
  Clock& clock_;
  Duration refresh_;
  std::mutex mu_;
  Credential credential_;
  std::optional<std::chrono::steady_clock::time_point> read_at_;
};

// ---- kubeconfig ----

// A named entry (cluster, user or context) and where it was defined.
struct Entry {
  YAML::Node body;
  std::string file;
  std::string field;  // "users[2].user"
};

struct Merged {
  std::map<std::string, Entry> clusters;
  std::map<std::string, Entry> users;
  std::map<std::string, Entry> contexts;
  std::string current_context;
  std::string current_context_file;
  std::vector<std::string> files;
};

tl::unexpected<Error> fieldError(const std::string& file, const std::string& field,
                                 const std::string& what) {
  return fail(ErrorCode::InvalidArgument, fmt::format("{}: {}: {}", file, field, what));
}

// A scalar string member ("" when absent).
Result<std::string> scalar(const YAML::Node& parent, const char* key, const std::string& file,
                           const std::string& field) {
  YAML::Node n = parent[key];
  if (!n || n.IsNull()) {
    return std::string();
  }
  if (!n.IsScalar()) {
    return fieldError(file, field + "." + key, "expected a string");
  }
  return n.Scalar();
}

Result<bool> boolean(const YAML::Node& parent, const char* key, const std::string& file,
                     const std::string& field) {
  YAML::Node n = parent[key];
  if (!n || n.IsNull()) {
    return false;
  }
  bool value = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
    return fieldError(file, field + "." + key, "expected true or false");
  }
  return value;
}

Status collect(const YAML::Node& root, const char* list_key, const char* body_key,
               const std::string& file, std::map<std::string, Entry>& into) {
  YAML::Node list = root[list_key];
  if (!list || list.IsNull()) {
    return ok();
  }
  if (!list.IsSequence()) {
    return fieldError(file, list_key, "expected a list");
  }
  for (size_t i = 0; i < list.size(); ++i) {
    std::string field = fmt::format("{}[{}]", list_key, i);
    const YAML::Node item = list[i];
    if (!item.IsMap()) {
      return fieldError(file, field, "expected a mapping");
    }
    OPSY_ASSIGN_OR_RETURN(std::string name, scalar(item, "name", file, field));
    if (name.empty()) {
      return fieldError(file, field + ".name", "missing");
    }
    YAML::Node body = item[body_key];
    if (body && !body.IsNull() && !body.IsMap()) {
      return fieldError(file, field + "." + body_key, "expected a mapping");
    }
    // The first file to define a name wins, as kubectl merges KUBECONFIG.
    into.emplace(
        name, Entry{body ? body : YAML::Node(YAML::NodeType::Map), file, field + "." + body_key});
  }
  return ok();
}

Status mergeDocument(const std::string& text, const std::string& file, Merged& merged) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{}: line {}: {}", file, e.mark.line + 1, e.msg));
  }
  merged.files.push_back(file);
  if (!root || root.IsNull()) {
    return ok();
  }
  if (!root.IsMap()) {
    return fail(ErrorCode::InvalidArgument, fmt::format("{}: expected a mapping", file));
  }
  try {
    OPSY_RETURN_IF_ERROR(collect(root, "clusters", "cluster", file, merged.clusters));
    OPSY_RETURN_IF_ERROR(collect(root, "users", "user", file, merged.users));
    OPSY_RETURN_IF_ERROR(collect(root, "contexts", "context", file, merged.contexts));
    OPSY_ASSIGN_OR_RETURN(std::string current, scalar(root, "current-context", file, ""));
    if (merged.current_context.empty() && !current.empty()) {
      merged.current_context = current;
      merged.current_context_file = file;
    }
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::InvalidArgument, fmt::format("{}: {}", file, e.what()));
  }
  return ok();
}

std::string resolvePath(const std::string& path, const std::string& kubeconfig_file) {
  if (path.empty() || fs::path(path).is_absolute()) {
    return path;
  }
  return (fs::path(kubeconfig_file).parent_path() / path).lexically_normal().string();
}

Result<std::string> decodeData(const YAML::Node& parent, const char* key, const Entry& entry) {
  OPSY_ASSIGN_OR_RETURN(std::string data, scalar(parent, key, entry.file, entry.field));
  if (data.empty()) {
    return data;
  }
  auto decoded = base64Decode(data);
  if (!decoded) {
    return fieldError(entry.file, entry.field + "." + key, "not valid base64");
  }
  return *decoded;
}

Status applyCluster(const Entry& e, RestConfig& cfg) {
  const YAML::Node& c = e.body;
  OPSY_ASSIGN_OR_RETURN(cfg.server, scalar(c, "server", e.file, e.field));
  if (cfg.server.empty()) {
    return fieldError(e.file, e.field + ".server", "missing");
  }
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0) {
    return fieldError(e.file, e.field + ".server", "must start with https:// or http://");
  }
  while (cfg.server.size() > 8 && cfg.server.back() == '/') {
    cfg.server.pop_back();
  }
  OPSY_ASSIGN_OR_RETURN(std::string ca, scalar(c, "certificate-authority", e.file, e.field));
  cfg.ca_file = resolvePath(ca, e.file);
  OPSY_ASSIGN_OR_RETURN(cfg.ca_pem, decodeData(c, "certificate-authority-data", e));
  OPSY_ASSIGN_OR_RETURN(cfg.insecure_skip_tls_verify,
                        boolean(c, "insecure-skip-tls-verify", e.file, e.field));
  OPSY_ASSIGN_OR_RETURN(cfg.tls_server_name, scalar(c, "tls-server-name", e.file, e.field));
  OPSY_ASSIGN_OR_RETURN(cfg.proxy_url, scalar(c, "proxy-url", e.file, e.field));
  return ok();
}

Result<ExecConfig> parseExec(const YAML::Node& exec, const Entry& e) {
  const std::string field = e.field + ".exec";
  if (!exec.IsMap()) {
    return fieldError(e.file, field, "expected a mapping");
  }
  ExecConfig out;
  out.origin = fmt::format("{}: {}", e.file, field);
  OPSY_ASSIGN_OR_RETURN(out.api_version, scalar(exec, "apiVersion", e.file, field));
  if (out.api_version != "client.authentication.k8s.io/v1" &&
      out.api_version != "client.authentication.k8s.io/v1beta1") {
    return fieldError(e.file, field + ".apiVersion",
                      fmt::format("unsupported '{}' (want client.authentication.k8s.io/v1 or "
                                  "v1beta1)",
                                  out.api_version));
  }
  OPSY_ASSIGN_OR_RETURN(out.command, scalar(exec, "command", e.file, field));
  if (out.command.empty()) {
    return fieldError(e.file, field + ".command", "missing");
  }
  // A command path with a slash is relative to the kubeconfig; a bare name is searched on PATH.
  if (out.command.find('/') != std::string::npos) {
    out.command = resolvePath(out.command, e.file);
  }
  if (YAML::Node args = exec["args"]; args && !args.IsNull()) {
    if (!args.IsSequence()) {
      return fieldError(e.file, field + ".args", "expected a list of strings");
    }
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].IsScalar()) {
        return fieldError(e.file, fmt::format("{}.args[{}]", field, i), "expected a string");
      }
      out.args.push_back(args[i].Scalar());
    }
  }
  if (YAML::Node env = exec["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) {
      return fieldError(e.file, field + ".env", "expected a list of {name, value}");
    }
    for (size_t i = 0; i < env.size(); ++i) {
      std::string item = fmt::format("{}.env[{}]", field, i);
      if (!env[i].IsMap()) {
        return fieldError(e.file, item, "expected a mapping");
      }
      OPSY_ASSIGN_OR_RETURN(std::string name, scalar(env[i], "name", e.file, item));
      OPSY_ASSIGN_OR_RETURN(std::string value, scalar(env[i], "value", e.file, item));
      if (name.empty()) {
        return fieldError(e.file, item + ".name", "missing");
      }
      out.env.emplace_back(name, value);
    }
  }
  return out;
}

Status applyUser(const Entry& e, Clock& clock, RestConfig& cfg) {
  const YAML::Node& u = e.body;
  OPSY_ASSIGN_OR_RETURN(std::string cert, scalar(u, "client-certificate", e.file, e.field));
  cfg.client_certificate_file = resolvePath(cert, e.file);
  OPSY_ASSIGN_OR_RETURN(cfg.client_certificate_pem, decodeData(u, "client-certificate-data", e));
  OPSY_ASSIGN_OR_RETURN(std::string key, scalar(u, "client-key", e.file, e.field));
  cfg.client_key_file = resolvePath(key, e.file);
  OPSY_ASSIGN_OR_RETURN(cfg.client_key_pem, decodeData(u, "client-key-data", e));
  bool has_cert = !cfg.client_certificate_file.empty() || !cfg.client_certificate_pem.empty();
  bool has_key = !cfg.client_key_file.empty() || !cfg.client_key_pem.empty();
  if (has_cert != has_key) {
    return fieldError(e.file, e.field,
                      has_cert ? "client certificate given without client-key(-data)"
                               : "client key given without client-certificate(-data)");
  }

  OPSY_ASSIGN_OR_RETURN(std::string token, scalar(u, "token", e.file, e.field));
  OPSY_ASSIGN_OR_RETURN(std::string token_file, scalar(u, "tokenFile", e.file, e.field));
  YAML::Node exec = u["exec"];
  if (exec && !exec.IsNull()) {
    OPSY_ASSIGN_OR_RETURN(ExecConfig exec_config, parseExec(exec, e));
    cfg.credentials = execCredentialSource(std::move(exec_config), clock);
  } else if (!token.empty()) {
    cfg.credentials = staticTokenSource(token);
  } else if (!token_file.empty()) {
    cfg.credentials = fileTokenSource(resolvePath(token_file, e.file), clock);
  }
  for (const char* unsupported : {"auth-provider", "username"}) {
    if (YAML::Node n = u[unsupported]; n && !n.IsNull()) {
      return fieldError(e.file, e.field + "." + unsupported,
                        "not supported (use a token, a client certificate or an exec plugin)");
    }
  }
  return ok();
}

Result<RestConfig> resolve(const Merged& merged, const std::string& context_override,
                           Clock& clock) {
  std::string files;
  for (const auto& f : merged.files) {
    files += (files.empty() ? "" : ", ") + f;
  }
  std::string context_name = context_override.empty() ? merged.current_context : context_override;
  if (context_name.empty()) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{}: current-context is not set and no context was given", files));
  }
  auto ctx = merged.contexts.find(context_name);
  if (ctx == merged.contexts.end()) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("{}: context '{}' not found", files, context_name));
  }
  const Entry& c = ctx->second;
  OPSY_ASSIGN_OR_RETURN(std::string cluster_name, scalar(c.body, "cluster", c.file, c.field));
  OPSY_ASSIGN_OR_RETURN(std::string user_name, scalar(c.body, "user", c.file, c.field));
  OPSY_ASSIGN_OR_RETURN(std::string ns, scalar(c.body, "namespace", c.file, c.field));
  auto cluster = merged.clusters.find(cluster_name);
  if (cluster == merged.clusters.end()) {
    return fieldError(c.file, c.field + ".cluster",
                      fmt::format("cluster '{}' not found", cluster_name));
  }
  RestConfig cfg;
  cfg.origin = fmt::format("{} (context {})", files, context_name);
  if (!ns.empty()) {
    cfg.default_namespace = ns;
  }
  try {
    OPSY_RETURN_IF_ERROR(applyCluster(cluster->second, cfg));
    if (!user_name.empty()) {
      auto user = merged.users.find(user_name);
      if (user == merged.users.end()) {
        return fieldError(c.file, c.field + ".user", fmt::format("user '{}' not found", user_name));
      }
      OPSY_RETURN_IF_ERROR(applyUser(user->second, clock, cfg));
    }
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::InvalidArgument, fmt::format("{}: {}", files, e.what()));
  }
  return cfg;
}

std::vector<std::string> splitPathList(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t colon = list.find(':', start);
    std::string item = list.substr(start, colon == std::string::npos ? colon : colon - start);
    if (!item.empty()) {
      out.push_back(item);
    }
    if (colon == std::string::npos) {
      break;
    }
    start = colon + 1;
  }
  return out;
}

EnvLookup envOrProcess(const EnvLookup& env) {
  return env ? env : processEnv();
}

std::string joinHostPort(const std::string& host, const std::string& port) {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + port;
  }
  return host + ":" + port;
}

// The parts of a server URL the plain-HTTP check needs.
struct ServerUrl {
  std::string scheme;  // lower case
  std::string host;    // "[::1]" for IPv6
  bool has_userinfo = false;
  std::string display;  // the URL without its user information, for messages
};

ServerUrl splitServerUrl(std::string_view url) {
  ServerUrl out;
  size_t scheme_end = url.find("://");
  std::string_view rest = url;
  if (scheme_end != std::string_view::npos) {
    for (char c : url.substr(0, scheme_end)) {
      out.scheme.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    rest = url.substr(scheme_end + 3);
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  std::string_view after_authority = rest.substr(authority.size());
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    out.has_userinfo = true;
    authority.remove_prefix(at + 1);
  }
  if (authority.starts_with('[')) {
    out.host = std::string(authority.substr(0, authority.find(']') + 1));
  } else {
    out.host = std::string(authority.substr(0, authority.find(':')));
  }
  out.display = (out.scheme.empty() ? std::string() : out.scheme + "://") + std::string(authority) +
                std::string(after_authority.substr(0, after_authority.find_first_of("?#")));
  return out;
}

}  // namespace

bool isLoopbackHost(std::string_view host) {
  std::string lower;
  for (char c : host) {
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (lower == "localhost") {
    return true;
  }
  if (lower.size() > 2 && lower.front() == '[' && lower.back() == ']') {
    in6_addr v6{};
    return inet_pton(AF_INET6, lower.substr(1, lower.size() - 2).c_str(), &v6) == 1 &&
           IN6_IS_ADDR_LOOPBACK(&v6);
  }
  in_addr v4{};
  return inet_pton(AF_INET, lower.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

Status checkPlaintextCredentials(const RestConfig& config, bool allow_http_on_loopback) {
  ServerUrl url = splitServerUrl(config.server);
  if (url.scheme == "https" || (!config.credentials && !url.has_userinfo)) {
    return ok();
  }
  const std::string where = config.origin.empty() ? "kubernetes config" : config.origin;
  const bool loopback = isLoopbackHost(url.host);
  if (allow_http_on_loopback && loopback) {
    return ok();
  }
  if (allow_http_on_loopback) {
    return fail(ErrorCode::FailedPrecondition,
                fmt::format("{}: server {} is plain HTTP and not a loopback address; refusing to "
                            "send credentials in clear text (plain HTTP with credentials is "
                            "allowed only to 127.0.0.0/8, ::1 and localhost)",
                            where, url.display));
  }
  return fail(ErrorCode::FailedPrecondition,
              fmt::format("{}: server {} is plain HTTP; refusing to send credentials in clear text",
                          where, url.display));
}

CredentialSourcePtr staticTokenSource(std::string token) {
  return std::make_shared<StaticTokenSource>(std::move(token));
}

CredentialSourcePtr fileTokenSource(std::string path, Clock& clock, Duration refresh) {
  return std::make_shared<FileTokenSource>(std::move(path), clock, refresh);
}

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

Result<RestConfig> loadInClusterConfig(Clock& clock, const InClusterOptions& options) {
  EnvLookup env = envOrProcess(options.env);
  std::string host = env("KUBERNETES_SERVICE_HOST").value_or("");
  std::string port = env("KUBERNETES_SERVICE_PORT").value_or("");
  if (host.empty() || port.empty()) {
    return fail(ErrorCode::FailedPrecondition,
                "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                "must be set");
  }
  const fs::path dir(options.service_account_dir);
  RestConfig cfg;
  cfg.origin = "in-cluster";
  cfg.server = "https://" + joinHostPort(host, port);
  cfg.credentials = fileTokenSource((dir / "token").string(), clock, options.token_refresh);
  // Read the token once now so a missing mount fails at startup, not on the first request.
  OPSY_RETURN_IF_ERROR(cfg.credentials->credential());
  std::error_code ec;
  if (!fs::exists(dir / "ca.crt", ec)) {
    return fail(ErrorCode::FailedPrecondition,
                fmt::format("{}: service account CA not found", (dir / "ca.crt").string()));
  }
  cfg.ca_file = (dir / "ca.crt").string();
  if (auto ns = readFile((dir / "namespace").string()); ns && !trimSpace(*ns).empty()) {
    cfg.default_namespace = std::string(trimSpace(*ns));
  }
  return cfg;
}

Result<RestConfig> parseKubeconfig(Clock& clock, const std::string& yaml_text,
                                   const std::string& path, const std::string& context) {
  Merged merged;
  OPSY_RETURN_IF_ERROR(mergeDocument(yaml_text, path, merged));
  return resolve(merged, context, clock);
}

Result<RestConfig> loadKubeconfig(Clock& clock, const KubeconfigOptions& options) {
  EnvLookup env = envOrProcess(options.env);
  std::vector<std::string> paths;
  bool required = true;
  if (!options.explicit_path.empty()) {
    paths.push_back(options.explicit_path);
  } else if (auto list = env("KUBECONFIG"); list.has_value() && !list->empty()) {
    paths = splitPathList(*list);
    // Like kubectl: files named in KUBECONFIG that do not exist are skipped.
    required = false;
  } else {
    std::string home = env("HOME").value_or("");
    if (home.empty()) {
      return fail(ErrorCode::NotFound, "no kubeconfig: KUBECONFIG and HOME are not set");
    }
    paths.push_back((fs::path(home) / ".kube" / "config").string());
  }
  Merged merged;
  for (const auto& path : paths) {
    auto text = readFile(path);
    if (!text) {
      if (required) {
        return fail(std::move(text).error());
      }
      continue;
    }
    OPSY_RETURN_IF_ERROR(mergeDocument(*text, path, merged));
  }
  if (merged.files.empty()) {
    return fail(ErrorCode::NotFound, "no kubeconfig: none of the files in KUBECONFIG exist");
  }
  return resolve(merged, options.context, clock);
}

Result<RestConfig> loadConfig(Clock& clock, const KubeconfigOptions& kubeconfig,
                              const InClusterOptions& in_cluster) {
  EnvLookup env = envOrProcess(kubeconfig.env);
  bool kubeconfig_env = env("KUBECONFIG").value_or("") != "";
  if (!kubeconfig.explicit_path.empty() || kubeconfig_env) {
    return loadKubeconfig(clock, kubeconfig);
  }
  InClusterOptions ic = in_cluster;
  if (!ic.env) {
    ic.env = env;
  }
  if (env("KUBERNETES_SERVICE_HOST").value_or("") != "") {
    return loadInClusterConfig(clock, ic);
  }
  return loadKubeconfig(clock, kubeconfig);
}

}  // namespace opsy::kube

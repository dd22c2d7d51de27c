// File: config.h
//
// Where the Kubernetes API is and how to authenticate to it. RestConfig is the value the REST
// client and the HTTPS transport are built from; the loaders fill it the way client-go does:
// in-cluster (service-account token, re-read so rotated projected tokens keep working) or
// kubeconfig (KUBECONFIG path list merged first-wins, contexts, inline or file TLS material,
// static tokens, token files and exec credential plugins). Errors name the file and the field.
//
//   OPSY_ASSIGN_OR_RETURN(RestConfig cfg, loadConfig(realClock(), {.explicit_path = flag}));
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::kube {

// What authenticates one request: a bearer token and/or a client certificate (exec plugins may
// return either). PEM fields are the decoded text.
struct Credential {
  std::string token;
  std::string client_certificate_pem;
  std::string client_key_pem;
  // When the credential stops being valid; nullopt when unknown or never.
  std::optional<TimePoint> expiry;
};

// A source of credentials that may change over the life of the process (rotated token files,
// exec plugins). Implementations are thread-safe.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  /**
   * The credential to use now, refreshed when the cached one is stale.
   * @return Unauthenticated when it cannot be obtained (file unreadable, plugin failed).
   */
  [[nodiscard]] virtual Result<Credential> credential() = 0;
  /** Drops any cached value; called after the server answered 401. */
  virtual void invalidate() {}
};

using CredentialSourcePtr = std::shared_ptr<CredentialSource>;

// A fixed token (kubeconfig `token`).
CredentialSourcePtr staticTokenSource(std::string token);
// A token file re-read when the cached copy is older than `refresh` (client-go uses a minute).
CredentialSourcePtr fileTokenSource(std::string path, Clock& clock,
                                    Duration refresh = std::chrono::minutes(1));

struct RestConfig {
  // "https://10.0.0.1:443"; no trailing slash.
  std::string server;
  // TLS trust: a CA bundle file and/or inline PEM.
  std::string ca_file;
  std::string ca_pem;
  // Client certificate authentication: files and/or inline PEM.
  std::string client_certificate_file;
  std::string client_certificate_pem;
  std::string client_key_file;
  std::string client_key_pem;
  bool insecure_skip_tls_verify = false;
  // SNI / verification name when it differs from the server's host.
  std::string tls_server_name;
  std::string proxy_url;
  // The namespace of the context, or the pod's own namespace in-cluster.
  std::string default_namespace = "default";
  // Bearer tokens and exec-plugin certificates; null for no token.
  CredentialSourcePtr credentials;
  // Where this configuration came from, for messages ("in-cluster", "/home/a/.kube/config").
  std::string origin;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
// The process environment.
EnvLookup processEnv();

struct InClusterOptions {
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  EnvLookup env;  // processEnv() when empty
  Duration token_refresh = std::chrono::minutes(1);
};

// client-go's InClusterConfig. FailedPrecondition when not running in a cluster.
[[nodiscard]] Result<RestConfig> loadInClusterConfig(Clock& clock,
                                                     const InClusterOptions& options = {});

struct KubeconfigOptions {
  // --kubeconfig: when set, the only file read.
  std::string explicit_path;
  // --context: overrides current-context.
  std::string context;
  EnvLookup env;  // processEnv() when empty; KUBECONFIG and HOME come from here
};

// Reads kubeconfig files (explicit path, else the KUBECONFIG list, else ~/.kube/config), merges
// them (the first file to set a key wins) and resolves the chosen context.
[[nodiscard]] Result<RestConfig> loadKubeconfig(Clock& clock, const KubeconfigOptions& options);
// Parses one kubeconfig document. `path` names it in errors and anchors relative file paths.
[[nodiscard]] Result<RestConfig> parseKubeconfig(Clock& clock, const std::string& yaml_text,
                                                 const std::string& path,
                                                 const std::string& context = "");

// Whether `host` (a URL's host: a name, an IPv4 address or a bracketed IPv6 address) is this
// machine's loopback: 127.0.0.0/8, ::1 or localhost.
bool isLoopbackHost(std::string_view host);

// Refuses credentials in clear text: a config that authenticates with a bearer token (static,
// token file or exec plugin) or with a user name in the server URL may use an http:// server only
// when `allow_http_on_loopback` is set and the server is a loopback address. FailedPrecondition
// names the server; ok for https:// servers and configs without credentials.
[[nodiscard]] Status checkPlaintextCredentials(const RestConfig& config,
                                               bool allow_http_on_loopback);

// The usual order: an explicit kubeconfig, then KUBECONFIG, then in-cluster, then ~/.kube/config.
[[nodiscard]] Result<RestConfig> loadConfig(Clock& clock, const KubeconfigOptions& kubeconfig,
                                            const InClusterOptions& in_cluster = {});

}  // namespace opsy::kube

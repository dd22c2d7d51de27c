#include "opsy/kube/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "kube/exec_credential.h"
#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"

namespace opsy::kube {
namespace {

namespace fs = std::filesystem;
using std::chrono::minutes;
using std::chrono::seconds;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "opsy-kubecfg-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text, bool executable = false) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    if (executable) {
      chmod(p.c_str(), 0755);
    }
    return p.string();
  }

  EnvLookup env() {
    return [this](const std::string& k) -> std::optional<std::string> {
      auto it = env_.find(k);
      if (it == env_.end()) {
        return std::nullopt;
      }
      return it->second;
    };
  }

  std::string token(const RestConfig& cfg) {
    if (!cfg.credentials) {
      return "<none>";
    }
    auto c = cfg.credentials->credential();
    return c ? c->token : "<error: " + c.error().message + ">";
  }

  fs::path dir_;
  std::map<std::string, std::string> env_;
  FakeClock clock_;
};

// In-cluster: the service host is joined IPv6-safely, and CA, token and namespace come from the
// mounted service-account directory.
TEST_F(ConfigTest, InClusterReadsServiceAccountMount) {
  write("sa/token", "tok-1\n");
  write("sa/ca.crt", "-----BEGIN CERTIFICATE-----\n");
  write("sa/namespace", "opsy-system");
  env_ = {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}};
  InClusterOptions options;
  options.service_account_dir = (dir_ / "sa").string();
  options.env = env();
  auto cfg = loadInClusterConfig(clock_, options);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://[fd00::1]:443");
  EXPECT_EQ(cfg->ca_file, (dir_ / "sa/ca.crt").string());
  EXPECT_EQ(cfg->default_namespace, "opsy-system");
  EXPECT_EQ(token(*cfg), "tok-1");

  env_["KUBERNETES_SERVICE_HOST"] = "10.0.0.1";
  EXPECT_EQ(loadInClusterConfig(clock_, options)->server, "https://10.0.0.1:443");
}

// A rotated projected token is picked up within a minute, and not re-read before that.
TEST_F(ConfigTest, InClusterTokenRotationIsReread) {
  write("sa/token", "old");
  write("sa/ca.crt", "x");
  env_ = {{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}};
  InClusterOptions options;
  options.service_account_dir = (dir_ / "sa").string();
  options.env = env();
  auto cfg = loadInClusterConfig(clock_, options);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  write("sa/token", "new");
  clock_.advance(seconds(30));
  EXPECT_EQ(token(*cfg), "old");
  clock_.advance(seconds(31));
  EXPECT_EQ(token(*cfg), "new");
}

// Outside a cluster the in-cluster loader says so instead of guessing.
TEST_F(ConfigTest, InClusterOutsideClusterFails) {
  InClusterOptions options;
  options.env = env();
  auto cfg = loadInClusterConfig(clock_, options);
  ASSERT_FALSE(cfg.has_value());
  EXPECT_EQ(cfg.error().code, ErrorCode::FailedPrecondition);
}

const char* kBasic = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://k8s.example:6443/
    certificate-authority: certs/ca.pem
    tls-server-name: api.internal
    proxy-url: http://proxy:3128
- name: c2
  cluster:
    server: https://other
    certificate-authority-data: LS0tLS1CRUdJTg==
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: team-a}
- name: other
  context: {cluster: c2, user: u2}
users:
- name: u1
  user:
    token: static-token
    client-certificate: certs/client.pem
    client-key: /abs/client.key
- name: u2
  user:
    tokenFile: tok.txt
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
)";

// A kubeconfig context yields server, TLS material (paths relative to the file), namespace and
// token.
TEST_F(ConfigTest, KubeconfigCurrentContext) {
  std::string path = write("kc/config", kBasic);
  auto cfg = loadKubeconfig(clock_, {.explicit_path = path, .context = "", .env = env()});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://k8s.example:6443");
  EXPECT_EQ(cfg->ca_file, (dir_ / "kc/certs/ca.pem").string());
  EXPECT_EQ(cfg->tls_server_name, "api.internal");
  EXPECT_EQ(cfg->proxy_url, "http://proxy:3128");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->client_certificate_file, (dir_ / "kc/certs/client.pem").string());
  EXPECT_EQ(cfg->client_key_file, "/abs/client.key");
  EXPECT_EQ(cfg->default_namespace, "team-a");
  EXPECT_EQ(token(*cfg), "static-token");
}

// --context overrides current-context; inline data is base64-decoded; tokenFile is relative.
TEST_F(ConfigTest, KubeconfigContextOverride) {
  std::string path = write("kc/config", kBasic);
  write("kc/tok.txt", "file-token\n");
  auto cfg = loadKubeconfig(clock_, {.explicit_path = path, .context = "other", .env = env()});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://other");
  EXPECT_EQ(cfg->ca_pem, "-----BEGIN");
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->client_certificate_pem, "CERT");
  EXPECT_EQ(cfg->client_key_pem, "KEY");
  EXPECT_EQ(cfg->default_namespace, "default");
  EXPECT_EQ(token(*cfg), "file-token");
}

// KUBECONFIG files merge like kubectl: the first file to set a name or current-context wins,
// later files add what is missing, and missing files are skipped.
TEST_F(ConfigTest, KubeconfigPathListFirstWins) {
  std::string a = write("a.yaml", R"(current-context: ctx-a
clusters:
- name: shared
  cluster: {server: https://from-a}
contexts:
- name: ctx-a
  context: {cluster: shared, user: ua}
users:
- name: ua
  user: {token: ta}
)");
  std::string b = write("b.yaml", R"(current-context: ctx-b
clusters:
- name: shared
  cluster: {server: https://from-b}
- name: only-b
  cluster: {server: https://only-b}
contexts:
- name: ctx-b
  context: {cluster: only-b, user: ua}
users:
- name: ua
  user: {token: tb}
)");
  env_["KUBECONFIG"] = a + ":" + (dir_ / "missing.yaml").string() + ":" + b;
  auto cfg = loadKubeconfig(clock_, {.explicit_path = "", .context = "", .env = env()});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://from-a");
  EXPECT_EQ(token(*cfg), "ta");
  auto other = loadKubeconfig(clock_, {.explicit_path = "", .context = "ctx-b", .env = env()});
  ASSERT_TRUE(other.has_value()) << other.error().message;
  EXPECT_EQ(other->server, "https://only-b");
  EXPECT_EQ(token(*other), "ta");
}

// Without KUBECONFIG the loader reads ~/.kube/config; loadConfig prefers in-cluster over it.
TEST_F(ConfigTest, DefaultLocationsAndOrder) {
  write("home/.kube/config", kBasic);
  env_["HOME"] = (dir_ / "home").string();
  auto cfg = loadConfig(clock_, {.explicit_path = "", .context = "", .env = env()});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://k8s.example:6443");

  write("sa/token", "t");
  write("sa/ca.crt", "x");
  env_["KUBERNETES_SERVICE_HOST"] = "10.0.0.1";
  env_["KUBERNETES_SERVICE_PORT"] = "443";
  InClusterOptions ic;
  ic.service_account_dir = (dir_ / "sa").string();
  auto in = loadConfig(clock_, {.explicit_path = "", .context = "", .env = env()}, ic);
  ASSERT_TRUE(in.has_value()) << in.error().message;
  EXPECT_EQ(in->origin, "in-cluster");
}

// Malformed input fails with the file and the field named.
TEST_F(ConfigTest, MalformedKubeconfigNamesFileAndField) {
  struct Case {
    std::string yaml;
    std::string want;
  } cases[] = {
      {R"(current-context: x
contexts: [{name: x, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "https://s"}}]
users: [{name: u, user: {client-certificate-data: Q0VSVA==, client-key-data: "%%%"}}]
)",
       "users[0].user.client-key-data: not valid base64"},
      {R"(current-context: x
contexts: [{name: x, context: {cluster: c}}]
clusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]
)",
       "clusters[0].cluster.server: missing"},
      {R"(current-context: x
contexts: [{name: x, context: {cluster: c}}]
clusters: [{name: c, cluster: {server: "https://s", insecure-skip-tls-verify: maybe}}]
)",
       "clusters[0].cluster.insecure-skip-tls-verify: expected true or false"},
      {R"(current-context: nope
contexts: [{name: x, context: {cluster: c}}]
)",
       "context 'nope' not found"},
      {R"(current-context: x
contexts: [{name: x, context: {cluster: missing}}]
)",
       "contexts[0].context.cluster: cluster 'missing' not found"},
      {R"(current-context: x
contexts: [{name: x, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "https://s"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}}}]
)",
       "users[0].user.exec.apiVersion: unsupported"},
      {"clusters: {not: a list}\n", "clusters: expected a list"},
      {"clusters: [unterminated\n", "line "},
  };
  for (const auto& c : cases) {
    std::string path = write("bad/config", c.yaml);
    auto cfg = loadKubeconfig(clock_, {.explicit_path = path, .context = "", .env = env()});
    ASSERT_FALSE(cfg.has_value()) << c.want;
    EXPECT_EQ(cfg.error().code, ErrorCode::InvalidArgument) << cfg.error().message;
    EXPECT_NE(cfg.error().message.find(path + ": "), std::string::npos) << cfg.error().message;
    EXPECT_NE(cfg.error().message.find(c.want), std::string::npos) << cfg.error().message;
  }
}

std::string execKubeconfig(const std::string& api_version, const std::string& expiry) {
  return R"(current-context: x
contexts: [{name: x, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "https://s"}}]
users:
- name: u
  user:
    exec:
      apiVersion: )" +
         api_version + R"(
      command: ./plugin.sh
      args: ["alpha", "with space"]
      env:
      - {name: PLUGIN_SUFFIX, value: sfx}
      - {name: PLUGIN_EXPIRY, value: ")" +
         expiry + R"("}
)";
}

// The exec plugin runs without a shell, gets its args and env, and its token is cached until
// expirationTimestamp, then the plugin runs again.
TEST_F(ConfigTest, ExecPluginTokenCachedUntilExpiry) {
  std::string counter = (dir_ / "runs").string();
  write("plugin.sh",
        "#!/bin/sh\n"
        "n=$(cat " +
            counter + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + counter +
            "\n"
            "printf "
            "'{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s-%s-%s-%"
            "s\","
            "\"expirationTimestamp\":\"%s\"}}' \"$(echo $KUBERNETES_EXEC_INFO | sed "
            "'s/.*\"apiVersion\":\"\\([^\"]*\\)\".*/\\1/')\" \"$1\" \"$2\" \"$PLUGIN_SUFFIX\" "
            "$n \"$PLUGIN_EXPIRY\"\n",
        true);
  for (const char* version :
       {"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"}) {
    fs::remove(counter);
    std::string expiry = formatRfc3339(clock_.now() + minutes(10));
    std::string path = write("config", execKubeconfig(version, expiry));
    auto cfg = loadKubeconfig(clock_, {.explicit_path = path, .context = "", .env = env()});
    ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
    EXPECT_EQ(token(*cfg), "alpha-with space-sfx-1") << version;
    clock_.advance(minutes(9));
    EXPECT_EQ(token(*cfg), "alpha-with space-sfx-1");
    clock_.advance(minutes(2));
    EXPECT_EQ(token(*cfg), "alpha-with space-sfx-2");
    cfg->credentials->invalidate();
    EXPECT_EQ(token(*cfg), "alpha-with space-sfx-3");
  }
}

// Variables set in the exec config replace inherited ones of the same name.
TEST_F(ConfigTest, ExecPluginEnvOverridesInherited) {
  setenv("PLUGIN_SUFFIX", "inherited", 1);
  write("plugin.sh",
        "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
        "\"ExecCredential\",\"status\":{\"token\":\"%s\"}}' \"$PLUGIN_SUFFIX\"\n",
        true);
  std::string path = write("config", execKubeconfig("client.authentication.k8s.io/v1", ""));
  auto cfg = loadKubeconfig(clock_, {.explicit_path = path, .context = "", .env = env()});
  unsetenv("PLUGIN_SUFFIX");
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  EXPECT_EQ(token(*cfg), "sfx");
}

// A failing plugin is an Unauthenticated error carrying what it printed on stderr.
TEST_F(ConfigTest, ExecPluginFailureIsReported) {
  write("plugin.sh", "#!/bin/sh\necho 'no sso session' >&2\nexit 3\n", true);
  std::string path = write("config", execKubeconfig("client.authentication.k8s.io/v1", ""));
  auto cfg = loadKubeconfig(clock_, {.explicit_path = path, .context = "", .env = env()});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  auto cred = cfg->credentials->credential();
  ASSERT_FALSE(cred.has_value());
  EXPECT_EQ(cred.error().code, ErrorCode::Unauthenticated);
  EXPECT_NE(cred.error().message.find("exited with 3: no sso session"), std::string::npos)
      << cred.error().message;
  EXPECT_NE(cred.error().message.find("users[0].user.exec"), std::string::npos);
}

// A plugin that hangs is killed after its idle timeout instead of blocking the caller forever.
TEST_F(ConfigTest, ExecPluginThatHangsIsKilled) {
  std::string plugin = write("hang.sh", "#!/bin/sh\nexec sleep 30\n", true);
  ExecConfig exec;
  exec.api_version = "client.authentication.k8s.io/v1";
  exec.command = plugin;
  exec.origin = "test";
  exec.idle_timeout = std::chrono::milliseconds(300);
  auto source = execCredentialSource(exec, clock_);
  auto begin = std::chrono::steady_clock::now();
  auto cred = source->credential();
  ASSERT_FALSE(cred.has_value());
  EXPECT_EQ(cred.error().code, ErrorCode::DeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(10));
}

// Plugin output that is not a usable ExecCredential is rejected.
TEST_F(ConfigTest, ExecPluginBadOutputIsRejected) {
  write("plugin.sh",
        "#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"apiVersion\":"
        "\"client.authentication.k8s.io/v1\",\"status\":{}}'\n",
        true);
  std::string path = write("config", execKubeconfig("client.authentication.k8s.io/v1", ""));
  auto cfg = loadKubeconfig(clock_, {.explicit_path = path, .context = "", .env = env()});
  ASSERT_TRUE(cfg.has_value());
  auto cred = cfg->credentials->credential();
  ASSERT_FALSE(cred.has_value());
  EXPECT_NE(cred.error().message.find("neither a token"), std::string::npos);
}

// clientCertificateData and clientKeyData come together or not at all; with both, a token is
// optional.
TEST(ExecCredentialParse, CertificateAndKeyGoTogether) {
  auto parse = [](const std::string& status) {
    return parseExecCredential(R"({"apiVersion":"client.authentication.k8s.io/v1",)"
                               R"("kind":"ExecCredential","status":)" +
                                   status + "}",
                               "client.authentication.k8s.io/v1");
  };
  auto cert_only = parse(R"({"token":"t","clientCertificateData":"CERT"})");
  ASSERT_FALSE(cert_only.has_value());
  EXPECT_EQ(cert_only.error().code, ErrorCode::Unauthenticated);
  EXPECT_NE(cert_only.error().message.find("go together"), std::string::npos);
  auto pair = parse(R"({"clientCertificateData":"CERT","clientKeyData":"KEY"})");
  ASSERT_TRUE(pair.has_value()) << pair.error().message;
  EXPECT_EQ(pair->client_certificate_pem, "CERT");
  EXPECT_EQ(pair->client_key_pem, "KEY");
  EXPECT_TRUE(pair->token.empty());
}

// Loopback means 127.0.0.0/8, ::1 and localhost, spelled exactly; names that merely start with
// them, other addresses and IPv4-mapped forms are not.
TEST(LoopbackHost, OnlyTheLoopbackAddressesAndLocalhost) {
  for (const char* host :
       {"127.0.0.1", "127.255.0.9", "[::1]", "[0:0:0:0:0:0:0:1]", "localhost", "LocalHost"}) {
    EXPECT_TRUE(isLoopbackHost(host)) << host;
  }
  for (const char* host :
       {"", "10.0.0.1", "128.0.0.1", "0.0.0.0", "127.1", "127.0.0.1.nip.io", "localhost.example",
        "[::ffff:127.0.0.1]", "[::2]", "::1", "[::1", "kubernetes.default.svc"}) {
    EXPECT_FALSE(isLoopbackHost(host)) << host;
  }
}

// Credentials (a token source, or a user name in the URL) go over http:// only to a loopback
// host and only when allowed; https:// and credential-free configs are always fine. The refusal
// names the config and the server without its user information.
TEST(PlainHttpCredentials, NeedLoopbackAndTheAllowance) {
  struct Case {
    std::string server;
    bool token;
    bool allow;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"https://10.0.0.1:6443", true, false, true},
      {"HTTPS://10.0.0.1:6443", true, false, true},
      {"http://10.0.0.1:8080", false, false, true},
      {"http://10.0.0.1:8080", true, false, false},
      {"http://10.0.0.1:8080", true, true, false},
      {"http://127.0.0.1:8080", true, false, false},
      {"http://127.0.0.1:8080", true, true, true},
      {"http://[::1]:8080/prefix", true, true, true},
      {"http://localhost:8080", true, true, true},
      {"HTTP://LOCALHOST", true, true, true},
      {"http://localhost.example.com:8080", true, true, false},
      {"http://user:pw@10.0.0.1:8080", false, false, false},
      {"http://user:pw@127.0.0.1:8080", false, true, true},
      {"http://127.0.0.1@10.0.0.1", false, true, false},
  };
  for (const Case& c : cases) {
    RestConfig cfg;
    cfg.server = c.server;
    cfg.origin = "/home/a/.kube/config (context dev)";
    if (c.token) {
      cfg.credentials = staticTokenSource("secret");
    }
    Status s = checkPlaintextCredentials(cfg, c.allow);
    EXPECT_EQ(s.has_value(), c.ok) << c.server << " token=" << c.token << " allow=" << c.allow;
    if (!s) {
      EXPECT_EQ(s.error().code, ErrorCode::FailedPrecondition);
      EXPECT_EQ(s.error().message.rfind("/home/a/.kube/config (context dev): server http", 0), 0u)
          << s.error().message;
      EXPECT_NE(s.error().message.find("clear text"), std::string::npos) << s.error().message;
      EXPECT_EQ(s.error().message.find("pw"), std::string::npos) << s.error().message;
      EXPECT_EQ(s.error().message.find("not a loopback address") != std::string::npos, c.allow)
          << s.error().message;
    }
  }
}

}  // namespace
}  // namespace opsy::kube

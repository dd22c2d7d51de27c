// Manager flags, option validation and where the cluster config comes from.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "opsy/core/fake_clock.h"
#include "opsy/runtime/manager.h"
#include "runtime/manager_internal.h"

namespace opsy::runtime {
namespace {

namespace fs = std::filesystem;

class ManagerFlagsTest : public ::testing::Test {
 protected:
  ManagerFlagsTest() : flags_("widget-controller", "1.0.0", "Test controller.") {
    options_.name = "widget";
    addManagerFlags(flags_, options_);
  }
  Result<FlagSet::Outcome> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "widget-controller");
    return flags_.parse(
        args,
        [this](const std::string& k) -> std::optional<std::string> {
          auto it = env_.find(k);
          return it == env_.end() ? std::nullopt : std::optional<std::string>(it->second);
        },
        &out_);
  }
  ManagerOptions options_;
  FlagSet flags_;
  std::map<std::string, std::string> env_;
  std::string out_;
};

// Without flags the defaults match controller-runtime's: metrics on :8080, probes on :8081, no
// leader election, every namespace.
TEST_F(ManagerFlagsTest, Defaults) {
  ASSERT_TRUE(parse({}));
  EXPECT_EQ(options_.metrics_bind_address, ":8080");
  EXPECT_EQ(options_.health_probe_bind_address, ":8081");
  EXPECT_FALSE(options_.leader_elect);
  EXPECT_TRUE(options_.namespaces.empty());
  EXPECT_TRUE(options_.kubeconfig.empty());
  EXPECT_EQ(options_.workers, 2);
  EXPECT_EQ(options_.log_format, "text");
  EXPECT_EQ(options_.watch_idle_timeout, std::chrono::minutes(2));
  EXPECT_EQ(options_.watch_max_event_bytes, 16 << 20);
  EXPECT_EQ(options_.kube_max_response_bytes, 64 << 20);
  EXPECT_FALSE(options_.insecure_allow_http_credentials_on_loopback);
  EXPECT_TRUE(validateOptions(options_));
}

// Sending credentials over plain HTTP to a loopback server takes an explicit flag (or its
// environment variable); it is off by default.
TEST_F(ManagerFlagsTest, PlainHttpAllowanceIsAnExplicitFlag) {
  ASSERT_TRUE(parse({"--insecure-allow-http-credentials-on-loopback"}));
  EXPECT_TRUE(options_.insecure_allow_http_credentials_on_loopback);
  options_.insecure_allow_http_credentials_on_loopback = false;
  env_ = {{"OPSY_INSECURE_ALLOW_HTTP_CREDENTIALS_ON_LOOPBACK", "true"}};
  ASSERT_TRUE(parse({}));
  EXPECT_TRUE(options_.insecure_allow_http_credentials_on_loopback);
}

// The watch idle timeout and the size limits are flags with environment fallbacks.
TEST_F(ManagerFlagsTest, InputBoundsAreFlags) {
  ASSERT_TRUE(parse({"--watch-idle-timeout=90s", "--watch-max-event-bytes=1048576",
                     "--kube-max-response-bytes=8388608"}));
  EXPECT_EQ(options_.watch_idle_timeout, std::chrono::seconds(90));
  EXPECT_EQ(options_.watch_max_event_bytes, 1 << 20);
  EXPECT_EQ(options_.kube_max_response_bytes, 8 << 20);
  EXPECT_TRUE(validateOptions(options_));
  env_ = {{"OPSY_WATCH_IDLE_TIMEOUT", "3m"},
          {"OPSY_WATCH_MAX_EVENT_BYTES", "2048"},
          {"OPSY_KUBE_MAX_RESPONSE_BYTES", "4096"}};
  ASSERT_TRUE(parse({}));
  EXPECT_EQ(options_.watch_idle_timeout, std::chrono::minutes(3));
  EXPECT_EQ(options_.watch_max_event_bytes, 2048);
  EXPECT_EQ(options_.kube_max_response_bytes, 4096);
}

// Protected metrics are off unless asked for (the chart asks); on, they need their own address,
// and the certificate flags default to the kubernetes.io/tls Secret's file names.
TEST_F(ManagerFlagsTest, SecureMetricsFlags) {
  ASSERT_TRUE(parse({}));
  EXPECT_FALSE(options_.metrics_secure);
  EXPECT_EQ(options_.metrics_cert_name, "tls.crt");
  EXPECT_EQ(options_.metrics_cert_key, "tls.key");
  ASSERT_TRUE(parse({"--metrics-secure", "--metrics-bind-address=:8443",
                     "--metrics-cert-path=/tmp/k8s-metrics-server/metrics-certs"}));
  EXPECT_TRUE(options_.metrics_secure);
  EXPECT_EQ(options_.metrics_cert_path, "/tmp/k8s-metrics-server/metrics-certs");
  EXPECT_TRUE(validateOptions(options_));

  options_.health_probe_bind_address = ":8443";
  auto shared = validateOptions(options_);
  ASSERT_FALSE(shared);
  EXPECT_NE(shared.error().message.find("flag --metrics-secure"), std::string::npos);
  options_.health_probe_bind_address = ":8081";
  options_.metrics_cert_key = "";
  auto no_key = validateOptions(options_);
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message.find("--metrics-cert-key"), std::string::npos);
  options_ = ManagerOptions{.name = "widget"};
  env_ = {{"OPSY_METRICS_SECURE", "true"}};
  ASSERT_TRUE(parse({}));
  EXPECT_TRUE(options_.metrics_secure);
}

// Every flag sets its field; --namespace repeats.
TEST_F(ManagerFlagsTest, FlagsSetFields) {
  ASSERT_TRUE(
      parse({"--kubeconfig=/k", "--context", "kind", "--namespace=a", "--namespace", "b",
             "--metrics-bind-address=127.0.0.1:9090", "--health-probe-bind-address=0",
             "--leader-elect", "--leader-election-namespace=ops", "--leader-election-id=w.lock",
             "--workers=4", "--log-format=json", "--log-level=debug", "--aws-region=eu-west-1"}));
  EXPECT_EQ(options_.kubeconfig, "/k");
  EXPECT_EQ(options_.context, "kind");
  EXPECT_EQ(options_.namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(options_.metrics_bind_address, "127.0.0.1:9090");
  EXPECT_EQ(options_.health_probe_bind_address, "0");
  EXPECT_TRUE(options_.leader_elect);
  EXPECT_EQ(options_.leader_election_namespace, "ops");
  EXPECT_EQ(options_.leader_election_id, "w.lock");
  EXPECT_EQ(options_.workers, 4);
  EXPECT_EQ(options_.log_format, "json");
  EXPECT_EQ(options_.log_level, "debug");
  EXPECT_EQ(options_.aws_region, "eu-west-1");
  EXPECT_TRUE(validateOptions(options_));
}

// The environment fills flags that were not given (WATCH_NAMESPACE is comma-separated); the
// command line wins over it.
TEST_F(ManagerFlagsTest, EnvironmentFallbacks) {
  env_ = {{"WATCH_NAMESPACE", "a,b"},
          {"OPSY_LEADER_ELECT", "true"},
          {"OPSY_WORKERS", "3"},
          {"AWS_REGION", "us-east-2"},
          {"OPSY_LOG_LEVEL", "warn"}};
  ASSERT_TRUE(parse({"--workers=5"}));
  EXPECT_EQ(options_.namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(options_.leader_elect);
  EXPECT_EQ(options_.workers, 5);
  EXPECT_EQ(options_.aws_region, "us-east-2");
  EXPECT_EQ(options_.log_level, "warn");
}

// Values that cannot work are rejected at startup, naming the flag.
TEST_F(ManagerFlagsTest, BadValuesNameTheFlag) {
  EXPECT_FALSE(parse({"--workers=many"}));
  EXPECT_FALSE(parse({"--watch-idle-timeout=0s"}));
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  } cases[] = {
      {{"--workers=0"}, "--workers"},
      {{"--metrics-bind-address=8080"}, "--metrics-bind-address"},
      {{"--health-probe-bind-address=:99999"}, "--health-probe-bind-address"},
      {{"--log-format=xml"}, "--log-format"},
      {{"--log-level=loud"}, "--log-level"},
      {{"--watch-max-event-bytes=100"}, "--watch-max-event-bytes"},
      {{"--kube-max-response-bytes=0"}, "--kube-max-response-bytes"},
  };
  for (const auto& c : cases) {
    ManagerOptions o;
    o.name = "widget";
    FlagSet flags("widget-controller", "1", "x");
    addManagerFlags(flags, o);
    std::vector<std::string> args = c.args;
    args.insert(args.begin(), "widget-controller");
    std::string out;
    ASSERT_TRUE(flags.parse(
        args, [](const std::string&) { return std::nullopt; }, &out));
    auto s = validateOptions(o);
    ASSERT_FALSE(s) << c.flag;
    EXPECT_EQ(s.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(s.error().message.find(c.flag), std::string::npos) << s.error().message;
  }
}

// Credentials over plain HTTP stop the Manager at startup with the server and the fix: https, or
// the development flag for a loopback server; with the flag, a host that is not loopback is still
// refused. A config without credentials, or an https:// one, is fine.
TEST(PlainHttpCredentialsAtStartup, RefusedWithTheServerAndTheFix) {
  kube::RestConfig cfg;
  cfg.origin = "kubeconfig";
  cfg.server = "http://127.0.0.1:8080";
  cfg.credentials = kube::staticTokenSource("secret");
  ManagerOptions options;
  options.name = "widget";

  Status refused = plaintextCredentialsAllowed(cfg, options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::FailedPrecondition);
  EXPECT_EQ(refused.error().message,
            "kubeconfig: server http://127.0.0.1:8080 is plain HTTP; refusing to send credentials "
            "in clear text; use an https:// server, or, for a development API server on this "
            "machine (127.0.0.0/8, ::1, localhost), pass "
            "--insecure-allow-http-credentials-on-loopback");

  options.insecure_allow_http_credentials_on_loopback = true;
  EXPECT_TRUE(plaintextCredentialsAllowed(cfg, options));

  cfg.server = "http://10.0.0.1:8080";
  Status remote = plaintextCredentialsAllowed(cfg, options);
  ASSERT_FALSE(remote);
  EXPECT_NE(remote.error().message.find("http://10.0.0.1:8080 is plain HTTP and not a loopback "
                                        "address"),
            std::string::npos)
      << remote.error().message;
  EXPECT_EQ(remote.error().message.find("pass --insecure"), std::string::npos);

  options.insecure_allow_http_credentials_on_loopback = false;
  cfg.server = "https://10.0.0.1:6443";
  EXPECT_TRUE(plaintextCredentialsAllowed(cfg, options));
  cfg.server = "http://10.0.0.1:8080";
  cfg.credentials = nullptr;
  EXPECT_TRUE(plaintextCredentialsAllowed(cfg, options));
}

constexpr const char* kKubeconfigTemplate = R"(apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://SERVER:6443
users:
- name: u
  user:
    token: t
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: team}
current-context: ctx
)";

class ConfigResolutionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "opsy-mgr-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    deps_.env = [this](const std::string& k) -> std::optional<std::string> {
      auto it = env_.find(k);
      return it == env_.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    deps_.in_cluster.service_account_dir = (dir_ / "sa").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string kubeconfig(const std::string& name, const std::string& server) {
    std::string text = kKubeconfigTemplate;
    text.replace(text.find("SERVER"), 6, server);
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  void inCluster() {
    fs::create_directories(dir_ / "sa");
    std::ofstream(dir_ / "sa" / "token") << "sa-token";
    std::ofstream(dir_ / "sa" / "ca.crt") << "-----BEGIN CERTIFICATE-----\n";
    std::ofstream(dir_ / "sa" / "namespace") << "ops";
    env_["KUBERNETES_SERVICE_HOST"] = "10.0.0.1";
    env_["KUBERNETES_SERVICE_PORT"] = "443";
  }
  std::string server() {
    auto cfg = resolveRestConfig(options_, deps_, clock_);
    return cfg ? cfg->server : "error: " + cfg.error().message;
  }

  fs::path dir_;
  std::map<std::string, std::string> env_;
  ManagerOptions options_;
  ManagerDeps deps_;
  FakeClock clock_;
};

// --kubeconfig beats KUBECONFIG, which beats in-cluster, which beats ~/.kube/config.
TEST_F(ConfigResolutionTest, ControllerRuntimeOrder) {
  env_["HOME"] = (dir_ / "home").string();
  kubeconfig("home/.kube/config", "home");
  EXPECT_EQ(server(), "https://home:6443");
  inCluster();
  EXPECT_EQ(server(), "https://10.0.0.1:443");
  env_["KUBECONFIG"] = kubeconfig("env.yaml", "env");
  EXPECT_EQ(server(), "https://env:6443");
  options_.kubeconfig = kubeconfig("flag.yaml", "flag");
  EXPECT_EQ(server(), "https://flag:6443");
}

// Nothing configured is an error that says so, rather than a default server.
TEST_F(ConfigResolutionTest, NothingConfiguredFails) {
  env_["HOME"] = (dir_ / "nohome").string();
  auto cfg = resolveRestConfig(options_, deps_, clock_);
  EXPECT_FALSE(cfg);
}

}  // namespace
}  // namespace opsy::runtime

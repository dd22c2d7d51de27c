#include "kube/exec_credential.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "opsy/core/log.h"
#include "opsy/core/time_format.h"
#include "opsy/json/json.h"

extern char** environ;

namespace opsy::kube {
namespace {

constexpr size_t kMaxOutput = 1 << 20;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] (searched on PATH when it has no slash) with `env`, capturing stdout and stderr.
Result<RunResult> run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      std::chrono::milliseconds idle_timeout) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return fail(ErrorCode::Internal, fmt::format("pipe: {}", std::strerror(errno)));
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return fail(ErrorCode::Internal, fmt::format("pipe: {}", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

  std::vector<char*> cargv;
  for (const auto& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (const auto& e : env) {
    cenv.push_back(const_cast<char*>(e.c_str()));
  }
  cenv.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return fail(ErrorCode::Unauthenticated,
                fmt::format("cannot run '{}': {}", argv[0], std::strerror(rc)));
  }

  RunResult result;
  std::array<pollfd, 2> fds{pollfd{out_pipe[0], POLLIN, 0}, pollfd{err_pipe[0], POLLIN, 0}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  int open_fds = 2;
  char buf[4096];
  constexpr int kPollMs = 100;
  std::chrono::milliseconds idle{0};
  bool timed_out = false;
  while (open_fds > 0) {
    int ready = poll(fds.data(), fds.size(), kPollMs);
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    if (ready == 0) {
      idle += std::chrono::milliseconds(kPollMs);
      if (idle >= idle_timeout) {
        timed_out = true;
        kill(pid, SIGKILL);
        break;
      }
      continue;
    }
    idle = std::chrono::milliseconds(0);
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        if (sinks[i]->size() < kMaxOutput) {
          sinks[i]->append(buf, static_cast<size_t>(n));
        }
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) {
      close(fd.fd);
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return fail(ErrorCode::DeadlineExceeded,
                fmt::format("command '{}' produced nothing for {} ms and was killed", argv[0],
                            idle_timeout.count()));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

class ExecCredentialSource : public CredentialSource {
 public:
  ExecCredentialSource(ExecConfig config, Clock& clock)
      : config_(std::move(config)), clock_(clock) {}

  Result<Credential> credential() override {
    std::lock_guard lock(mu_);
    if (cached_.has_value() && (!cached_->expiry.has_value() || clock_.now() < *cached_->expiry)) {
      return *cached_;
    }
    cached_.reset();
    auto fresh = runPlugin();
    if (!fresh) {
      return fail(std::move(fresh).error());
    }
    cached_ = *fresh;
    return *fresh;
  }

  void invalidate() override {
    std::lock_guard lock(mu_);
    cached_.reset();
  }

 private:
  Result<Credential> runPlugin() {
    std::vector<std::string> argv{config_.command};
    argv.insert(argv.end(), config_.args.begin(), config_.args.end());
    // The plugin inherits our environment; its configured variables replace inherited ones
    // (getenv returns the first match, so a duplicate would silently lose).
    std::map<std::string, std::string> vars;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view entry(*e);
      size_t eq = entry.find('=');
      if (eq != std::string_view::npos) {
        vars.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
      }
    }
    for (const auto& [k, v] : config_.env) {
      vars[k] = v;
    }
    vars.erase("KUBERNETES_EXEC_INFO");
    std::vector<std::string> env;
    env.reserve(vars.size() + 1);
    for (const auto& [k, v] : vars) {
      env.push_back(k);
      env.back().append("=").append(v);
    }
    env.push_back(fmt::format(
        R"(KUBERNETES_EXEC_INFO={{"apiVersion":"{}","kind":"ExecCredential","spec":{{"interactive":false}}}})",
        config_.api_version));
    auto ran = run(argv, env, config_.idle_timeout);
    if (!ran) {
      return fail(std::move(ran).error().context(config_.origin));
    }
    if (ran->exit_code != 0) {
      std::string err = ran->err.substr(0, 512);
      while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) {
        err.pop_back();
      }
      return fail(ErrorCode::Unauthenticated,
                  fmt::format("{}: command '{}' exited with {}{}{}", config_.origin,
                              config_.command, ran->exit_code, err.empty() ? "" : ": ", err));
    }
    auto cred = parseExecCredential(ran->out, config_.api_version);
    if (!cred) {
      return fail(std::move(cred).error().context(config_.origin));
    }
    log::get("kube.config").debug("exec credential obtained", log::kv("command", config_.command));
    return cred;
  }

  ExecConfig config_;
  Clock& clock_;
  std::mutex mu_;
  std::optional<Credential> cached_;
};

}  // namespace

Result<Credential> parseExecCredential(std::string_view json, std::string_view api_version) {
  auto doc = json::parseObject(json, "ExecCredential output");
  if (!doc) {
    return fail(ErrorCode::Unauthenticated, std::move(doc).error().message);
  }
  if (json::stringOr(*doc, "kind") != "ExecCredential") {
    return fail(ErrorCode::Unauthenticated, "plugin output is not an ExecCredential");
  }
  std::string version = json::stringOr(*doc, "apiVersion");
  if (!api_version.empty() && version != api_version) {
    return fail(
        ErrorCode::Unauthenticated,
        fmt::format("plugin returned apiVersion '{}', expected '{}'", version, api_version));
  }
  const json::Value* status = json::member(*doc, "status");
  if (status == nullptr || !status->IsObject()) {
    return fail(ErrorCode::Unauthenticated, "ExecCredential has no status");
  }
  Credential cred;
  cred.token = json::stringOr(*status, "token");
  cred.client_certificate_pem = json::stringOr(*status, "clientCertificateData");
  cred.client_key_pem = json::stringOr(*status, "clientKeyData");
  if (cred.client_certificate_pem.empty() != cred.client_key_pem.empty()) {
    return fail(ErrorCode::Unauthenticated,
                "ExecCredential status has a client certificate or key without the other "
                "(clientCertificateData and clientKeyData go together)");
  }
  if (cred.token.empty() && cred.client_certificate_pem.empty()) {
    return fail(ErrorCode::Unauthenticated,
                "ExecCredential status has neither a token nor a client certificate and key");
  }
  if (auto expiry = json::optString(*status, "expirationTimestamp"); expiry.has_value()) {
    auto t = parseRfc3339(*expiry);
    if (!t) {
      return fail(ErrorCode::Unauthenticated,
                  fmt::format("status.expirationTimestamp: {}", t.error().message));
    }
    cred.expiry = *t;
  }
  return cred;
}

CredentialSourcePtr execCredentialSource(ExecConfig config, Clock& clock) {
  return std::make_shared<ExecCredentialSource>(std::move(config), clock);
}

}  // namespace opsy::kube

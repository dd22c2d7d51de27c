// File: exec_credential.h
//
// kubeconfig `exec` credential plugins (client.authentication.k8s.io/v1 and v1beta1): runs the
// command directly (posix_spawn, no shell) with its args and extra environment, parses the
// ExecCredential it prints (a token, a client certificate and key, or both), and caches the
// result until its expirationTimestamp. The Client presents the certificate with each request.
//
//   auto source = execCredentialSource(std::move(exec), clock);
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/kube/config.h"

namespace opsy::kube {

struct ExecConfig {
  std::string api_version;
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  // "file: users[0].user.exec", for messages.
  std::string origin;
  // A plugin silent for this long is killed (an SSO prompt nobody can answer, a hung network).
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
};

CredentialSourcePtr execCredentialSource(ExecConfig config, Clock& clock);

// Parses a plugin's output; `api_version` is the version the kubeconfig asked for.
[[nodiscard]] Result<Credential> parseExecCredential(std::string_view json,
                                                     std::string_view api_version);

}  // namespace opsy::kube

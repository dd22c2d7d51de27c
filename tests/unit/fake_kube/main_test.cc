// The fake-kube binary: prints its URL first, serves kubectl-ready TLS, writes a kubeconfig, and
// exits cleanly on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>

#include "fake_kube_fixture.h"

extern char** environ;

namespace opsy::testing {
namespace {

// The first stdout line is the URL; the kubeconfig points at it; SIGTERM stops it with exit 0.
TEST(FakeKubeMain, PrintsUrlWritesKubeconfigAndStopsOnSigterm) {
  const std::string binary = std::string(OPSY_BINARY_DIR) + "/tests/fake-kube";
  if (!std::filesystem::exists(binary)) {
    GTEST_SKIP() << "fake-kube is not built";
  }
  char tmpl[] = "/tmp/fake-kube-main-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string kubeconfig = dir + "/kubeconfig";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<std::string> argv = {binary, "--port", "0", "--kubeconfig-out", kubeconfig};
  std::vector<char*> args;
  for (auto& a : argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), &actions, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);

  std::string line;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') {
    line.push_back(c);
  }
  close(fds[0]);
  EXPECT_EQ(line.rfind("https://127.0.0.1:", 0), 0u) << line;

  std::ifstream in(kubeconfig);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("server: " + line), std::string::npos) << text;
  EXPECT_NE(text.find("certificate-authority-data: "), std::string::npos);
  EXPECT_NE(text.find("token: "), std::string::npos);

  httplib::Client client(line);
  client.enable_server_certificate_verification(false);
  client.set_bearer_token_auth("fake-kube-test-token");
  auto r = client.Get("/api/v1/namespaces/default");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace opsy::testing

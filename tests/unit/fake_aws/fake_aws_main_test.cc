#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "opsy/core/clock.h"
#include "unit/fake_aws/fake_aws_test_util.h"

namespace {

namespace fs = std::filesystem;

// fake-aws prints its URL as the first stdout line, serves the seed, and exits 0 on SIGTERM.
TEST(FakeAwsMain, PrintsUrlServesSeedAndStopsOnSigterm) {
  fs::path binary = fs::path(OPSY_BINARY_DIR) / "tests" / "fake-aws";
  if (!fs::exists(binary)) {
    GTEST_SKIP() << "fake-aws not built";
  }
  fs::path seed =
      fs::temp_directory_path() / ("fake-aws-seed-" + std::to_string(getpid()) + ".json");
  {
    std::ofstream out(seed);
    out << R"({"images": [{"id": "ami-0123456789abcdef0", "name": "seeded"}]})";
  }
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::string seed_arg = "--seed-file=" + seed.string();
    execl(binary.c_str(), binary.c_str(), "--port", "0", seed_arg.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string line;
  char c = 0;
  while (read(pipe_fds[0], &c, 1) == 1 && c != '\n') {
    line.push_back(c);
  }
  close(pipe_fds[0]);
  ASSERT_EQ(line.rfind("http://127.0.0.1:", 0), 0u) << line;
  httplib::Client client(line);
  // Unsigned calls are refused; a signed DescribeImages sees the seeded image.
  auto res = client.Post("/", "Action=DescribeImages&Version=2016-11-15",
                         "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  opsy::testing::SentRequest r{"POST",
                               "/",
                               "Action=DescribeImages&Version=2016-11-15",
                               "application/x-www-form-urlencoded",
                               {}};
  opsy::testing::signInto(r, line.substr(7), {.service = "ec2"}, opsy::realClock().now());
  res = client.Post("/", r.headers, r.body, r.content_type.c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find("<imageId>ami-0123456789abcdef0</imageId>"), std::string::npos);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  fs::remove(seed);
}

}  // namespace

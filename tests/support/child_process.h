// File: child_process.h
//
// What the end-to-end tests need to run a real controller binary: the binary as a child process
// (no shell, an exact environment, its output appended to a log file for failure messages), a
// free loopback port to hand it, a bounded real-time poll, reading a file back whole, and the
// memory a process uses.
//
//   ChildProcess controller({binary, "--kubeconfig=" + path}, env, dir + "/controller.log");
//   ASSERT_TRUE(controller.start());
//   ASSERT_TRUE(eventually([&] { return ready(); }));
//   EXPECT_EQ(controller.stop(SIGTERM, std::chrono::seconds(35)), std::optional<int>(0));
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace opsy::testing {

// The whole file, or "" when it cannot be read.
std::string readFile(const std::string& path);

// A "Vm...:" field of /proc/<pid>/status in bytes (VmRSS: resident now, VmHWM: the peak resident
// size so far); nullopt when the process or the field is gone.
std::optional<size_t> procStatusBytes(pid_t pid, const std::string& field);

// A TCP port on 127.0.0.1 nobody listens on right now (a child binds it moments later); 0 when
// none could be found.
int freeLoopbackPort();

// Polls `done` every `every` until it holds or `timeout` passes; the last answer of `done`.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(20),
                std::chrono::milliseconds every = std::chrono::milliseconds(50));

class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> args, std::vector<std::string> env, std::string log_path);
  // A child still running is killed (SIGKILL) and reaped.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Spawns args[0] with exactly `env`; stdout and stderr are appended to the log file.
  bool start();
  bool running();
  void signal(int sig);
  // The exit code, or -signal when a signal ended it; nullopt when still running at `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // signal(sig), then wait(timeout).
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout);
  // The running child's process id; -1 before start() and after it was reaped.
  pid_t pid() const { return pid_; }

 private:
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_;
};

}  // namespace opsy::testing

// fake-kube: the fake Kubernetes API server as a standalone process, for the demo and for trying
// kubectl against it. Prints its URL as the first line of stdout and runs until SIGTERM/SIGINT.
//
//   fake-kube --port 0 --kubeconfig-out /tmp/kubeconfig &  kubectl --kubeconfig /tmp/kubeconfig get
//   ns
//   fake-kube --user prom-token=system:serviceaccount:monitoring:prometheus ...
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "opsy/core/flags.h"
#include "support/fake_kube.h"
#include "support/packer_job_runner.h"

int main(int argc, char** argv) {
  int port = 0;
  std::string kubeconfig_out;
  std::string token = "fake-kube-test-token";
  opsy::Duration job_delay = std::chrono::seconds(2);
  bool tls = true;
  std::string packer_ec2_endpoint;
  std::string packer_region = "us-west-2";
  opsy::Duration packer_build_time = std::chrono::seconds(3);
  std::vector<std::string> users;
  opsy::FlagSet flags("fake-kube", "0.1.0", "A fake Kubernetes API server on 127.0.0.1.");
  flags.addInt("port", &port, "Port to listen on (0 picks a free one).");
  flags.addString("kubeconfig-out", &kubeconfig_out, "Write a kubeconfig for the server here.");
  flags.addString("token", &token, "Bearer token clients must send.");
  flags.addStringList("user", &users,
                      "Another user, TOKEN=USERNAME[,GROUP...] (repeatable): TokenReview knows the "
                      "token, and the user's own requests are authorised by stored RBAC objects.");
  flags.addBool("tls", &tls, "Serve HTTPS with a self-signed certificate (kubectl needs it).");
  flags.addDuration("job-duration", &job_delay, "How long the default Job runner runs a Job.");
  flags.addString("packer-ec2-endpoint", &packer_ec2_endpoint,
                  "Play Packer for PackerBuilder Jobs: register each built image at this EC2 "
                  "endpoint (a fake-aws URL) and write Packer's machine-readable log.");
  flags.addString("packer-region", &packer_region,
                  "Region of the images the Packer runner builds.");
  flags.addDuration("packer-build-time", &packer_build_time, "How long a played build takes.");
  auto outcome = flags.parse(argc, argv);
  if (!outcome) {
    std::cerr << outcome.error().toString() << "\n";
    return 2;
  }
  if (*outcome != opsy::FlagSet::Outcome::Run) {
    return 0;
  }

  // Block the signals in every thread; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  opsy::testing::FakeKubeOptions options;
  options.port = port;
  options.token = token;
  options.tls = tls;
  if (packer_ec2_endpoint.empty()) {
    options.job_runner = opsy::testing::completingJobRunner(job_delay);
  } else {
    options.job_runner = std::make_shared<opsy::testing::PackerJobRunner>(
        opsy::testing::PackerJobRunnerOptions{.ec2_endpoint = packer_ec2_endpoint,
                                              .region = packer_region,
                                              .build_time = packer_build_time});
  }
  opsy::testing::FakeKube kube(options);
  for (const std::string& spec : users) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      std::cerr << "flag --user: expected TOKEN=USERNAME[,GROUP...], got \"" << spec << "\"\n";
      return 2;
    }
    opsy::testing::FakeUser user;
    user.token = spec.substr(0, eq);
    std::stringstream rest(spec.substr(eq + 1));
    std::getline(rest, user.username, ',');
    for (std::string group; std::getline(rest, group, ',');) {
      user.groups.push_back(group);
    }
    kube.addUser(std::move(user));
  }
  if (auto started = kube.start(); !started) {
    std::cerr << started.error().toString() << "\n";
    return 1;
  }
  // The kubeconfig exists by the time the URL is printed, so scripts can wait for the line.
  if (!kubeconfig_out.empty()) {
    if (auto written = kube.writeKubeconfig(kubeconfig_out); !written) {
      std::cerr << written.error().toString() << "\n";
      return 1;
    }
  }
  std::cout << kube.url() << std::endl;
  int received = 0;
  sigwait(&signals, &received);
  kube.stop();
  return 0;
}

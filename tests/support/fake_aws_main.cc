// fake-aws: the fake AWS (EC2, EKS, Auto Scaling, STS, SNS, SES v2, Slack) as a standalone
// server for the demo and manual runs. Prints its URL as the first line of stdout, then serves
// until SIGTERM or SIGINT. Unlike the library (manual by default), node group updates and
// instance refreshes complete by themselves after a few describe calls, so a demo never stalls.
// GET /_fake/state dumps the state; POST /_fake/seed applies more seed.
//
//   fake-aws --port 0 --seed-file demo/aws-seed.yaml --fault '{service: ec2, kind: throttle, rate:
//   0.1}' --fault '{deny: "ec2:CreateTags"}' --regions us-east-1,eu-west-1
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "opsy/core/flags.h"
#include "support/fake_aws.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void onSignal(int) {
  g_stop = 1;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string seed_file;
  std::string access_key(opsy::testing::kFakeAccessKey);
  std::string secret_key(opsy::testing::kFakeSecretKey);
  std::string region;
  std::string regions;
  std::vector<std::string> faults;
  int eks_auto = 3;
  int refresh_auto = 3;
  opsy::FlagSet flags("fake-aws", "0.1.0",
                      "A fake AWS (EC2, EKS, Auto Scaling, STS, SNS, SES v2, Slack) on loopback.");
  flags.addInt("port", &port, "Port to listen on (0 picks a free port).");
  flags.addString("seed-file", &seed_file, "YAML or JSON file with the initial state.");
  flags.addString("access-key", &access_key, "Access key id accepted for SigV4.");
  flags.addString("secret-key", &secret_key, "Secret key for --access-key.");
  flags.addString("region", &region,
                  "When set, serve as this one region's endpoint: signatures for another region "
                  "are refused.");
  flags.addString("regions", &regions,
                  "Comma-separated regions that exist (default us-east-1,us-west-2,eu-west-1); "
                  "requests signed for others get no answer.");
  flags.addStringList("fault", &faults,
                      "A fault rule as a YAML map, e.g. '{service: ec2, kind: throttle, count: 2}' "
                      "(repeatable).");
  flags.addInt("eks-auto-complete", &eks_auto,
               "Node group updates succeed on this DescribeUpdate call (0 = never).");
  flags.addInt("refresh-auto-complete", &refresh_auto,
               "Instance refreshes succeed on this DescribeInstanceRefreshes call (0 = never).");
  auto outcome = flags.parse(argc, argv);
  if (!outcome) {
    std::cerr << outcome.error().toString() << "\n";
    return 2;
  }
  if (*outcome != opsy::FlagSet::Outcome::Run) {
    return 0;
  }
  opsy::testing::FakeAwsOptions options;
  options.port = port;
  options.region = region;
  if (!regions.empty()) {
    options.regions.clear();
    std::stringstream list(regions);
    for (std::string r; std::getline(list, r, ',');) {
      if (!r.empty()) {
        options.regions.push_back(r);
      }
    }
  }
  options.credentials = {{access_key, secret_key}};
  opsy::testing::FakeAws aws(options);
  aws.setEksAutoCompleteAfter(eks_auto);
  aws.setInstanceRefreshAutoCompleteAfter(refresh_auto);
  for (const auto& fault : faults) {
    if (auto st = aws.loadSeed("faults: [" + fault + "]"); !st) {
      std::cerr << st.error().toString() << "\n";
      return 2;
    }
  }
  if (!seed_file.empty()) {
    std::ifstream in(seed_file);
    if (!in) {
      std::cerr << "cannot read seed file " << seed_file << "\n";
      return 2;
    }
    std::stringstream text;
    text << in.rdbuf();
    if (auto st = aws.loadSeed(text.str()); !st) {
      std::cerr << st.error().toString() << "\n";
      return 2;
    }
  }
  if (auto st = aws.start(); !st) {
    std::cerr << st.error().toString() << "\n";
    return 1;
  }
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  std::cout << aws.endpoint() << std::endl;
  while (g_stop == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  aws.stop();
  return 0;
}

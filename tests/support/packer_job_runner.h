// File: packer_job_runner.h
//
// A JobRunner for FakeKube that plays Packer for PackerBuilder Jobs: it registers an image in the
// fake AWS with an EC2 RegisterImage request signed (SigV4) like any client's, so the same runner
// serves the demo against a fake-aws process; writes Packer's -machine-readable output as the
// build container's log (temporary key pair and security group lines, then the artifact line);
// and completes the Job. Switches make the next builds fail (`ui,error`, Job Failed), take
// longer, or copy the image to more regions (`ami_regions`: one image per region, registered in
// that region, all named on one artifact line as `region:ami` pairs, as amazon-ebs prints them).
//
//   auto runner = std::make_shared<PackerJobRunner>(
//       PackerJobRunnerOptions{.ec2_endpoint = aws.endpoint()});
//   FakeKube kube({.job_runner = runner});
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/http/transport.h"
#include "support/fake_aws.h"
#include "support/fake_kube.h"

namespace opsy::testing {

struct PackerJobRunnerOptions {
  // Where RegisterImage goes ("http://127.0.0.1:port"), and the credentials it is signed with.
  std::string ec2_endpoint;
  std::string access_key_id = "AKIDEXAMPLE";
  std::string secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  std::string region = "us-west-2";
  // The Packer builder name in the output ("amazon-ebs.<name>").
  std::string builder_name = "amazon-ebs.al2023";
  // Regions besides `region` the image is copied to (Packer's ami_regions).
  std::vector<std::string> copy_regions;
  // Time from the Pod starting to the Job finishing.
  Duration build_time = std::chrono::milliseconds(300);
  ClockPtr clock;  // log timestamps; the real clock when null
  // When set, the temporary key pair and security group the log announces are also created in
  // this in-process fake (its EC2 API has no calls to create them), so cleanup can be observed.
  FakeAws* aws = nullptr;
};

class PackerJobRunner : public JobRunner {
 public:
  explicit PackerJobRunner(PackerJobRunnerOptions options);

  void onJobCreated(const JobControlPtr& job) override;

  // The next builds fail with a Packer error (no image is registered).
  void setFailing(bool failing) { failing_ = failing; }
  // The next builds take this long.
  void setBuildTime(Duration build_time);
  // The next builds copy their image to these regions too.
  void setCopyRegions(std::vector<std::string> regions);

  // Images registered so far in `region` (the primary one), in order.
  std::vector<std::string> builtImages() const;
  // Copies registered so far in `region`, in order.
  std::vector<std::string> copiesIn(const std::string& region) const;
  // Jobs seen so far.
  int jobCount() const { return jobs_; }

 private:
  void finish(const JobControlPtr& job, bool failing);
  std::string line(std::string_view target, std::string_view type, std::string_view data) const;

  PackerJobRunnerOptions options_;
  http::TransportPtr transport_;
  std::atomic<bool> failing_{false};
  std::atomic<int> jobs_{0};
  mutable std::mutex mu_;
  Duration build_time_;
  std::vector<std::string> built_;
  std::vector<std::string> copy_regions_;
  std::map<std::string, std::vector<std::string>> copies_;  // region -> images
};

}  // namespace opsy::testing

// Plays Packer for FakeKube's Jobs: RegisterImage over the EC2 API, machine-readable log, Job end.
#include "support/packer_job_runner.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <functional>

#include "opsy/aws/client_options.h"
#include "opsy/aws/credentials.h"
#include "opsy/http/curl_transport.h"

namespace opsy::testing {

namespace {

aws::Ec2ApiPtr makeEc2(const PackerJobRunnerOptions& o) {
  auto transport = http::makeCurlTransport({});
  if (!transport) {
    return nullptr;
  }
  aws::ClientOptions client;
  client.region = o.region;
  client.transport = *transport;
  client.credentials = aws::makeStaticProvider(
      {.access_key_id = o.access_key_id, .secret_access_key = o.secret_access_key});
  client.endpoint_url = o.ec2_endpoint;
  auto ec2 = aws::makeEc2Client(client);
  return ec2 ? *ec2 : nullptr;
}

// 17 hex digits derived from `text`, for ids of the temporary resources.
std::string hexSuffix(const std::string& text) {
  return fmt::format("{:017x}", std::hash<std::string>{}(text)&0xfffffffffffffffULL);
}

}  // namespace

PackerJobRunner::PackerJobRunner(PackerJobRunnerOptions options)
    : options_(std::move(options)), build_time_(options_.build_time) {
  if (!options_.clock) {
    options_.clock = realClockPtr();
  }
  ec2_ = makeEc2(options_);
}

void PackerJobRunner::setBuildTime(Duration build_time) {
  std::lock_guard lock(mu_);
  build_time_ = build_time;
}

std::vector<std::string> PackerJobRunner::builtImages() const {
  std::lock_guard lock(mu_);
  return built_;
}

std::string PackerJobRunner::line(std::string_view target, std::string_view type,
                                  std::string_view data) const {
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(options_.clock->now().time_since_epoch())
          .count();
  return fmt::format("{},{},{},{}\n", seconds, target, type, data);
}

void PackerJobRunner::onJobCreated(const JobControlPtr& job) {
  ++jobs_;
  const bool failing = failing_;
  Duration build_time;
  {
    std::lock_guard lock(mu_);
    build_time = build_time_;
  }
  job->start();
  const std::string& b = options_.builder_name;
  const std::string suffix = job->jobName();
  job->appendLog(
      line("", "ui", fmt::format("say,==> {}: Prevalidating AMI Name: opsy-{}", b, suffix)));
  job->appendLog(
      line("", "ui", fmt::format("say,==> {}: Creating temporary keypair: packer_{}", b, suffix)));
  job->appendLog(line("", "ui",
                      fmt::format("say,==> {}: Creating temporary security group for this "
                                  "instance: packer_{}",
                                  b, suffix)));
  if (options_.aws != nullptr) {
    options_.aws->addKeyPair({.id = "key-" + hexSuffix(suffix), .name = "packer_" + suffix});
    options_.aws->addSecurityGroup(
        {.id = "sg-" + hexSuffix(suffix), .name = "packer_" + suffix, .tags = {}});
  }
  job->after(build_time, [this, job, failing] { finish(job, failing); });
}

void PackerJobRunner::finish(const JobControlPtr& job, bool failing) {
  const std::string& b = options_.builder_name;
  if (failing) {
    job->appendLog(line("", "ui",
                        fmt::format("error,Build '{}' errored after 1 second: Error launching "
                                    "source instance: UnauthorizedOperation",
                                    b)));
    job->fail("BackoffLimitExceeded", "Job has reached the specified backoff limit",
              "packer build failed", 1);
    return;
  }
  if (ec2_ == nullptr) {
    job->appendLog(line("", "ui", fmt::format("error,Build '{}' errored: no EC2 client", b)));
    job->fail();
    return;
  }
  auto image = ec2_->registerImage({.name = "opsy-" + job->jobName(),
                                    .description = "built by packer for " + job->jobName(),
                                    .architecture = "x86_64",
                                    .root_device_name = "/dev/xvda"});
  if (!image) {
    job->appendLog(
        line("", "ui", fmt::format("error,Build '{}' errored: {}", b, image.error().message)));
    job->fail();
    return;
  }
  {
    std::lock_guard lock(mu_);
    built_.push_back(*image);
  }
  job->appendLog(line("", "ui", fmt::format("say,==> {}: AMI: {}", b, *image)));
  job->appendLog(line(b, "artifact-count", "1"));
  job->appendLog(line(b, "artifact", fmt::format("0,id,{}:{}", options_.region, *image)));
  job->appendLog(line(b, "artifact", "0,end"));
  job->succeed();
}

}  // namespace opsy::testing

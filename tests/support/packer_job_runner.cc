// Plays Packer for FakeKube's Jobs: RegisterImage over the EC2 API, machine-readable log, Job end.
#include "support/packer_job_runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <pugixml.hpp>
#include <utility>
#include <vector>

#include "opsy/aws/credentials.h"
#include "opsy/aws/sigv4.h"
#include "opsy/http/curl_transport.h"

namespace opsy::testing {

namespace {

// RegisterImage as Packer's amazon-ebs builder sends it when a build ends: an EC2 query form,
// signed like any client's request. The library's EC2 client has no RegisterImage, since no
// controller registers images.
Result<std::string> registerImage(http::Transport& transport, const PackerJobRunnerOptions& o,
                                  const std::string& region, const std::string& name,
                                  const std::string& description, const std::string& snapshot_id) {
  std::vector<std::pair<std::string, std::string>> form = {
      {"Action", "RegisterImage"},   {"Version", "2016-11-15"},  {"Name", name},
      {"Description", description},  {"Architecture", "x86_64"}, {"RootDeviceName", "/dev/xvda"},
      {"VirtualizationType", "hvm"}, {"EnaSupport", "true"}};
  if (!snapshot_id.empty()) {
    form.emplace_back("BlockDeviceMapping.1.DeviceName", "/dev/xvda");
    form.emplace_back("BlockDeviceMapping.1.Ebs.SnapshotId", snapshot_id);
  }
  http::Request req{
      .method = "POST",
      .url = o.ec2_endpoint + "/",
      .headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}};
  for (const auto& [key, value] : form) {
    req.body += (req.body.empty() ? "" : "&") + aws::uriEncode(key, false) + "=" +
                aws::uriEncode(value, false);
  }
  aws::Credentials credentials{.access_key_id = o.access_key_id,
                               .secret_access_key = o.secret_access_key};
  OPSY_RETURN_IF_ERROR(aws::signRequest(req, credentials, region, "ec2", realClock().now()));
  OPSY_ASSIGN_OR_RETURN(http::Response resp, transport.send(req));
  pugi::xml_document doc;
  doc.load_string(resp.body.c_str());
  if (resp.status != 200) {
    pugi::xml_node error = doc.select_node("//Error").node();
    return fail(ErrorCode::Internal,
                fmt::format("RegisterImage: HTTP {} {}: {}", resp.status, error.child_value("Code"),
                            error.child_value("Message")));
  }
  std::string id = doc.document_element().child_value("imageId");
  if (id.empty()) {
    return fail(ErrorCode::Internal, "RegisterImage: no image id in the response");
  }
  return id;
}

// 17 hex digits derived from `text`, for ids of the temporary resources.
std::string hexSuffix(const std::string& text) {
  return fmt::format("{:017x}", std::hash<std::string>{}(text)&0xfffffffffffffffULL);
}

}  // namespace

PackerJobRunner::PackerJobRunner(PackerJobRunnerOptions options)
    : options_(std::move(options)),
      build_time_(options_.build_time),
      copy_regions_(options_.copy_regions) {
  if (!options_.clock) {
    options_.clock = realClockPtr();
  }
  if (auto transport = http::makeCurlTransport({})) {
    transport_ = *transport;
  }
}

void PackerJobRunner::setBuildTime(Duration build_time) {
  std::lock_guard lock(mu_);
  build_time_ = build_time;
}

void PackerJobRunner::setCopyRegions(std::vector<std::string> regions) {
  std::lock_guard lock(mu_);
  copy_regions_ = std::move(regions);
}

std::vector<std::string> PackerJobRunner::builtImages() const {
  std::lock_guard lock(mu_);
  return built_;
}

std::vector<std::string> PackerJobRunner::copiesIn(const std::string& region) const {
  std::lock_guard lock(mu_);
  auto it = copies_.find(region);
  return it == copies_.end() ? std::vector<std::string>() : it->second;
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
  if (transport_ == nullptr) {
    job->appendLog(line("", "ui", fmt::format("error,Build '{}' errored: no HTTP transport", b)));
    job->fail();
    return;
  }
  std::vector<std::string> copy_regions;
  {
    std::lock_guard lock(mu_);
    copy_regions = copy_regions_;
  }
  // Packer's amazon-ebs builder snapshots the build instance's root volume, then registers the
  // image from that snapshot; each copy (ami_regions) is an image of its own region, with its own
  // snapshot there. The fake has no CopyImage, so a copy is registered in its region.
  std::vector<std::pair<std::string, std::string>> pairs;  // region, image
  std::vector<std::string> regions = {options_.region};
  regions.insert(regions.end(), copy_regions.begin(), copy_regions.end());
  for (const std::string& region : regions) {
    const bool copy = region != options_.region;
    std::string snapshot_id;
    if (options_.aws != nullptr) {
      snapshot_id = "snap-" + hexSuffix(job->jobName() + "/root" + (copy ? "/" + region : ""));
      options_.aws->addSnapshot(
          FakeSnapshot{.id = snapshot_id,
                       .description = "Created by Packer for " + job->jobName(),
                       .region = region});
    }
    auto image = registerImage(*transport_, options_, region, "opsy-" + job->jobName(),
                               "built by packer for " + job->jobName(), snapshot_id);
    if (!image) {
      job->appendLog(
          line("", "ui", fmt::format("error,Build '{}' errored: {}", b, image.error().message)));
      job->fail();
      return;
    }
    {
      std::lock_guard lock(mu_);
      (copy ? copies_[region] : built_).push_back(*image);
    }
    job->appendLog(line("", "ui", fmt::format("say,==> {}: AMI: {} ({})", b, *image, region)));
    pairs.emplace_back(region, *image);
  }
  // amazon-ebs names every region's image in one id, `region:ami` pairs sorted and joined by
  // commas, which machine-readable output escapes.
  std::sort(pairs.begin(), pairs.end());
  std::vector<std::string> ids;
  for (const auto& [region, image] : pairs) {
    ids.push_back(region + ":" + image);
  }
  job->appendLog(line(b, "artifact-count", "1"));
  job->appendLog(line(b, "artifact", fmt::format("0,id,{}", fmt::join(ids, "%!(PACKER_COMMA)"))));
  job->appendLog(line(b, "artifact", "0,end"));
  job->succeed();
}

}  // namespace opsy::testing

// End to end: the real packer-builder-controller binary against FakeKube and FakeAws, with a Job
// runner playing Packer, builds an image for the seed sample and then stays quiet.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/pointer.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "opsy/ami/tags.h"
#include "support/child_process.h"
#include "support/fake_aws.h"
#include "support/fake_kube.h"
#include "support/fake_kube_json.h"
#include "support/loopback_server.h"
#include "support/packer_job_runner.h"
#include "support/promtool.h"
#include "support/test_pki.h"

extern char** environ;

namespace opsy::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kNamespace = "default";
constexpr const char* kBuilder = "packer-builder-local";
constexpr const char* kBaseImage = "ami-0b1e2a3c4d5e6f708";

std::string manifestJson(const fs::path& path) {
  auto doc = parseJsonOrYaml(readFile(path));
  EXPECT_TRUE(doc.has_value()) << path;
  return doc ? toJson(*doc) : "{}";
}

std::string at(const Json& doc, const char* pointer) {
  const JsonValue* v = rapidjson::Pointer(pointer).Get(doc);
  return v != nullptr && v->IsString() ? v->GetString() : "";
}

// Polls `done` every 100 ms until it holds or `timeout` passes.
bool waitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  return eventually(done, timeout, 100ms);
}

class PackerBuilderE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clearProxyEnvironment();
    dir_ = fs::temp_directory_path() / ("opsy-e2e-pb-" + std::to_string(::getpid()));
    fs::create_directories(dir_);

    aws_ = std::make_unique<FakeAws>();
    aws_->addImage({.id = kBaseImage,
                    .name = "amazon-eks-node-al2023-x86_64-standard-1.30-v20261101",
                    .owner_id = "602401143452",
                    .creation_date = "2026-11-01T00:00:00.000Z",
                    .is_public = true});
    aws_->addImage({.id = "ami-0aaaaaaaaaaaaaaa1",
                    .name = "amazon-eks-node-al2023-x86_64-standard-1.29-v20261101",
                    .owner_id = "602401143452",
                    .creation_date = "2026-11-02T00:00:00.000Z",
                    .is_public = true});
    aws_->addSlackToken("xoxb-fake-token");
    aws_->addSlackChannel("SLACK_CHANNEL_IDS", "builds");
    ASSERT_TRUE(aws_->start());

    runner_ = std::make_shared<PackerJobRunner>(PackerJobRunnerOptions{
        .ec2_endpoint = aws_->endpoint(), .region = "us-west-2", .aws = aws_.get()});
    kube_ = std::make_unique<FakeKube>(FakeKubeOptions{.job_runner = runner_});
    ASSERT_TRUE(kube_->start());
    kubeconfig_ = dir_ / "kubeconfig";
    ASSERT_TRUE(kube_->writeKubeconfig(kubeconfig_.string()));

    const fs::path root = fs::path(OPSY_TEST_DATA_DIR).parent_path().parent_path();
    ASSERT_TRUE(
        kube_->createObject(manifestJson(root / "crds/ami.refresh.ops_packerbuilders.yaml")));
    // The controller also watches AMIRefreshers (for status.followers), as the chart installs.
    ASSERT_TRUE(
        kube_->createObject(manifestJson(root / "crds/ami.refresh.ops_amirefreshers.yaml")));
    (void)kube_->createObject(  // the fake may already have it
        R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}})");
    for (const auto& [name, data] : std::map<std::string, std::string>{
             {"slack-token", R"({"token":"eG94Yi1mYWtlLXRva2Vu"})"},
             {"git-sync", R"({"username":"Ym90","token":"cGFzcw=="})"},
             {"aws-creds",
              R"({"AWS_ACCESS_KEY_ID":"QUtJREVYQU1QTEU=","AWS_SECRET_ACCESS_KEY":"c2VjcmV0"})"}}) {
      ASSERT_TRUE(kube_->createObject(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" +
                                      name + R"(","namespace":"default"},"data":)" + data + "}"));
    }
    sample_ = manifestJson(root / "tests/data/samples/packerbuilder.yaml");
  }

  void TearDown() override {
    child_.reset();
    kube_.reset();
    // The runner's EC2 client keeps a connection to the fake open; dropping it first spares the
    // fake's shutdown a wait for that idle connection to time out.
    runner_.reset();
    aws_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Starts the controller against the fakes. The fake API server speaks plain HTTP on 127.0.0.1
  // and wants the kubeconfig's token, so the loopback allowance is on unless a test turns it off;
  // `extra_args` follow the usual flags and `asan_options` is appended to ASAN_OPTIONS.
  void startController(const std::vector<std::string>& extra_args = {},
                       const std::string& asan_options = "") {
    const std::string binary =
        std::string(OPSY_BINARY_DIR) + "/packer-builder-controller/packer-builder-controller";
    ASSERT_TRUE(fs::exists(binary)) << binary;
    std::vector<std::string> env = {
        "AWS_ENDPOINT_URL=" + aws_->endpoint(),
        "AWS_ACCESS_KEY_ID=" + std::string(kFakeAccessKey),
        "AWS_SECRET_ACCESS_KEY=" + std::string(kFakeSecretKey),
        "AWS_REGION=us-west-2",
        "AWS_EC2_METADATA_DISABLED=true",
        "HOME=" + dir_.string(),
        "NO_PROXY=*",
    };
    // First: getenv() finds the first of two entries with one name.
    env.insert(env.begin(), extra_env_.begin(), extra_env_.end());
    for (const char* keep : {"PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
      const char* v = std::getenv(keep);
      std::string value = v != nullptr ? v : "";
      if (std::string_view(keep) == "ASAN_OPTIONS" && !asan_options.empty()) {
        value += (value.empty() ? "" : ":") + asan_options;
      }
      if (!value.empty()) {
        env.push_back(std::string(keep) + "=" + value);
      }
    }
    metrics_port_ = freeLoopbackPort();
    ASSERT_NE(metrics_port_, 0);
    std::vector<std::string> args = {
        binary, "--kubeconfig=" + kubeconfig_.string(),
        "--metrics-bind-address=127.0.0.1:" + std::to_string(metrics_port_),
        "--health-probe-bind-address=127.0.0.1:0", "--slack-api-url=" + aws_->endpoint() + "/api"};
    if (allow_plain_http_token_) {
      args.push_back("--insecure-allow-http-credentials-on-loopback");
    }
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    child_ = std::make_unique<ChildProcess>(args, env, (dir_ / "controller.log").string());
    ASSERT_TRUE(child_->start());
  }

  // Creates the sample through the API (so the CRD schema judges it), as kubectl would.
  void applySample() {
    httplib::Client client(kube_->url());
    auto resp = client.Post("/apis/ami.refresh.ops/v1alpha1/namespaces/default/packerbuilders",
                            httplib::Headers{{"Authorization", "Bearer " + kube_->token()}},
                            sample_, "application/json");
    ASSERT_TRUE(resp);
    ASSERT_EQ(resp->status, 201) << resp->body;
  }

  Json builder() {
    auto text = kube_->getObject("ami.refresh.ops/v1alpha1", "PackerBuilder", kNamespace, kBuilder);
    if (!text) {
      return Json();
    }
    auto doc = parseJson(*text);
    return doc ? std::move(*doc) : Json();
  }

  // Condition `type` of builder `b`, or nullptr when absent.
  static const JsonValue* findCondition(const Json& b, std::string_view type) {
    const JsonValue* conditions = rapidjson::Pointer("/status/conditions").Get(b);
    if (conditions == nullptr || !conditions->IsArray()) {
      return nullptr;
    }
    for (const JsonValue& c : conditions->GetArray()) {
      if (stringAt(c, {"type"}) == type) {
        return &c;
      }
    }
    return nullptr;
  }

  // "<status>/<reason>" of condition `type`, or "" when absent.
  static std::string condition(const Json& b, std::string_view type) {
    const JsonValue* c = findCondition(b, type);
    return c ? stringAt(*c, {"status"}) + "/" + stringAt(*c, {"reason"}) : "";
  }

  static bool ready(const Json& b) { return condition(b, "Ready").rfind("True/", 0) == 0; }

  // The message of condition `type`, or "" when absent.
  static std::string conditionMessage(const Json& b, std::string_view type) {
    const JsonValue* c = findCondition(b, type);
    return c ? stringAt(*c, {"message"}) : "";
  }

  // Sets the string at `pointer` in the sample before it is applied.
  void setSample(const char* pointer, const char* value) {
    auto doc = parseJson(sample_);
    ASSERT_TRUE(doc.has_value());
    rapidjson::Pointer(pointer).Set(*doc, value);
    sample_ = toJson(*doc);
  }

  // Sets spec.timeOuts.controllerTimer of the sample before it is applied.
  void setSampleTimer(const char* timer) {
    auto doc = parseJson(sample_);
    ASSERT_TRUE(doc.has_value());
    rapidjson::Pointer("/spec/timeOuts/controllerTimer").Set(*doc, timer);
    sample_ = toJson(*doc);
  }

  // How many times an Event with `reason` was recorded about the builder (a series counts as its
  // count).
  int eventCount(std::string_view reason) const {
    int n = 0;
    for (const std::string& text : kube_->listObjects("events.k8s.io/v1", "Event", "default")) {
      auto doc = parseJson(text);
      if (!doc || stringAt(*doc, {"reason"}) != reason ||
          stringAt(*doc, {"regarding", "name"}) != kBuilder) {
        continue;
      }
      const JsonValue* count = rapidjson::Pointer("/series/count").Get(*doc);
      n += count != nullptr && count->IsInt() ? count->GetInt() : 1;
    }
    return n;
  }

  std::string controllerLog() const { return readFile((dir_ / "controller.log").string()); }

  // What the running controller serves on /metrics, or "" when the scrape fails.
  std::string scrapeMetrics() const {
    httplib::Client client("127.0.0.1", metrics_port_);
    auto res = client.Get("/metrics");
    return res && res->status == 200 ? res->body : "";
  }

  fs::path dir_;
  fs::path kubeconfig_;
  bool allow_plain_http_token_ = true;
  std::unique_ptr<FakeAws> aws_;
  std::shared_ptr<PackerJobRunner> runner_;
  std::unique_ptr<FakeKube> kube_;
  std::unique_ptr<ChildProcess> child_;
  std::string sample_;
  int metrics_port_ = 0;
  std::vector<std::string> extra_env_;  // added to the controller's environment
};

// The sample, applied unchanged, yields one Job, one image tagged as DESIGN.md §3 says, a Ready
// status naming the run; afterwards the controller writes nothing, reads PackerBuilders and Jobs
// only from its cache, and looks images up at most
// once per filter set per controllerTimer; SIGTERM ends it with 0.
TEST_F(PackerBuilderE2eTest, SampleBuildsTagsReportsReadyThenStaysQuiet) {
  startController();
  applySample();

  ASSERT_TRUE(waitFor([&] { return runner_->jobCount() >= 1; }, 20s)) << "no Job was created\n"
                                                                      << controllerLog();
  ASSERT_TRUE(waitFor([&] { return ready(builder()); }, 20s)) << toJson(builder()) << "\n"
                                                              << controllerLog();
  EXPECT_EQ(runner_->jobCount(), 1);
  ASSERT_EQ(runner_->builtImages().size(), 1u);
  const std::string image_id = runner_->builtImages().front();

  Json b = builder();
  for (const char* field :
       {"/status/buildID", "/status/command", "/status/jobID", "/status/jobName",
        "/status/jobStatus", "/status/lastRun", "/status/lastRunBaseImageID",
        "/status/lastRunBuiltImageID", "/status/lastRunMessage", "/status/lastRunStatus"}) {
    EXPECT_FALSE(at(b, field).empty()) << field << " in " << toJson(b);
  }
  EXPECT_EQ(at(b, "/status/lastRunBuiltImageID"), image_id);
  EXPECT_EQ(at(b, "/status/lastRunBaseImageID"), kBaseImage);

  auto image = aws_->image(image_id);
  ASSERT_TRUE(image.has_value());
  const TagMap& tags = image->tags;
  auto tag = [&](std::string_view key) {
    auto it = tags.find(std::string(key));
    return it == tags.end() ? std::string("<missing>") : it->second;
  };
  EXPECT_EQ(tag(ami::kTagBroughtBy), ami::kBroughtByValue);
  EXPECT_EQ(tag(ami::kTagClusterName), "opsy-gitops");
  EXPECT_EQ(tag(ami::kTagCreatedBy), kBuilder);
  EXPECT_EQ(tag(ami::kTagPackerRepo), "https://github.com/ibeify/eks-node-group-ami-refresh");
  EXPECT_EQ(tag(ami::kTagPackerRepoBranch), "main");
  EXPECT_EQ(tag(ami::kTagBaseAmi), kBaseImage);
  EXPECT_EQ(tag(ami::kTagBuildId), at(b, "/status/buildID"));
  EXPECT_EQ(tag(ami::kTagJobId), at(b, "/status/jobID"));
  EXPECT_THAT(tag(ami::kTagCreateTimestamp),
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"));
  EXPECT_EQ(tag(ami::kTagStatus), ami::kStatusActive);
  EXPECT_TRUE(waitFor(
      [&] {
        for (const FakeSlackPost& post : aws_->slackPosts()) {
          if (post.channel == "SLACK_CHANNEL_IDS" &&
              post.text.find(image_id) != std::string::npos) {
            return true;
          }
        }
        return false;
      },
      10s))
      << aws_->stateJson();

  // A 2 s controllerTimer makes the quiet window long enough to see several periods. The patch
  // goes straight to the store, and the controller's reaction to it settles before counting.
  constexpr int kTimerSeconds = 2;
  rapidjson::Pointer("/spec/timeOuts/controllerTimer").Set(b, "2s");
  ASSERT_TRUE(kube_->updateObject(toJson(b)));
  const std::string generation = [&] {
    Json patched = builder();
    const JsonValue* g = rapidjson::Pointer("/metadata/generation").Get(patched);
    return g != nullptr && g->IsInt64() ? std::to_string(g->GetInt64()) : "";
  }();
  ASSERT_TRUE(waitFor(
      [&] {
        Json now = builder();
        const JsonValue* g = rapidjson::Pointer("/status/observedGeneration").Get(now);
        return g != nullptr && g->IsInt64() && std::to_string(g->GetInt64()) == generation &&
               ready(now);
      },
      10s))
      << toJson(builder());
  std::this_thread::sleep_for(1s);

  // Reads of the watched kinds come from the informer cache: in steady state the controller
  // neither gets nor lists PackerBuilders or Jobs (each periodic reconcile reads its cache).
  const auto api_reads = [&] {
    int n = 0;
    for (const char* verb : {"get", "list"}) {
      n += kube_->requestCount(verb, "packerbuilders") + kube_->requestCount(verb, "jobs");
    }
    return n;
  };
  const int writes_before = kube_->writeCount();
  const int reads_before = api_reads();
  aws_->clearCalls();
  constexpr int kWindowSeconds = 7;
  std::this_thread::sleep_for(std::chrono::seconds(kWindowSeconds));
  EXPECT_EQ(kube_->writeCount() - writes_before, 0) << controllerLog();
  EXPECT_EQ(api_reads() - reads_before, 0) << controllerLog();
  // Two filter sets (the base image and the builder's own images), each at most once per period.
  const int periods = kWindowSeconds / kTimerSeconds + 1;
  EXPECT_LE(aws_->callCount("ec2", "DescribeImages"), 2 * periods);
  EXPECT_EQ(runner_->jobCount(), 1);

  ASSERT_TRUE(child_->running()) << controllerLog();
  EXPECT_EQ(child_->stop(SIGTERM, 35s), std::optional<int>(0)) << controllerLog();
}

// Issue 17: Packer's artifact names an image in us-west-2 (spec.region) and its copy in
// eu-west-1. Both are tagged with the full tag set in their own region (the fake's images are
// regional, so a tag call sent to the wrong region fails), the copy's snapshot gets the lineage
// tags, and status.copies lists the copy. A second build deprecates the previous image in each
// region.
TEST_F(PackerBuilderE2eTest, ArtifactWithTwoRegionsTagsBothCopiesAndDeprecatesPerRegion) {
  runner_->setCopyRegions({"eu-west-1"});
  setSampleTimer("2s");
  startController();
  applySample();
  auto copyOf = [&](const Json& b) {
    return std::pair{at(b, "/status/copies/0/region"), at(b, "/status/copies/0/imageID")};
  };
  ASSERT_TRUE(waitFor(
      [&] {
        Json b = builder();
        return ready(b) && !copyOf(b).second.empty();
      },
      30s))
      << toJson(builder()) << "\n"
      << controllerLog();
  ASSERT_EQ(runner_->builtImages().size(), 1u);
  ASSERT_EQ(runner_->copiesIn("eu-west-1").size(), 1u);
  const std::string us = runner_->builtImages()[0];
  const std::string eu = runner_->copiesIn("eu-west-1")[0];
  Json b = builder();
  EXPECT_EQ(at(b, "/status/lastRunBuiltImageID"), us);
  EXPECT_EQ(copyOf(b), (std::pair<std::string, std::string>{"eu-west-1", eu}));
  EXPECT_EQ(rapidjson::Pointer("/status/copies/1").Get(b), nullptr) << toJson(b);

  auto us_image = aws_->image(us);
  auto eu_image = aws_->image(eu);
  ASSERT_TRUE(us_image && eu_image);
  EXPECT_EQ(us_image->region, "us-west-2");
  EXPECT_EQ(eu_image->region, "eu-west-1");
  EXPECT_EQ(eu_image->tags, us_image->tags);
  EXPECT_EQ(eu_image->tags[std::string(ami::kTagStatus)], ami::kStatusActive);
  EXPECT_EQ(eu_image->tags[std::string(ami::kTagCreatedBy)], kBuilder);
  ASSERT_EQ(eu_image->snapshot_ids.size(), 1u);
  auto eu_snapshot = aws_->snapshot(eu_image->snapshot_ids.front());
  ASSERT_TRUE(eu_snapshot.has_value());
  EXPECT_EQ(eu_snapshot->region, "eu-west-1");
  EXPECT_EQ(eu_snapshot->tags[std::string(ami::kTagBroughtBy)], ami::kBroughtByValue);
  EXPECT_EQ(eu_snapshot->tags[std::string(ami::kTagCreatedBy)], kBuilder);
  // The copy was tagged by a call signed for its region.
  bool tagged_in_eu = false;
  for (const FakeCall& call : aws_->calls()) {
    tagged_in_eu = tagged_in_eu || (call.operation == "CreateTags" && call.region == "eu-west-1" &&
                                    call.status == 200);
  }
  EXPECT_TRUE(tagged_in_eu);

  // A newer base image: the second build's images become active and the first ones are
  // deprecated, each in its own region.
  aws_->addImage({.id = "ami-0b1e2a3c4d5e6f7a1",
                  .name = "amazon-eks-node-al2023-x86_64-standard-1.30-v20261115",
                  .owner_id = "602401143452",
                  .creation_date = "2026-11-15T00:00:00.000Z",
                  .is_public = true});
  ASSERT_TRUE(waitFor(
      [&] {
        auto built = runner_->builtImages();
        auto copies = runner_->copiesIn("eu-west-1");
        if (built.size() < 2 || copies.size() < 2) {
          return false;
        }
        Json now = builder();
        auto old_us = aws_->image(us);
        auto old_eu = aws_->image(eu);
        return ready(now) && at(now, "/status/lastRunBuiltImageID") == built[1] &&
               copyOf(now).second == copies[1] && old_us && old_eu &&
               old_us->tags[std::string(ami::kTagStatus)] == ami::kStatusDeprecated &&
               old_eu->tags[std::string(ami::kTagStatus)] == ami::kStatusDeprecated;
      },
      40s))
      << toJson(builder()) << "\n"
      << aws_->stateJson() << "\n"
      << controllerLog();
  auto new_eu = aws_->image(runner_->copiesIn("eu-west-1")[1]);
  ASSERT_TRUE(new_eu.has_value());
  EXPECT_EQ(new_eu->tags[std::string(ami::kTagStatus)], ami::kStatusActive);
  EXPECT_EQ(new_eu->tags[std::string(ami::kTagBaseAmi)], "ami-0b1e2a3c4d5e6f7a1");
  // Events follow the tag writes (the recorder sends them after the reconcile's AWS calls).
  EXPECT_TRUE(waitFor([&] { return eventCount("ImageDeprecated") >= 2; }, 10s)) << controllerLog();
  EXPECT_EQ(runner_->jobCount(), 2);
}

// A denied DescribeImages is on the builder within one reconcile: Ready=False AWSAccessDenied
// naming the IAM action, one Warning Event, no Job; the lookup is retried once per
// controllerTimer, not hot-looped; once the policy is fixed the builder builds and turns Ready.
TEST_F(PackerBuilderE2eTest, DeniedImageLookupShowsAccessDeniedThenRecovers) {
  aws_->addFault(
      {.service = "ec2", .operation = "DescribeImages", .kind = FaultKind::AccessDenied});
  ASSERT_NO_FATAL_FAILURE(setSampleTimer("2s"));
  startController();
  applySample();

  ASSERT_TRUE(
      waitFor([&] { return condition(builder(), "Ready") == "False/AWSAccessDenied"; }, 10s))
      << toJson(builder()) << "\n"
      << controllerLog();
  const std::string message = conditionMessage(builder(), "Ready");
  EXPECT_NE(message.find("ec2:DescribeImages"), std::string::npos) << message;
  EXPECT_NE(message.find("docs/iam.md#packer-builder-controller"), std::string::npos) << message;
  EXPECT_EQ(condition(builder(), "Stalled"), "True/AWSAccessDenied");

  // The status write brings the builder back once more (its watch event); counting starts after
  // that, so only the controllerTimer (2 s, jittered by up to -10 %) is seen.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  aws_->clearCalls();
  constexpr int kWindowSeconds = 6;
  std::this_thread::sleep_for(std::chrono::seconds(kWindowSeconds));
  EXPECT_LE(aws_->callCount("ec2", "DescribeImages"), kWindowSeconds / 2 + 1);
  EXPECT_EQ(eventCount("AWSAccessDenied"), 1) << controllerLog();
  EXPECT_EQ(runner_->jobCount(), 0);

  aws_->clearFaults();
  ASSERT_TRUE(waitFor([&] { return ready(builder()); }, 30s)) << toJson(builder()) << "\n"
                                                              << controllerLog();
  EXPECT_EQ(condition(builder(), "Stalled").rfind("False/", 0), 0U);
  EXPECT_EQ(runner_->jobCount(), 1);
}

// A builder whose spec.builder.secret does not exist says so, naming the Secret; no Job is
// created, the status never claims a build; creating the Secret lets the build start.
TEST_F(PackerBuilderE2eTest, MissingBuilderSecretIsNamedAndNoJobIsCreated) {
  ASSERT_TRUE(kube_->deleteObject("v1", "Secret", "default", "aws-creds"));
  ASSERT_NO_FATAL_FAILURE(setSampleTimer("2s"));
  startController();
  applySample();

  ASSERT_TRUE(waitFor([&] { return condition(builder(), "Ready") == "False/SecretMissing"; }, 10s))
      << toJson(builder()) << "\n"
      << controllerLog();
  const std::string message = conditionMessage(builder(), "Ready");
  EXPECT_NE(message.find("default/aws-creds"), std::string::npos) << message;
  EXPECT_NE(message.find("spec.builder.secret"), std::string::npos) << message;
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(runner_->jobCount(), 0);
  EXPECT_EQ(kube_->requestCount("create", "jobs"), 0);
  EXPECT_NE(at(builder(), "/status/jobStatus"), "running") << toJson(builder());
  EXPECT_EQ(eventCount("SecretMissing"), 1);

  ASSERT_TRUE(kube_->createObject(
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"aws-creds","namespace":"default"},)"
      R"("data":{"AWS_ACCESS_KEY_ID":"QUtJREVYQU1QTEU="}})"));
  ASSERT_TRUE(waitFor([&] { return runner_->jobCount() == 1; }, 10s)) << controllerLog();
}

// A Job the API server refuses (an admission webhook here) is JobRejected with the server's own
// message; the status never says a build is running and no "disappeared" failure follows.
TEST_F(PackerBuilderE2eTest, RefusedJobIsJobRejectedWithTheServersMessage) {
  kube_->addFault({.verb = "create",
                   .resource = "jobs",
                   .http_status = 403,
                   .count = -1,
                   .message = "admission webhook \"no-privileged.example.com\" denied the "
                              "request: hostPath volumes are not allowed"});
  ASSERT_NO_FATAL_FAILURE(setSampleTimer("2s"));
  startController();
  applySample();

  ASSERT_TRUE(waitFor([&] { return condition(builder(), "Ready") == "False/JobRejected"; }, 10s))
      << toJson(builder()) << "\n"
      << controllerLog();
  const std::string message = conditionMessage(builder(), "Ready");
  EXPECT_NE(message.find("hostPath volumes are not allowed"), std::string::npos) << message;
  for (int i = 0; i < 20; ++i) {
    EXPECT_NE(at(builder(), "/status/jobStatus"), "running") << toJson(builder());
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(runner_->jobCount(), 0);
  EXPECT_EQ(eventCount("BuildFailed"), 0) << "no \"Job disappeared\" for a Job never made";
}

// Specs whose Job the API server refuses on its own rules: a git-sync container named like the
// Packer container (422 Duplicate value) and a resource quantity that is not one (400). The
// builder shows the server's words on Ready (JobRejected), and no Job exists.
TEST_F(PackerBuilderE2eTest, JobsTheApiServerRefusesAreJobRejectedWithItsMessage) {
  ASSERT_NO_FATAL_FAILURE(setSampleTimer("2s"));
  ASSERT_NO_FATAL_FAILURE(setSample("/spec/gitSync/name", "packer-build"));
  startController();
  applySample();
  ASSERT_TRUE(waitFor([&] { return condition(builder(), "Ready") == "False/JobRejected"; }, 10s))
      << toJson(builder()) << "\n"
      << controllerLog();
  EXPECT_THAT(conditionMessage(builder(), "Ready"),
              ::testing::HasSubstr("Duplicate value: \"packer-build\""));

  // Fix the name, break the quantity: the next attempt is refused for that instead.
  auto doc = parseJson(toJson(builder()));
  ASSERT_TRUE(doc.has_value());
  rapidjson::Pointer("/spec/gitSync/name").Set(*doc, "git-sync");
  rapidjson::Pointer("/spec/builder/resources/requests/cpu").Set(*doc, "lots");
  ASSERT_TRUE(kube_->updateObject(toJson(*doc)));
  ASSERT_TRUE(waitFor(
      [&] {
        return conditionMessage(builder(), "Ready").find("quantities must match") !=
               std::string::npos;
      },
      15s))
      << toJson(builder()) << "\n"
      << controllerLog();
  EXPECT_EQ(condition(builder(), "Ready"), "False/JobRejected");
  EXPECT_TRUE(kube_->listObjects("batch/v1", "Job", kNamespace).empty());
  EXPECT_EQ(runner_->jobCount(), 0);
}

// The cluster admin's build policy binds the CR author: an image the controller's flags do not
// allow, and a ServiceAccount neither listed nor labelled, are PolicyDenied naming the field and
// the rule, and no Job is created; labelling the ServiceAccount lets the build start.
TEST_F(PackerBuilderE2eTest, DisallowedImageIsPolicyDeniedAndNoJobIsCreated) {
  ASSERT_NO_FATAL_FAILURE(setSample("/spec/builder/image", "attacker.example.com/packer:1.11"));
  startController();
  applySample();

  ASSERT_TRUE(waitFor([&] { return condition(builder(), "Stalled") == "True/PolicyDenied"; }, 10s))
      << toJson(builder()) << "\n"
      << controllerLog();
  const std::string message = conditionMessage(builder(), "Stalled");
  EXPECT_NE(message.find("spec.builder.image attacker.example.com/packer:1.11"), std::string::npos)
      << message;
  EXPECT_NE(message.find("--allowed-packer-images"), std::string::npos) << message;
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(kube_->requestCount("create", "jobs"), 0);
  EXPECT_EQ(runner_->jobCount(), 0);
}

TEST_F(PackerBuilderE2eTest, UnlabelledServiceAccountIsPolicyDeniedUntilTheAdminLabelsIt) {
  ASSERT_TRUE(kube_->createObject(
      R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"platform-admin",)"
      R"("namespace":"default","annotations":{"eks.amazonaws.com/role-arn":)"
      R"("arn:aws:iam::123456789012:role/admin"}}})"));
  ASSERT_NO_FATAL_FAILURE(setSample("/spec/builder/jobServiceAccountName", "platform-admin"));
  ASSERT_NO_FATAL_FAILURE(setSampleTimer("2s"));
  startController({"--allowed-build-service-accounts=ci/packer"});
  applySample();

  ASSERT_TRUE(waitFor([&] { return condition(builder(), "Stalled") == "True/PolicyDenied"; }, 10s))
      << toJson(builder()) << "\n"
      << controllerLog();
  const std::string message = conditionMessage(builder(), "Stalled");
  EXPECT_NE(message.find("spec.builder.jobServiceAccountName"), std::string::npos) << message;
  EXPECT_NE(message.find("ServiceAccount default/platform-admin"), std::string::npos) << message;
  EXPECT_NE(message.find("ami.refresh.ops/packer-build=true"), std::string::npos) << message;
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(kube_->requestCount("create", "jobs"), 0);

  ASSERT_TRUE(kube_->deleteObject("v1", "ServiceAccount", "default", "platform-admin"));
  ASSERT_TRUE(kube_->createObject(
      R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"platform-admin",)"
      R"("namespace":"default","labels":{"ami.refresh.ops/packer-build":"true"}}})"));
  ASSERT_TRUE(waitFor([&] { return runner_->jobCount() == 1; }, 10s)) << controllerLog();
  auto job = parseJson(kube_->listObjects("batch/v1", "Job", "default").at(0));
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(stringAt(*job, {"spec", "template", "spec", "serviceAccountName"}), "platform-admin");
  const JsonValue* automount =
      rapidjson::Pointer("/spec/template/spec/automountServiceAccountToken").Get(*job);
  ASSERT_NE(automount, nullptr);
  EXPECT_TRUE(automount->IsFalse());
}

// A webhook the destination policy refuses (here the instance metadata service) is named on the
// builder's Ready condition and in one Warning Event; it is never contacted, and the build and
// the other destinations go on.
TEST_F(PackerBuilderE2eTest, WebhookToInstanceMetadataIsRefusedOnTheStatus) {
  ASSERT_NO_FATAL_FAILURE(
      setSample("/spec/notifier/webhook/url", "http://169.254.169.254/latest/meta-data/iam/"));
  startController();
  applySample();

  ASSERT_TRUE(waitFor(
      [&] {
        return conditionMessage(builder(), "Ready").find("169.254.169.254") != std::string::npos;
      },
      10s))
      << toJson(builder()) << "\n"
      << controllerLog();
  const std::string message = conditionMessage(builder(), "Ready");
  EXPECT_NE(message.find("spec.notifier.webhook.url"), std::string::npos) << message;
  EXPECT_NE(message.find("--notification-allowed-hosts"), std::string::npos) << message;
  ASSERT_TRUE(waitFor([&] { return runner_->jobCount() == 1; }, 10s)) << controllerLog();
  EXPECT_TRUE(waitFor([&] { return eventCount("NotificationRefused") == 1; }, 5s));
}

std::string percentEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// Hostile answers: AWS and the API server send 1 MiB error messages stuffed with every kind of
// secret (the controller's AWS secret key and session token, raw and URL-encoded, its Kubernetes
// token, a Slack token, a JWT, a URL with a password). The controller keeps running; every JSON
// log line is one valid object of at most 16 KiB; no secret reaches the log, the Events, the
// status or the Slack notification.
TEST_F(PackerBuilderE2eTest, HugeErrorsFullOfSecretsAreCappedAndMaskedEverywhere) {
  const std::string session = "IQoJb3JpZ2luX2VjEXAMPLE/session+token==";
  const std::string secret_key = "tEmPoRaRy/SeCrEt+KeY0123456789abcdefghij";
  aws_->addSessionCredentials("ASIAEXAMPLETEMP", secret_key, session);
  extra_env_ = {"AWS_ACCESS_KEY_ID=ASIAEXAMPLETEMP", "AWS_SECRET_ACCESS_KEY=" + secret_key,
                "AWS_SESSION_TOKEN=" + session};
  const std::string jwt =
      "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJzeXN0ZW06c2E6Y2k6cGFja2VyIn0."
      "c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU";
  const std::vector<std::string> secrets = {
      secret_key,     percentEncode(secret_key), session, percentEncode(session),
      kube_->token(), "xoxb-fake-token",         jwt,     "hunter2pass"};
  const std::string chunk =
      " authorization: Bearer " + kube_->token() +
      " token=xoxb-fake-token password=hunter2pass aws_secret_access_key=" + secret_key +
      " X-Amz-Security-Token=" + percentEncode(session) + " " + jwt +
      " https://bob:hunter2pass@git.example.com/r.git " + std::string(3000, 'a');
  std::string hostile;
  while (hostile.size() < (1u << 20)) {
    hostile += chunk;
  }
  aws_->addFault({.service = "ec2",
                  .operation = "DescribeImages",
                  .kind = FaultKind::AccessDenied,
                  .count = -1,
                  .message = hostile});
  ASSERT_NO_FATAL_FAILURE(setSampleTimer("1s"));
  startController({"--log-format=json", "--log-level=debug"});
  applySample();
  ASSERT_TRUE(
      waitFor([&] { return condition(builder(), "Ready") == "False/AWSAccessDenied"; }, 20s))
      << controllerLog().substr(0, 4000);

  // Now the API server: every Job create is refused with the same text, until the builder
  // stalls on too many failures and says so on Slack with the last message.
  aws_->clearFaults();
  kube_->addFault({.verb = "create",
                   .resource = "jobs",
                   .http_status = 403,
                   .count = -1,
                   .message = "admission webhook denied the request:" + hostile});
  ASSERT_TRUE(
      waitFor([&] { return condition(builder(), "Stalled") == "True/TooManyFailures"; }, 30s))
      << toJson(builder()).substr(0, 4000);
  ASSERT_TRUE(waitFor([&] { return !aws_->slackPosts().empty(); }, 10s));
  EXPECT_TRUE(child_->running());

  std::vector<std::pair<std::string, std::string>> outputs = {{"log", controllerLog()},
                                                              {"status", toJson(builder())}};
  for (const std::string& e : kube_->listObjects("events.k8s.io/v1", "Event", "default")) {
    outputs.emplace_back("event", e);
  }
  for (const FakeSlackPost& p : aws_->slackPosts()) {
    outputs.emplace_back("slack", p.text + p.blocks_json);
  }
  for (const auto& [where, text] : outputs) {
    for (const std::string& secret : secrets) {
      EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in " << where;
    }
  }
  EXPECT_NE(toJson(builder()).find("[redacted]"), std::string::npos) << "the status was masked";

  std::istringstream lines(controllerLog());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    EXPECT_LE(line.size(), 16u * 1024) << line.substr(0, 200);
    EXPECT_TRUE(parseJson(line).has_value()) << line.substr(0, 200);
  }
  EXPECT_GT(count, 5);
}

// What the running controller serves on /metrics after a real build passes `promtool check
// metrics` without a single lint problem, and counts the work that build took: reconciles, AWS
// and Kubernetes calls and the work queue all have non-zero samples.
TEST_F(PackerBuilderE2eTest, ServedMetricsPassPromtoolAfterARealBuild) {
  if (!promtoolAvailable()) {
    GTEST_SKIP() << "promtool not found; scripts/bootstrap installs it (Debian package prometheus)";
  }
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample());
  ASSERT_TRUE(waitFor([&] { return ready(builder()); }, 20s)) << toJson(builder()) << "\n"
                                                              << controllerLog();
  ASSERT_EQ(runner_->builtImages().size(), 1u);

  const std::vector<MetricSelector> counted = {
      {"opsy_build_info", R"(controller="packer-builder")"},
      {"opsy_reconcile_total", R"(controller="packer-builder")"},
      {"opsy_reconcile_duration_seconds_count", R"(controller="packer-builder")"},
      {"opsy_aws_requests_total", R"(operation="DescribeImages")"},
      {"opsy_aws_request_duration_seconds_count", R"(service="ec2")"},
      {"opsy_kube_requests_total", R"(resource="packerbuilders)"},
      {"opsy_kube_request_duration_seconds_count", ""},
      {"opsy_workqueue_adds_total", R"(name="packer-builder")"},
      {"opsy_workqueue_work_duration_seconds_count", R"(name="packer-builder")"},
  };
  std::string text;
  EXPECT_TRUE(waitFor(
      [&] {
        text = scrapeMetrics();
        return uncounted(text, counted).empty();
      },
      20s))
      << "nothing counted in: " << fmt::format("{}", fmt::join(uncounted(text, counted), ", "))
      << "\n"
      << text << "\n"
      << controllerLog();
  PromtoolResult lint = promtoolCheckMetrics(text);
  EXPECT_EQ(lint.exit_code, 0) << lint.output;
  for (const std::string& problem : lint.problems()) {
    ADD_FAILURE() << "promtool check metrics: " << problem;
  }
  EXPECT_GE(sampleSum(text, "opsy_leader", R"(controller="packer-builder")"), 0) << text;
}

// A failing build is recorded as failed and retried until spec.maxFailedJobs builds failed; then
// the builder stalls (TooManyFailures) without another Job, no image exists, the temporary key
// pairs and security groups the builds announced are deleted, and people are told on Slack.
TEST_F(PackerBuilderE2eTest, FailingBuildsStallAfterMaxFailedJobsAndLeaveNothingBehind) {
  runner_->setFailing(true);
  startController();
  applySample();

  ASSERT_TRUE(
      waitFor([&] { return condition(builder(), "Stalled") == "True/TooManyFailures"; }, 40s))
      << toJson(builder()) << "\n"
      << controllerLog();
  Json b = builder();
  EXPECT_EQ(at(b, "/status/lastRunStatus"), "failed");
  EXPECT_THAT(at(b, "/status/lastRunMessage"), ::testing::HasSubstr("UnauthorizedOperation"));
  EXPECT_FALSE(ready(b));
  EXPECT_EQ(runner_->jobCount(), 3);  // the CRD's default maxFailedJobs
  EXPECT_TRUE(runner_->builtImages().empty());
  EXPECT_TRUE(
      waitFor([&] { return aws_->keyPairs().empty() && aws_->securityGroups().empty(); }, 10s))
      << aws_->stateJson();
  EXPECT_EQ(aws_->callCount("ec2", "DeleteKeyPair"), 3);
  EXPECT_EQ(aws_->callCount("ec2", "DeleteSecurityGroup"), 3);
  EXPECT_TRUE(waitFor(
      [&] {
        for (const FakeSlackPost& post : aws_->slackPosts()) {
          if (post.channel == "SLACK_CHANNEL_IDS" &&
              post.text.find("failed") != std::string::npos) {
            return true;
          }
        }
        return false;
      },
      10s))
      << aws_->stateJson();

  // Stalled means stalled: no further Job however long it waits (one more period here).
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(runner_->jobCount(), 3);
  ASSERT_TRUE(child_->running()) << controllerLog();
  EXPECT_EQ(child_->stop(SIGTERM, 35s), std::optional<int>(0)) << controllerLog();
}

// Progress lives in the builder's status and its Job: a controller stopped while a slow build runs
// and started again finds that build, creates no second Job, and finishes the run with its image.
TEST_F(PackerBuilderE2eTest, RestartDuringSlowBuildResumesWithoutSecondJob) {
  runner_->setBuildTime(6s);
  startController();
  applySample();

  ASSERT_TRUE(waitFor([&] { return at(builder(), "/status/jobStatus") == "running"; }, 20s))
      << toJson(builder()) << "\n"
      << controllerLog();
  EXPECT_EQ(condition(builder(), "Progressing").rfind("True/", 0), 0u) << toJson(builder());
  ASSERT_EQ(child_->stop(SIGTERM, 35s), std::optional<int>(0)) << controllerLog();

  startController();
  ASSERT_TRUE(waitFor([&] { return ready(builder()); }, 30s)) << toJson(builder()) << "\n"
                                                              << controllerLog();
  EXPECT_EQ(runner_->jobCount(), 1);
  ASSERT_EQ(runner_->builtImages().size(), 1u);
  EXPECT_EQ(at(builder(), "/status/lastRunBuiltImageID"), runner_->builtImages().front());
  EXPECT_EQ(at(builder(), "/status/lastRunStatus"), "completed");
  ASSERT_TRUE(child_->running()) << controllerLog();
  EXPECT_EQ(child_->stop(SIGTERM, 35s), std::optional<int>(0)) << controllerLog();
}

// The moments of a build at which the controller is killed.
enum class KillPoint { BuilderCreated, JobExists, BuildRunning, ImageRegistered, ImageTagged };

class PackerBuilderKillTest : public PackerBuilderE2eTest,
                              public ::testing::WithParamInterface<KillPoint> {
 protected:
  // Images the build made (not the seeded base images).
  std::vector<FakeImage> builtImages() const {
    std::vector<FakeImage> out;
    for (FakeImage& image : aws_->images()) {
      if (image.owner_id != "602401143452") {
        out.push_back(std::move(image));
      }
    }
    return out;
  }
  // Polls tightly (the windows between registering, tagging and reporting are short).
  static bool waitTight(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    return eventually(done, timeout, 1ms);
  }
};

// Whatever step of the build the controller is SIGKILLed at, a restarted controller ends with
// Ready=True, exactly one Job, exactly one image tagged status=active with the full tag set, and a
// status naming that image and Job.
TEST_P(PackerBuilderKillTest, KilledAtEveryStepEndsWithOneJobAndOneActiveImage) {
  const KillPoint point = GetParam();
  runner_->setBuildTime(point == KillPoint::BuildRunning ? 3s : 1s);
  startController();
  applySample();
  auto tagged_not_ready = [&] {
    auto images = builtImages();
    return !images.empty() && images.front().tags.count(std::string(ami::kTagStatus)) == 1 &&
           !ready(builder());
  };
  switch (point) {
    case KillPoint::BuilderCreated: break;
    case KillPoint::JobExists:
      ASSERT_TRUE(waitTight([&] { return runner_->jobCount() >= 1; }, 20s)) << controllerLog();
      break;
    case KillPoint::BuildRunning:
      ASSERT_TRUE(waitFor([&] { return at(builder(), "/status/jobStatus") == "running"; }, 20s))
          << toJson(builder()) << "\n"
          << controllerLog();
      break;
    case KillPoint::ImageRegistered:
      // Registered by the build: the controller has not tagged it yet (it learns of the image from
      // the finished Job), unless the short window is missed and the kill lands later.
      (void)waitTight([&] { return !builtImages().empty(); }, 20s);
      break;
    case KillPoint::ImageTagged: (void)waitTight(tagged_not_ready, 20s); break;
  }
  child_->stop(SIGKILL, 10s);
  startController();

  ASSERT_TRUE(waitFor([&] { return ready(builder()); }, 30s)) << toJson(builder()) << "\n"
                                                              << controllerLog();
  EXPECT_EQ(runner_->jobCount(), 1);
  const std::vector<FakeImage> images = builtImages();
  ASSERT_EQ(images.size(), 1u) << aws_->stateJson();
  const FakeImage& image = images.front();
  Json b = builder();
  for (const std::string_view key :
       {ami::kTagBroughtBy, ami::kTagClusterName, ami::kTagCreatedBy, ami::kTagPackerRepo,
        ami::kTagPackerRepoBranch, ami::kTagBaseAmi, ami::kTagBuildId, ami::kTagJobId,
        ami::kTagCreateTimestamp, ami::kTagStatus}) {
    EXPECT_EQ(image.tags.count(std::string(key)), 1u) << key << " on " << aws_->stateJson();
  }
  auto tag = [&](std::string_view key) {
    auto it = image.tags.find(std::string(key));
    return it == image.tags.end() ? std::string("<missing>") : it->second;
  };
  EXPECT_EQ(tag(ami::kTagStatus), ami::kStatusActive);
  EXPECT_EQ(at(b, "/status/lastRunBuiltImageID"), image.id);
  EXPECT_EQ(at(b, "/status/lastRunStatus"), "completed");
  EXPECT_EQ(tag(ami::kTagBuildId), at(b, "/status/buildID"));
  EXPECT_EQ(tag(ami::kTagJobId), at(b, "/status/jobID"));
  EXPECT_FALSE(at(b, "/status/jobName").empty()) << toJson(b);
  ASSERT_TRUE(child_->running()) << controllerLog();
  // When the kill landed after Ready was written, everything above holds before the restarted
  // process has even reached main(); a SIGTERM that early ends it by the signal's default action,
  // which is not the graceful exit checked here. Serving /metrics means the handler is in place.
  ASSERT_TRUE(waitFor([&] { return !scrapeMetrics().empty(); }, 20s)) << controllerLog();
  EXPECT_EQ(child_->stop(SIGTERM, 35s), std::optional<int>(0)) << controllerLog();
}

INSTANTIATE_TEST_SUITE_P(Steps, PackerBuilderKillTest,
                         ::testing::Values(KillPoint::BuilderCreated, KillPoint::JobExists,
                                           KillPoint::BuildRunning, KillPoint::ImageRegistered,
                                           KillPoint::ImageTagged));

// A builder stalled by maxFailedJobs failures starts no Job until its spec changes; an edit that
// moves metadata.generation lets it build again, and a good build clears Stalled and ends Ready.
// Editing the branch of the seed's filter-based sample starts a build for the new lineage at once
// (not at the next controllerTimer, 5m in the sample), and no condition claims the new
// generation before that build exists.
TEST_F(PackerBuilderE2eTest, BranchEditStartsANewBuildAtOnce) {
  startController();
  applySample();
  ASSERT_TRUE(waitFor([&] { return ready(builder()); }, 30s)) << toJson(builder()) << "\n"
                                                              << controllerLog();
  ASSERT_EQ(runner_->jobCount(), 1);

  Json b = builder();
  rapidjson::Pointer("/spec/builder/branch").Set(b, "release");
  ASSERT_TRUE(kube_->updateObject(toJson(b)));
  const Json edited = builder();
  const JsonValue* g = rapidjson::Pointer("/metadata/generation").Get(edited);
  ASSERT_TRUE(g != nullptr && g->IsInt64());
  const std::int64_t generation = g->GetInt64();

  // Every condition's observedGeneration, as one list.
  auto generations = [](const Json& now) {
    std::vector<std::int64_t> out;
    const JsonValue* conditions = rapidjson::Pointer("/status/conditions").Get(now);
    if (conditions != nullptr && conditions->IsArray()) {
      for (const JsonValue& c : conditions->GetArray()) {
        const JsonValue* og = rapidjson::Pointer("/observedGeneration").Get(c);
        out.push_back(og != nullptr && og->IsInt64() ? og->GetInt64() : 0);
      }
    }
    return out;
  };
  bool claimed_early = false;
  ASSERT_TRUE(waitFor(
      [&] {
        const bool built = runner_->jobCount() >= 2;
        for (std::int64_t og : generations(builder())) {
          if (og == generation && !built && runner_->jobCount() < 2) {
            claimed_early = true;
          }
        }
        return built;
      },
      5s))
      << "no build within 5 s of the branch edit\n"
      << toJson(builder()) << "\n"
      << controllerLog();
  EXPECT_FALSE(claimed_early) << "a condition named the new generation before its build existed";
  ASSERT_TRUE(waitFor(
      [&] {
        auto all = generations(builder());
        return !all.empty() && std::all_of(all.begin(), all.end(),
                                           [&](std::int64_t og) { return og == generation; });
      },
      5s))
      << toJson(builder());
}

TEST_F(PackerBuilderE2eTest, StalledBuilderResumesAfterSpecEdit) {
  runner_->setFailing(true);
  startController();
  applySample();
  ASSERT_TRUE(
      waitFor([&] { return condition(builder(), "Stalled") == "True/TooManyFailures"; }, 40s))
      << toJson(builder()) << "\n"
      << controllerLog();
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(runner_->jobCount(), 3);

  runner_->setFailing(false);
  Json b = builder();
  rapidjson::Pointer("/spec/maxFailedJobs").Set(b, 5);
  ASSERT_TRUE(kube_->updateObject(toJson(b)));

  ASSERT_TRUE(waitFor([&] { return runner_->jobCount() >= 4; }, 20s)) << toJson(builder()) << "\n"
                                                                      << controllerLog();
  ASSERT_TRUE(waitFor([&] { return ready(builder()); }, 30s)) << toJson(builder()) << "\n"
                                                              << controllerLog();
  EXPECT_EQ(runner_->jobCount(), 4);
  ASSERT_EQ(runner_->builtImages().size(), 1u);
  b = builder();
  EXPECT_EQ(at(b, "/status/lastRunBuiltImageID"), runner_->builtImages().front());
  EXPECT_EQ(at(b, "/status/lastRunStatus"), "completed");
  EXPECT_THAT(condition(b, "Stalled"), ::testing::Not(::testing::StartsWith("True/")));
  auto image = aws_->image(runner_->builtImages().front());
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->tags[std::string(ami::kTagStatus)], ami::kStatusActive);
  ASSERT_TRUE(child_->running()) << controllerLog();
  EXPECT_EQ(child_->stop(SIGTERM, 35s), std::optional<int>(0)) << controllerLog();
}

// Retention: the sample with a 2 s controllerTimer and spec.retention, and builds driven by new
// base images appearing in EC2 (as EKS publishes a new optimized AMI).
class PackerBuilderRetentionE2eTest : public PackerBuilderE2eTest {
 protected:
  void SetUp() override {
    PackerBuilderE2eTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(setSampleTimer("2s"));
    auto doc = parseJson(sample_);
    ASSERT_TRUE(doc.has_value());
    rapidjson::Pointer("/spec/retention/keepLast").Set(*doc, 2);
    sample_ = toJson(*doc);
  }

  // Runs builds until `count` images exist: each after the first needs a newer base image. Records
  // each built image with its snapshots while it still exists.
  void buildImages(size_t count) {
    for (size_t i = runner_->builtImages().size(); i < count; ++i) {
      if (i > 0) {
        aws_->addImage(
            {.id = fmt::format("ami-0b1e2a3c4d5e6f7{:02x}", 0x10 + i),
             .name = fmt::format("amazon-eks-node-al2023-x86_64-standard-1.30-v2026111{}", i),
             .owner_id = "602401143452",
             .creation_date = fmt::format("2026-11-1{}T00:00:00.000Z", i),
             .is_public = true});
      }
      ASSERT_TRUE(waitFor(
          [&] {
            auto built = runner_->builtImages();
            Json b = built.size() > i ? builder() : Json();
            return built.size() > i && at(b, "/status/lastRunBuiltImageID") == built[i] &&
                   at(b, "/status/lastRunStatus") == "completed";
          },
          40s))
          << "build " << i + 1 << " did not finish\n"
          << toJson(builder()) << "\n"
          << controllerLog();
      const std::string id = runner_->builtImages()[i];
      auto image = aws_->image(id);
      ASSERT_TRUE(image.has_value()) << id;
      ASSERT_EQ(image->snapshot_ids.size(), 1u) << id;
      built_.push_back(id);
      snapshots_.push_back(image->snapshot_ids.front());
    }
  }

  // status.retention.<list>[].<field> as a list (the items themselves for a list of strings).
  std::vector<std::string> retentionList(const char* list, const char* field) {
    std::vector<std::string> out;
    Json b = builder();
    const JsonValue* items =
        rapidjson::Pointer((std::string("/status/retention/") + list).c_str()).Get(b);
    if (items != nullptr && items->IsArray()) {
      for (const JsonValue& item : items->GetArray()) {
        if (item.IsString()) {
          out.push_back(item.GetString());  // a list of strings (`field` unused)
        } else {
          out.push_back(stringAt(item, {field}));
        }
      }
    }
    return out;
  }

  std::vector<std::string> built_;
  std::vector<std::string> snapshots_;
};

// keepLast 2 after four builds: the two oldest deprecated images are deregistered and their
// snapshots deleted, one ImageDeleted Event each; the newest deprecated one stays, with EC2's own
// deprecation time set, and the active image is untouched (keepLast counts it).
TEST_F(PackerBuilderRetentionE2eTest, KeepLastDeletesTheOldestDeprecatedImagesAndSnapshots) {
  startController();
  applySample();
  ASSERT_NO_FATAL_FAILURE(buildImages(4));

  ASSERT_TRUE(waitFor(
      [&] { return !aws_->image(built_[0]).has_value() && !aws_->image(built_[1]).has_value(); },
      20s))
      << toJson(builder()) << "\n"
      << controllerLog();
  ASSERT_TRUE(waitFor(
      [&] {
        return !aws_->snapshot(snapshots_[0]).has_value() &&
               !aws_->snapshot(snapshots_[1]).has_value();
      },
      10s))
      << aws_->stateJson();
  auto kept = aws_->image(built_[2]);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->tags[std::string(ami::kTagStatus)], ami::kStatusDeprecated);
  EXPECT_FALSE(kept->deprecation_time.empty()) << "EC2's deprecation time was not set";
  EXPECT_TRUE(aws_->snapshot(snapshots_[2]).has_value());
  auto active = aws_->image(built_[3]);
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->tags[std::string(ami::kTagStatus)], ami::kStatusActive);
  EXPECT_TRUE(aws_->snapshot(snapshots_[3]).has_value());

  ASSERT_TRUE(waitFor([&] { return eventCount("ImageDeleted") >= 2; }, 10s)) << controllerLog();
  EXPECT_EQ(eventCount("ImageDeleted"), 2);
  EXPECT_TRUE(ready(builder())) << toJson(builder());
  EXPECT_THAT(retentionList("deleted", "imageId"), ::testing::Contains(built_[1]))
      << toJson(builder());
  EXPECT_THAT(retentionList("kept", "imageId"), ::testing::IsEmpty());
  EXPECT_EQ(runner_->jobCount(), 4);
}

// Issue 17: retention runs in each region. With every build copied to eu-west-1 and keepLast 2,
// after three builds the oldest copy is deregistered and its snapshot deleted in eu-west-1, as the
// oldest image is in us-west-2; the newer deprecated copy stays with EC2's deprecation time set,
// and the active copy is untouched.
TEST_F(PackerBuilderRetentionE2eTest, KeepLastAppliesInEachCopyRegion) {
  runner_->setCopyRegions({"eu-west-1"});
  startController();
  applySample();
  // The first copy's snapshot is read before later builds let retention delete it.
  ASSERT_NO_FATAL_FAILURE(buildImages(1));
  ASSERT_EQ(runner_->copiesIn("eu-west-1").size(), 1u);
  auto oldest_copy = aws_->image(runner_->copiesIn("eu-west-1")[0]);
  ASSERT_TRUE(oldest_copy.has_value());
  ASSERT_EQ(oldest_copy->snapshot_ids.size(), 1u);
  const std::string oldest_copy_snapshot = oldest_copy->snapshot_ids.front();
  ASSERT_NO_FATAL_FAILURE(buildImages(3));
  std::vector<std::string> copies = runner_->copiesIn("eu-west-1");
  ASSERT_EQ(copies.size(), 3u);
  ASSERT_TRUE(waitFor(
      [&] {
        return !aws_->image(built_[0]).has_value() && !aws_->image(copies[0]).has_value() &&
               !aws_->snapshot(oldest_copy_snapshot).has_value();
      },
      40s))
      << toJson(builder()) << "\n"
      << aws_->stateJson() << "\n"
      << controllerLog();
  auto kept = aws_->image(copies[1]);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->tags[std::string(ami::kTagStatus)], ami::kStatusDeprecated);
  EXPECT_FALSE(kept->deprecation_time.empty()) << "EC2's deprecation time was not set in eu-west-1";
  auto active = aws_->image(copies[2]);
  ASSERT_TRUE(active.has_value());
  EXPECT_EQ(active->tags[std::string(ami::kTagStatus)], ami::kStatusActive);
  EXPECT_TRUE(ready(builder())) << toJson(builder());
  // One ImageDeleted Event per deleted image, the copy's naming its region
  // (status.retention.deleted keeps only the last pass that deleted anything, which may be either
  // region's).
  EXPECT_TRUE(waitFor([&] { return eventCount("ImageDeleted") >= 2; }, 10s)) << controllerLog();
}

// An old image that a launch template version of a node group (its Auto Scaling group) still uses
// is kept, with the reason in status.retention.kept and one ImageKept Event however many passes
// see it; the other old image goes.
TEST_F(PackerBuilderRetentionE2eTest, ImageALaunchTemplateVersionUsesIsKeptWithTheReason) {
  startController();
  applySample();
  ASSERT_NO_FATAL_FAILURE(buildImages(1));
  const std::string lt_id = "lt-0a1b2c3d4e5f60718";
  aws_->addLaunchTemplate({.id = lt_id,
                           .name = "eks-ng-old",
                           .default_version = 1,
                           .versions = {{.version_number = 1,
                                         .create_time = "2026-11-20T00:00:00.000Z",
                                         .data = {.image_id = built_[0]}}}});
  aws_->addCluster({.name = "opsy-gitops"});
  aws_->addAutoScalingGroup({.name = "eks-ng-old-asg",
                             .launch_template = FakeLaunchTemplateRef{.id = lt_id, .version = "1"},
                             .min_size = 0,
                             .max_size = 3,
                             .desired_capacity = 0});
  aws_->addNodegroup({.cluster = "opsy-gitops",
                      .name = "ng-old",
                      .launch_template = FakeLaunchTemplateRef{.id = lt_id, .version = "1"},
                      .scaling = {.min_size = 0, .max_size = 3, .desired_size = 0},
                      .asg_names = {"eks-ng-old-asg"}});
  ASSERT_NO_FATAL_FAILURE(buildImages(4));

  ASSERT_TRUE(waitFor([&] { return !aws_->image(built_[1]).has_value(); }, 20s))
      << toJson(builder()) << "\n"
      << controllerLog();
  ASSERT_TRUE(waitFor(
      [&] { return retentionList("kept", "imageId") == std::vector<std::string>{built_[0]}; }, 10s))
      << toJson(builder());
  EXPECT_EQ(
      retentionList("kept", "reason"),
      std::vector<std::string>{fmt::format(
          "launch template {} version 1 of Auto Scaling group eks-ng-old-asg uses it", lt_id)});
  EXPECT_TRUE(aws_->image(built_[0]).has_value());
  EXPECT_TRUE(aws_->snapshot(snapshots_[0]).has_value());
  EXPECT_FALSE(aws_->snapshot(snapshots_[1]).has_value());
  std::this_thread::sleep_for(3s);  // more passes see the same reason
  EXPECT_EQ(eventCount("ImageKept"), 1) << controllerLog();
  EXPECT_TRUE(aws_->image(built_[0]).has_value());
}

// Plan mode lists in status.retention.wouldDelete what Apply would delete and deletes nothing;
// switching the builder to Apply deletes exactly those.
TEST_F(PackerBuilderRetentionE2eTest, PlanListsWhatApplyThenDeletes) {
  auto doc = parseJson(sample_);
  ASSERT_TRUE(doc.has_value());
  rapidjson::Pointer("/spec/retention/mode").Set(*doc, "Plan");
  sample_ = toJson(*doc);
  startController();
  applySample();
  ASSERT_NO_FATAL_FAILURE(buildImages(3));
  ASSERT_TRUE(waitFor(
      [&] { return retentionList("wouldDelete", "") == std::vector<std::string>{built_[0]}; }, 10s))
      << toJson(builder());
  std::this_thread::sleep_for(3s);  // more passes
  EXPECT_TRUE(aws_->image(built_[0]).has_value());
  EXPECT_TRUE(aws_->snapshot(snapshots_[0]).has_value());
  EXPECT_EQ(aws_->callCount("ec2", "DeregisterImage"), 0);
  EXPECT_EQ(aws_->callCount("ec2", "DeleteSnapshot"), 0);

  Json b = builder();
  rapidjson::Pointer("/spec/retention/mode").Set(b, "Apply");
  ASSERT_TRUE(kube_->updateObject(toJson(b)));
  ASSERT_TRUE(waitFor([&] { return !aws_->image(built_[0]).has_value(); }, 10s))
      << toJson(builder()) << "\n"
      << controllerLog();
  EXPECT_TRUE(aws_->image(built_[1]).has_value());
  ASSERT_TRUE(waitFor([&] { return retentionList("wouldDelete", "").empty(); }, 10s))
      << toJson(builder());
}

// Crash safety: snapshots marked delete-after-deregister whose image is gone (a controller killed
// between DeregisterImage and DeleteSnapshot) are deleted by the next pass; a marked snapshot of
// another builder, and one whose image is still registered, are left alone.
TEST_F(PackerBuilderRetentionE2eTest, SnapshotsAnInterruptedDeletionLeftAreDeleted) {
  aws::Tags mine =
      ami::lineageTags({.cluster_name = "opsy-gitops",
                        .created_by = kBuilder,
                        .packer_repo = "https://github.com/ibeify/eks-node-group-ami-refresh",
                        .packer_repo_branch = "main"});
  aws::Tags others = mine;
  others[std::string(ami::kTagCreatedBy)] = "another-builder";
  auto marked = [](aws::Tags tags, const std::string& image) {
    tags[std::string(ami::kTagDeleteAfterDeregister)] = image;
    return TagMap(tags.begin(), tags.end());
  };
  aws_->addSnapshot(
      FakeSnapshot{.id = "snap-0aaaaaaaaaaaaaaa1", .tags = marked(mine, "ami-0dddddddddddddddd")});
  aws_->addSnapshot(FakeSnapshot{.id = "snap-0aaaaaaaaaaaaaaa2",
                                 .tags = marked(others, "ami-0dddddddddddddddd")});
  // Marked, but another registered image (a copy, say) uses it too.
  aws_->addSnapshot(
      FakeSnapshot{.id = "snap-0aaaaaaaaaaaaaaa3", .tags = marked(mine, "ami-0dddddddddddddddd")});
  aws_->addImage({.id = "ami-0eeeeeeeeeeeeeee1",
                  .name = "opsy-registered",
                  .snapshot_ids = {"snap-0aaaaaaaaaaaaaaa3"}});
  startController();
  applySample();
  ASSERT_NO_FATAL_FAILURE(buildImages(1));
  ASSERT_TRUE(waitFor([&] { return !aws_->snapshot("snap-0aaaaaaaaaaaaaaa1").has_value(); }, 10s))
      << toJson(builder()) << "\n"
      << controllerLog();
  EXPECT_TRUE(aws_->snapshot("snap-0aaaaaaaaaaaaaaa2").has_value());
  EXPECT_TRUE(aws_->snapshot("snap-0aaaaaaaaaaaaaaa3").has_value());
  ASSERT_TRUE(waitFor(
      [&] {
        return retentionList("keptSnapshots", "snapshotId") ==
               std::vector<std::string>{"snap-0aaaaaaaaaaaaaaa3"};
      },
      10s))
      << toJson(builder());
  EXPECT_THAT(retentionList("keptSnapshots", "reason").front(),
              ::testing::HasSubstr("ami-0eeeeeeeeeeeeeee1"));
}

// A denied ec2:DeregisterImage shows as Ready=False AWSAccessDenied naming the action, deletes
// nothing, and does not stop the builder: a new base image still gets built.
TEST_F(PackerBuilderRetentionE2eTest, DeniedDeregisterIsShownAndBuildingGoesOn) {
  ASSERT_TRUE(aws_->denyOperation("ec2:DeregisterImage").has_value());
  startController();
  applySample();
  ASSERT_NO_FATAL_FAILURE(buildImages(3));
  ASSERT_TRUE(
      waitFor([&] { return condition(builder(), "Ready") == "False/AWSAccessDenied"; }, 20s))
      << toJson(builder()) << "\n"
      << controllerLog();
  EXPECT_THAT(conditionMessage(builder(), "Ready"), ::testing::HasSubstr("ec2:DeregisterImage"));
  EXPECT_TRUE(aws_->image(built_[0]).has_value());
  EXPECT_TRUE(aws_->snapshot(snapshots_[0]).has_value());

  ASSERT_NO_FATAL_FAILURE(buildImages(4));
  EXPECT_EQ(at(builder(), "/status/lastRunBuiltImageID"), built_[3]);
  EXPECT_TRUE(aws_->image(built_[0]).has_value());
  // The failure shows again after the new build's success: one Warning Event per transition.
  EXPECT_TRUE(waitFor([&] { return eventCount("AWSAccessDenied") >= 2; }, 10s)) << controllerLog();
  EXPECT_EQ(condition(builder(), "Ready"), "False/AWSAccessDenied");
}

// A process's memory as /proc reports it, in MiB, for messages.
double mib(size_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

constexpr size_t kFloodBytes = size_t{200} << 20;

// A 200 MiB watch event line and a 200 MiB list response cost the controller memory in the order
// of its limits (16 MiB each here), not of the flood: each fails with a clear error, its
// connection is dropped long before the 200 MiB are sent, the informer relists and watches again,
// and the process's peak resident size stays under 64 MiB. ASan's shadow and allocator put the
// dev build above that before any flood, so there the peak may grow by less than 32 MiB over the
// resident size before the flood (with ASan's quarantine off for this child, freed blocks go back
// to the system as they would without ASan). Without ASan, glibc keeps some freed heap blocks for
// reuse, so the growth can reach twice one limit; the absolute bound is the one checked.
TEST_F(PackerBuilderE2eTest, OversizedWatchEventAndResponseKeepMemoryBounded) {
  startController({"--kube-max-response-bytes=" + std::to_string(16 << 20)},
                  "quarantine_size_mb=0:thread_local_quarantine_size_kb=0");
  applySample();
  ASSERT_TRUE(waitFor([&] { return ready(builder()); }, 20s)) << toJson(builder()) << "\n"
                                                              << controllerLog();
  ASSERT_TRUE(waitFor([&] { return kube_->openWatchCount("packerbuilders") > 0; }, 10s));
  const pid_t pid = child_->pid();
  const std::optional<size_t> rss_before = procStatusBytes(pid, "VmRSS");
  ASSERT_TRUE(rss_before.has_value());

  // The watch: one event line that never ends.
  const int lists_before = kube_->requestCount("list", "packerbuilders");
  kube_->addFault(KubeFault{.verb = "watch",
                            .resource = "packerbuilders",
                            .count = 1,
                            .oversized_body_bytes = kFloodBytes});
  kube_->dropWatches("packerbuilders");
  ASSERT_TRUE(waitFor([&] { return kube_->oversizedBodiesSent().size() == 1; }, 15s))
      << controllerLog();
  // The fake has sent the body; the controller logs the refusal once it has read that far.
  EXPECT_TRUE(waitFor(
      [&] {
        return controllerLog().find("watch event exceeds 16777216 bytes") != std::string::npos;
      },
      10s))
      << controllerLog();
  // Relisted past the event, then watching again.
  ASSERT_TRUE(waitFor(
      [&] {
        return kube_->requestCount("list", "packerbuilders") == lists_before + 1 &&
               kube_->openWatchCount("packerbuilders") > 0;
      },
      15s))
      << controllerLog();

  // The list: a relist (forced by a 410) answered with a body that never ends.
  kube_->addFault(KubeFault{.verb = "list",
                            .resource = "packerbuilders",
                            .count = 1,
                            .oversized_body_bytes = kFloodBytes});
  kube_->expireNextWatch("packerbuilders");
  kube_->dropWatches("packerbuilders");
  ASSERT_TRUE(waitFor([&] { return kube_->oversizedBodiesSent().size() == 2; }, 15s))
      << controllerLog();
  // The fake has sent the body; the controller logs the refusal once it has read that far.
  EXPECT_TRUE(waitFor(
      [&] {
        return controllerLog().find("response body exceeds 16777216 bytes") != std::string::npos;
      },
      10s))
      << controllerLog();
  // The failed list is tried again (not in a tight loop: the informer backs off) and succeeds.
  ASSERT_TRUE(waitFor(
      [&] {
        return kube_->requestCount("list", "packerbuilders") >= lists_before + 3 &&
               kube_->openWatchCount("packerbuilders") > 0;
      },
      15s))
      << controllerLog();
  EXPECT_LE(kube_->requestCount("list", "packerbuilders"), lists_before + 4);

  for (size_t sent : kube_->oversizedBodiesSent()) {
    EXPECT_LT(sent, kFloodBytes / 4) << "the client read on instead of hanging up";
  }
  const std::optional<size_t> peak = procStatusBytes(pid, "VmHWM");
  ASSERT_TRUE(peak.has_value());
  const size_t growth = *peak > *rss_before ? *peak - *rss_before : 0;
  std::cout << "controller memory: resident before the flood " << mib(*rss_before)
            << " MiB, peak after " << mib(*peak) << " MiB, growth " << mib(growth) << " MiB\n";
#if defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(growth, size_t{32} << 20) << "peak " << mib(*peak) << " MiB";
#else
  EXPECT_LT(*peak, size_t{64} << 20) << "peak " << mib(*peak) << " MiB";
#endif
  ASSERT_TRUE(child_->running()) << controllerLog();
  EXPECT_EQ(child_->stop(SIGTERM, 35s), std::optional<int>(0)) << controllerLog();
}

// A watch that goes silent (accepted, then not a byte, not even the bookmarks the controller asks
// for) is abandoned after --watch-idle-timeout and resumed from its resourceVersion, so a builder
// created during the silence is built: one Job, after a second watch request.
TEST_F(PackerBuilderE2eTest, SilentWatchIsReplacedAndTheBuilderCreatedMeanwhileIsBuilt) {
  startController({"--watch-idle-timeout=2s"});
  ASSERT_TRUE(waitFor([&] { return kube_->openWatchCount("packerbuilders") > 0; }, 20s))
      << controllerLog();
  const int watches = kube_->requestCount("watch", "packerbuilders");
  kube_->addFault(
      KubeFault{.verb = "watch", .resource = "packerbuilders", .count = 1, .silent_watch = true});
  kube_->dropWatches("packerbuilders");
  ASSERT_TRUE(
      waitFor([&] { return kube_->requestCount("watch", "packerbuilders") > watches; }, 10s))
      << controllerLog();
  const int silent = kube_->requestCount("watch", "packerbuilders");
  applySample();

  ASSERT_TRUE(waitFor([&] { return runner_->jobCount() >= 1; }, 20s))
      << "the builder created during the silence was not reconciled\n"
      << controllerLog();
  EXPECT_GT(kube_->requestCount("watch", "packerbuilders"), silent);
  EXPECT_THAT(controllerLog(), ::testing::HasSubstr("nothing received for 2000 ms"));
  EXPECT_EQ(runner_->jobCount(), 1);
  ASSERT_TRUE(child_->running()) << controllerLog();
  EXPECT_EQ(child_->stop(SIGTERM, 35s), std::optional<int>(0)) << controllerLog();
}

// The kubeconfig's token never goes over plain HTTP by accident: against the fake's
// http://127.0.0.1 the controller refuses to start (exit 1) with an error naming the server and
// the fix, and the loopback allowance does not extend to any other host.
TEST_F(PackerBuilderE2eTest, TokenOverPlainHttpIsRefusedAtStartup) {
  allow_plain_http_token_ = false;
  startController();
  EXPECT_EQ(child_->wait(20s), std::optional<int>(1)) << controllerLog();
  std::string log = controllerLog();
  EXPECT_THAT(log, ::testing::HasSubstr("server " + kube_->url() + " is plain HTTP"));
  EXPECT_THAT(log, ::testing::HasSubstr("--insecure-allow-http-credentials-on-loopback"));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(kube_->token())));
  EXPECT_EQ(kube_->requestCount(""), 0) << "a request reached the API server";

  // A kubeconfig naming a host that is not loopback: refused even with the allowance (and never
  // contacted; 192.0.2.1 is TEST-NET-1).
  std::string text = readFile(kubeconfig_.string());
  const std::string loopback = kube_->url();
  text.replace(text.find(loopback), loopback.size(), "http://192.0.2.1:8080");
  kubeconfig_ = dir_ / "remote-kubeconfig";
  std::ofstream(kubeconfig_) << text;
  fs::remove(dir_ / "controller.log");
  allow_plain_http_token_ = true;
  startController();
  EXPECT_EQ(child_->wait(20s), std::optional<int>(1)) << controllerLog();
  log = controllerLog();
  EXPECT_THAT(log, ::testing::HasSubstr("server http://192.0.2.1:8080 is plain HTTP and not a "
                                        "loopback address"));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(kube_->token())));
}

// Protected metrics (the chart's default): the real binary serves /metrics over HTTPS with the
// certificate in --metrics-cert-path; a scrape without a token or with one the API server does not
// know gets 401, one whose user RBAC does not allow get on /metrics 403, and Prometheus's
// ServiceAccount, bound to a metrics-reader ClusterRole, the page. The API server is asked once
// per token while its answers are cached, and no token reaches the log.
TEST_F(PackerBuilderE2eTest, ProtectedMetricsServeOnlyScrapersRbacAllows) {
  const TestPki ca = TestPki::create("metrics ca");
  const IssuedCert serving = ca.issueServerCert({"127.0.0.1", "localhost"});
  fs::create_directories(dir_ / "certs");
  std::ofstream(dir_ / "certs/tls.crt") << serving.cert_pem;
  std::ofstream(dir_ / "certs/tls.key") << serving.key_pem;
  std::ofstream(dir_ / "ca.crt") << ca.caCertPem();
  kube_->addUser(
      {.token = "prometheus-token", .username = "system:serviceaccount:monitoring:prometheus"});
  kube_->addUser({.token = "developer-token", .username = "jane"});
  ASSERT_TRUE(kube_->createObject(
      R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",
          "metadata":{"name":"opsy-metrics-reader"},
          "rules":[{"nonResourceURLs":["/metrics"],"verbs":["get"]}]})"));
  ASSERT_TRUE(kube_->createObject(
      R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
          "metadata":{"name":"opsy-metrics-reader"},
          "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole",
                     "name":"opsy-metrics-reader"},
          "subjects":[{"kind":"ServiceAccount","name":"prometheus","namespace":"monitoring"}]})"));
  startController({"--metrics-secure", "--metrics-cert-path=" + (dir_ / "certs").string(),
                   "--log-format=json"});

  auto scrape = [&](const std::string& token) -> std::pair<int, std::string> {
    httplib::SSLClient client("127.0.0.1", metrics_port_);
    client.set_ca_cert_path((dir_ / "ca.crt").c_str());
    client.enable_server_certificate_verification(true);
    client.set_connection_timeout(10);  // the TLS handshake counts, and the dev build is slow
    httplib::Headers headers;
    if (!token.empty()) {
      headers.emplace("Authorization", "Bearer " + token);
    }
    auto res = client.Get("/metrics", headers);
    return res ? std::make_pair(res->status, res->body) : std::make_pair(0, std::string());
  };
  ASSERT_TRUE(waitFor([&] { return scrape("").first != 0; }, 20s)) << controllerLog();
  EXPECT_EQ(scrape("").first, 401);
  EXPECT_EQ(scrape("made-up-token").first, 401);
  EXPECT_EQ(scrape("developer-token").first, 403);
  auto [status, page] = scrape("prometheus-token");
  EXPECT_EQ(status, 200);
  EXPECT_THAT(page, ::testing::HasSubstr("opsy_build_info{controller=\"packer-builder\""));
  EXPECT_EQ(scrape("prometheus-token").first, 200);
  EXPECT_EQ(kube_->requestCount("create", "tokenreviews"), 3);  // made-up, developer, prometheus
  EXPECT_EQ(kube_->requestCount("create", "subjectaccessreviews"), 2);
  EXPECT_EQ(scrapeMetrics(), "") << "plain HTTP must not serve the page";

  const std::string log = controllerLog();
  EXPECT_THAT(log, ::testing::HasSubstr("\"metrics_scheme\":\"https\""));
  for (const char* token : {"prometheus-token", "developer-token", "made-up-token"}) {
    EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(token)));
  }
}

// Without --metrics-cert-path the binary makes a self-signed certificate and protects /metrics the
// same way; a certificate path without the files is a start-up error naming the file.
TEST_F(PackerBuilderE2eTest, ProtectedMetricsWithoutCertificateFilesSelfSign) {
  startController({"--metrics-secure"});
  auto scrape = [&]() {
    httplib::SSLClient client("127.0.0.1", metrics_port_);
    client.enable_server_certificate_verification(false);
    client.set_connection_timeout(10);  // the TLS handshake counts, and the dev build is slow
    auto res = client.Get("/metrics");
    return res ? res->status : 0;
  };
  // The first answer counts: under load a handshake may time out, but it must never be a 200.
  int status = 0;
  ASSERT_TRUE(waitFor(
      [&] {
        status = scrape();
        return status != 0;
      },
      20s))
      << controllerLog();
  EXPECT_EQ(status, 401);
  child_.reset();

  startController({"--metrics-secure", "--metrics-cert-path=" + (dir_ / "no-certs").string()});
  EXPECT_EQ(child_->wait(20s), std::optional<int>(1)) << controllerLog();
  EXPECT_THAT(controllerLog(), ::testing::HasSubstr((dir_ / "no-certs/tls.crt").string()));
}

// --help and --version print and exit 0; a bad flag exits 2 with a message naming the flag.
TEST(PackerBuilderBinaryTest, HelpVersionAndBadFlagsExitAsDocumented) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string output;
  };
  const std::vector<Case> cases = {
      {{"--help"}, 0, "--slack-api-url"},
      {{"--version"}, 0, "packer-builder-controller "},
      {{"--no-such-flag"}, 2, "--no-such-flag"},
      {{"--workers=many"}, 2, "--workers"},
  };
  int i = 0;
  for (const Case& c : cases) {
    // One log per case, so a case cannot pass on another's output.
    const std::string log =
        (fs::temp_directory_path() /
         ("opsy-e2e-pb-flags-" + std::to_string(::getpid()) + "-" + std::to_string(i++)))
            .string();
    std::vector<std::string> args = {std::string(OPSY_BINARY_DIR) +
                                     "/packer-builder-controller/packer-builder-controller"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    ChildProcess child(args, {"PATH=/usr/bin:/bin"}, log);
    ASSERT_TRUE(child.start());
    EXPECT_EQ(child.wait(10s), std::optional<int>(c.exit_code)) << c.args.front();
    EXPECT_THAT(readFile(log), ::testing::HasSubstr(c.output)) << c.args.front();
    std::error_code ignored;
    fs::remove(log, ignored);
  }
}

// The builder's status lists the AMIRefreshers whose spec.builderRef names it, as soon as one is
// created, and drops it when it is deleted.
TEST_F(PackerBuilderE2eTest, StatusListsTheRefreshersThatFollowTheBuilder) {
  startController();
  applySample();
  ASSERT_TRUE(waitFor([&] { return ready(builder()); }, 20s)) << toJson(builder()) << "\n"
                                                              << controllerLog();
  auto count = [&]() -> std::int64_t {
    Json b = builder();
    const JsonValue* v = rapidjson::Pointer("/status/followerCount").Get(b);
    return v != nullptr && v->IsInt64() ? v->GetInt64() : 0;
  };
  EXPECT_EQ(count(), 0);
  auto created = kube_->createObject(
      std::string(R"({"apiVersion":"ami.refresh.ops/v1alpha1","kind":"AMIRefresher",)") +
      R"("metadata":{"name":"workers","namespace":"default"},"spec":{"region":"us-west-2",)" +
      R"("clusterName":"opsy-gitops","builderRef":{"name":")" + kBuilder + R"("}}})");
  ASSERT_TRUE(created.has_value()) << created.error().toString();
  ASSERT_TRUE(waitFor([&] { return count() == 1; }, 20s)) << toJson(builder());
  Json listed = builder();
  const JsonValue* followers = rapidjson::Pointer("/status/followers/0").Get(listed);
  ASSERT_NE(followers, nullptr);
  EXPECT_EQ(std::string(followers->GetString()), "default/workers");

  ASSERT_TRUE(
      kube_->deleteObject("ami.refresh.ops/v1alpha1", "AMIRefresher", "default", "workers"));
  ASSERT_TRUE(waitFor([&] { return count() == 0; }, 20s)) << toJson(builder());
  EXPECT_EQ(rapidjson::Pointer("/status/followers").Get(builder()), nullptr);
}

}  // namespace
}  // namespace opsy::testing

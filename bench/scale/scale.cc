#include "scale/scale.h"

#include <fmt/format.h>
#include <httplib.h>
#include <rapidjson/pointer.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "opsy/ami/tags.h"
#include "opsy/core/clock.h"
#include "opsy/core/time_format.h"
#include "support/child_process.h"
#include "support/fake_aws.h"
#include "support/fake_kube.h"
#include "support/fake_kube_json.h"
#include "support/loopback_server.h"
#include "support/packer_job_runner.h"

namespace opsy::bench {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace t = opsy::testing;

constexpr const char* kNamespace = "default";
constexpr const char* kRegion = "us-west-2";
constexpr const char* kApiVersion = "ami.refresh.ops/v1alpha1";
// Amazon's EKS AMI account: every resource shares these base-image filters.
constexpr const char* kBaseOwner = "602401143452";
constexpr const char* kBaseNamePattern = "amazon-eks-node-al2023-x86_64-standard-1.30*";
constexpr int kBaseImages = 3;
constexpr const char* kOldImage = "ami-0000000000000dead";
// Spacing between the resources created to time CR -> Job: one at a time, not a burst.
constexpr auto kLatencySpacing = 20ms;
constexpr auto kLatencyTimeout = 60s;

// The controller child of the run in progress (-1: none), for killRunningController().
std::atomic<pid_t> running_controller{-1};

double secondsSince(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

std::string imageId(std::uint64_t n) {
  return fmt::format("ami-{:017x}", n);
}

std::string baseImage(int i) {
  return imageId(0xb45e0000ULL + static_cast<std::uint64_t>(i));
}

std::string newestBase() {
  return baseImage(kBaseImages - 1);
}

std::string builderName(int i) {
  return fmt::format("pb-{:05d}", i);
}

std::string refresherName(int i) {
  return fmt::format("amir-{:05d}", i);
}

std::string clusterName(int c) {
  return fmt::format("bench-{:03d}", c);
}

// The lineage tags a builder's images carry (decide.cc lineageOf: cluster, name, repo, branch).
ami::Lineage builderLineage(const std::string& name) {
  return {.cluster_name = "bench",
          .created_by = name,
          .packer_repo = fmt::format("https://git.example.com/images/{}.git", name),
          .packer_repo_branch = "main"};
}

std::string filtersJson() {
  return fmt::format(R"([{{"name":"name","values":["{}"]}},{{"name":"owner-id","values":["{}"]}}])",
                     kBaseNamePattern, kBaseOwner);
}

std::string builderJson(const std::string& name, int period_s) {
  ami::Lineage l = builderLineage(name);
  return fmt::format(
      R"({{"apiVersion":"{}","kind":"PackerBuilder","metadata":{{"name":"{}","namespace":"{}"}},)"
      R"("spec":{{"amiFilters":{},"clusterName":"{}","region":"{}",)"
      R"("timeOuts":{{"expiresIn":"48h","controllerTimer":"{}s"}},)"
      R"("gitSync":{{"image":"registry.k8s.io/git-sync/git-sync:v4.2.3","name":"git-sync",)"
      R"("secret":"git-sync"}},"builder":{{"repoURL":"{}","branch":"{}",)"
      R"("image":"hashicorp/packer:latest","dir":"packer/al2023","secret":"aws-creds",)"
      R"("commands":[{{"subCommand":"build","args":["-force"],"color":false,"onError":"cleanup"}}]}}}}}})",
      kApiVersion, name, kNamespace, filtersJson(), l.cluster_name, kRegion, period_s,
      l.packer_repo, l.packer_repo_branch);
}

// Each cluster's groups are rolled by one refresher each: N refreshers need N / G clusters.
int clustersFor(const ScaleOptions& o) {
  return std::max(1, (o.n + o.groups - 1) / o.groups);
}

// The last cluster has only as many groups as refreshers are left for it: a group nobody rolls
// would keep the cold world from converging.
int groupsIn(const ScaleOptions& o, int cluster) {
  return std::min(o.groups, o.n - cluster * o.groups);
}

std::string groupName(int g) {
  return fmt::format("ng-{}", g);
}

// `exclude` names every group of the cluster but the one this refresher rolls: refreshers that
// select a group in common would stand in each other's way (the later ones Stalled as Conflict).
std::string refresherJson(const std::string& name, const std::string& cluster, int period_s,
                          const std::vector<std::string>& exclude = {}) {
  std::string excluded;
  for (const std::string& group : exclude) {
    excluded += fmt::format("{}\"{}\"", excluded.empty() ? "" : ",", group);
  }
  return fmt::format(
      R"({{"apiVersion":"{}","kind":"AMIRefresher","metadata":{{"name":"{}","namespace":"{}"}},)"
      R"("spec":{{"region":"{}","amiFilters":{},"clusterName":"{}","expiresIn":"48h",)"
      R"("exclude":[{}],"timeOuts":{{"controllerTimer":"{}s"}}}}}})",
      kApiVersion, name, kNamespace, kRegion, filtersJson(), cluster, excluded, period_s);
}

// Records when each Job reached the fake's runner (the fake calls it on its timer thread right
// after the Job and its Pod are stored), keyed by the owning builder, then lets Packer play.
class TimingJobRunner : public t::JobRunner {
 public:
  explicit TimingJobRunner(std::shared_ptr<t::PackerJobRunner> inner) : inner_(std::move(inner)) {}

  void onJobCreated(const t::JobControlPtr& job) override {
    const Steady::time_point now = Steady::now();
    std::string owner;
    if (auto doc = t::parseJson(job->jobJson())) {
      const t::JsonValue* v = rapidjson::Pointer("/metadata/ownerReferences/0/name").Get(*doc);
      if (v != nullptr && v->IsString()) {
        owner = v->GetString();
      }
    }
    {
      std::lock_guard lock(mu_);
      seen_.emplace(owner, now);
    }
    inner_->onJobCreated(job);
  }

  std::optional<Steady::time_point> seen(const std::string& builder) const {
    std::lock_guard lock(mu_);
    auto it = seen_.find(builder);
    return it == seen_.end() ? std::nullopt : std::optional(it->second);
  }

 private:
  std::shared_ptr<t::PackerJobRunner> inner_;
  mutable std::mutex mu_;
  std::map<std::string, Steady::time_point> seen_;
};

std::optional<std::string> httpGet(int port, const std::string& path, int* status = nullptr) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(30);
  auto res = client.Get(path);
  if (!res) {
    return std::nullopt;
  }
  if (status != nullptr) {
    *status = res->status;
  }
  return res->body;
}

struct ProcCpu {
  double seconds = 0;
  bool ok = false;
};

// utime + stime of /proc/<pid>/stat (fields 14 and 15, counted after the parenthesised name).
ProcCpu procCpu(pid_t pid) {
  std::string stat = t::readFile(fmt::format("/proc/{}/stat", pid));
  std::size_t close = stat.rfind(')');
  if (close == std::string::npos) {
    return {};
  }
  std::istringstream in(stat.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; in >> f;) {
    fields.push_back(f);
  }
  if (fields.size() < 13) {
    return {};
  }
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return {.seconds = (std::stod(fields[11]) + std::stod(fields[12])) / ticks, .ok = true};
}

// A "Key: value kB" line of a /proc file, in bytes (or the plain number for "Threads").
long procField(const std::string& text, const std::string& key, bool kilobytes) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) {
      long v = std::atol(line.c_str() + key.size() + 1);
      return kilobytes ? v * 1024 : v;
    }
  }
  return 0;
}

bool isKubeWrite(const std::string& verb) {
  return verb == "create" || verb == "update" || verb == "patch" || verb == "delete" ||
         verb == "deletecollection";
}

bool isAwsRead(const std::string& op) {
  return op.rfind("Describe", 0) == 0 || op.rfind("List", 0) == 0 || op.rfind("Get", 0) == 0;
}

std::string kubeKey(const t::KubeRequest& r) {
  std::string resource = r.resource.empty() ? "(discovery)" : r.resource;
  if (!r.subresource.empty()) {
    resource += "/" + r.subresource;
  }
  return r.verb + " " + resource;
}

std::optional<double> percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return std::nullopt;
  }
  std::sort(v.begin(), v.end());
  // Nearest rank: with 50 samples, p99 is the largest.
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

class Run {
 public:
  Run(const ScaleOptions& o, ScaleResult& r) : o_(o), r_(r) {}

  ~Run() {
    running_controller = -1;
    controller_.reset();
    kube_.reset();
    // The runner's EC2 client keeps a connection to the fake open; dropping it first spares the
    // fake's shutdown a wait for that idle connection to time out.
    timing_.reset();
    packer_.reset();
    aws_.reset();
    if (remove_dir_) {
      std::error_code ignored;
      fs::remove_all(dir_, ignored);
    }
  }

  void run() {
    if (!setUp()) {
      return;
    }
    seed();
    if (o_.world == ScaleWorld::Steady && o_.restart) {
      say("warm-up: first controller to idle");
      if (!startController("warmup")) {
        return;
      }
      Measured warm = measure(nullptr);
      if (!warm.idle) {
        r_.error = fmt::format("warm-up never idle within {} s{}", o_.idle_timeout.count(), stuck_);
        return;
      }
      r_.warmup_idle_s = warm.idle;
      running_controller = -1;
      controller_->stop(SIGTERM, 35s);
      controller_.reset();
      r_.restarted = true;
    }
    say("measured controller");
    if (kube_) {
      drainLogs(nullptr);  // the warm-up's requests are not the measured controller's
    }
    if (!startController("measured")) {
      return;
    }
    Measured m = measure(&r_);
    r_.synced_s = m.synced;
    r_.reconciled_s = m.reconciled;
    r_.idle_s = m.idle;
    if (!m.synced) {
      r_.error = fmt::format("caches not synced within {} s", o_.sync_timeout.count());
      return;
    }
    if (!m.idle) {
      r_.error = fmt::format("never idle within {} s{}", o_.idle_timeout.count(), stuck_);
      keepResources();
      return;
    }
    say("idle window");
    idleWindow();
    if (o_.world == ScaleWorld::Steady) {
      countNotReady();
    }
    if (o_.latency_samples > 0 && o_.world == ScaleWorld::Steady) {
      say("latency");
      latency();
    } else if (o_.latency_samples > 0) {
      r_.latency_note = "measured in the steady world only";
    }
    if (!controller_->running()) {
      r_.error = "the controller exited: see " + dir_ + "/measured.log";
    }
    controller_->stop(SIGTERM, 35s);
  }

 private:
  struct Measured {
    std::optional<double> synced;
    std::optional<double> reconciled;
    std::optional<double> idle;
  };

  void say(const std::string& what) const {
    if (o_.progress) {
      o_.progress(
          fmt::format("{} {} N={}: {}", toString(o_.controller), toString(o_.world), o_.n, what));
    }
  }

  const char* controllerLabel() const {
    return o_.controller == ScaleController::PackerBuilder ? "packer-builder" : "ami-refresh";
  }

  bool setUp() {
    t::clearProxyEnvironment();
    if (o_.work_dir.empty()) {
      char tmpl[] = "/tmp/opsy-scale-XXXXXX";
      if (::mkdtemp(tmpl) == nullptr) {
        r_.error = "mkdtemp failed";
        return false;
      }
      dir_ = tmpl;
      remove_dir_ = true;
    } else {
      dir_ = o_.work_dir;
      fs::create_directories(dir_);
    }
    aws_ = std::make_unique<t::FakeAws>();
    if (auto s = aws_->start(); !s) {
      r_.error = "fake AWS: " + s.error().message;
      return false;
    }
    t::FakeKubeOptions kopts;
    // Every resource is created, then written a few times: keep enough history that a watch
    // resuming after a reconnect is not sent back to relist by the fake's own limit.
    kopts.history_limit = static_cast<std::size_t>(std::max(10000, 8 * o_.n));
    // Real API servers send a bookmark about once a minute; the fake's 1 s default would wake
    // every watch each second and show up as idle CPU the controller would not spend.
    kopts.bookmark_interval = std::chrono::seconds(60);
    if (o_.controller == ScaleController::PackerBuilder) {
      packer_ = std::make_shared<t::PackerJobRunner>(t::PackerJobRunnerOptions{
          .ec2_endpoint = aws_->endpoint(), .region = kRegion, .aws = aws_.get()});
      timing_ = std::make_shared<TimingJobRunner>(packer_);
      kopts.job_runner = timing_;
    } else {
      kopts.job_runner = std::make_shared<t::ManualJobRunner>();
    }
    kube_ = std::make_unique<t::FakeKube>(kopts);
    if (auto s = kube_->start(); !s) {
      r_.error = "fake kube: " + s.error().message;
      return false;
    }
    if (auto s = kube_->writeKubeconfig(dir_ + "/kubeconfig"); !s) {
      r_.error = "kubeconfig: " + s.error().message;
      return false;
    }
    // Both CRDs, as the chart installs them: each controller watches the other's kind read-only
    // (AMIRefresher spec.builderRef, PackerBuilder status.followers).
    for (const char* file : {"/crds/ami.refresh.ops_packerbuilders.yaml",
                             "/crds/ami.refresh.ops_amirefreshers.yaml"}) {
      const std::string crd = o_.source_dir + file;
      auto doc = t::parseJsonOrYaml(t::readFile(crd));
      if (!doc) {
        r_.error = "cannot read " + crd;
        return false;
      }
      if (auto s = kube_->createObject(t::toJson(*doc)); !s) {
        r_.error = "CRD: " + s.error().message;
        return false;
      }
    }
    (void)kube_->createObject(  // the fake may already have it
        R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}})");
    return true;
  }

  // At idle every resource of the steady world is Ready: one that is not (Stalled by a conflict,
  // a denied call) is idle for the wrong reason, so the run counts them by the Ready reason.
  void countNotReady() {
    const char* kind =
        o_.controller == ScaleController::PackerBuilder ? "PackerBuilder" : "AMIRefresher";
    for (const std::string& json : kube_->listObjects(kApiVersion, kind, kNamespace)) {
      auto doc = t::parseJson(json);
      std::string reason = "no Ready condition";
      const t::JsonValue* conditions =
          doc ? rapidjson::Pointer("/status/conditions").Get(*doc) : nullptr;
      if (conditions != nullptr && conditions->IsArray()) {
        for (const t::JsonValue& c : conditions->GetArray()) {
          if (c.HasMember("type") && c["type"] == "Ready") {
            const bool is_true = c.HasMember("status") && c["status"] == "True";
            reason = is_true                                           ? ""
                     : c.HasMember("reason") && c["reason"].IsString() ? c["reason"].GetString()
                                                                       : "Ready not True";
          }
        }
      }
      if (!reason.empty()) {
        ++r_.not_ready[reason];
      }
    }
  }

  // When a run fails, the first few resources as the controller left them, for a look at why.
  void keepResources() {
    if (remove_dir_) {
      return;
    }
    const char* kind =
        o_.controller == ScaleController::PackerBuilder ? "PackerBuilder" : "AMIRefresher";
    std::ofstream out(dir_ + "/resources.jsonl");
    int written = 0;
    for (const std::string& json : kube_->listObjects(kApiVersion, kind, kNamespace)) {
      if (++written > 5) {
        break;
      }
      out << json << "\n";
    }
    r_.error += " (first resources in " + dir_ + "/resources.jsonl)";
  }

  void createOrNote(const std::string& json) {
    if (auto s = kube_->createObject(json); !s && r_.error.empty()) {
      r_.error = "create: " + s.error().message;
    }
  }

  void seed() {
    say("seeding");
    const TimePoint now = realClock().now();
    for (int i = 0; i < kBaseImages; ++i) {
      aws_->addImage(
          {.id = baseImage(i),
           .name = fmt::format("amazon-eks-node-al2023-x86_64-standard-1.30-v2026110{}", i + 1),
           .owner_id = kBaseOwner,
           .owner_alias = "amazon",
           .creation_date = fmt::format("2026-11-0{}T00:00:00.000Z", i + 1),
           .is_public = true});
    }
    const TimePoint built = now - std::chrono::hours(1);
    if (o_.controller == ScaleController::PackerBuilder) {
      for (
          const auto& [name, data] : std::map<std::string, std::string>{
              {"git-sync", R"({"username":"Ym90","token":"cGFzcw=="})"},
              {"aws-creds",
               R"({"AWS_ACCESS_KEY_ID":"QUtJREVYQU1QTEU=","AWS_SECRET_ACCESS_KEY":"c2VjcmV0"})"}}) {
        createOrNote(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + name +
                     R"(","namespace":"default"},"data":)" + data + "}");
      }
      for (int i = 0; i < o_.n; ++i) {
        const std::string name = builderName(i);
        if (o_.world == ScaleWorld::Steady) {
          aws::Tags tags = ami::fullTags(builderLineage(name),
                                         {.base_ami = newestBase(),
                                          .build_id = fmt::format("b-{}", i),
                                          .job_id = fmt::format("j-{}", i)},
                                         built);
          aws_->addImage({.id = imageId(0x10000000ULL + static_cast<std::uint64_t>(i)),
                          .name = "bench-" + name,
                          .creation_date = formatRfc3339Millis(built),
                          .tags = t::TagMap(tags.begin(), tags.end())});
        }
        createOrNote(builderJson(name, static_cast<int>(o_.period.count())));
      }
      return;
    }
    // Refreshers: one image built from the newest base, the target of every refresher.
    ami::Lineage lineage{.cluster_name = "bench",
                         .created_by = "bench-builder",
                         .packer_repo = "https://git.example.com/images/bench.git",
                         .packer_repo_branch = "main"};
    aws::Tags tags =
        ami::fullTags(lineage, {.base_ami = newestBase(), .build_id = "b", .job_id = "j"}, built);
    target_ = imageId(0x7a7a7a7aULL);
    aws_->addImage({.id = target_,
                    .name = "bench-target",
                    .creation_date = formatRfc3339Millis(built),
                    .tags = t::TagMap(tags.begin(), tags.end())});
    const std::string running = o_.world == ScaleWorld::Steady ? target_ : kOldImage;
    for (int c = 0; c < clustersFor(o_); ++c) {
      addCluster(clusterName(c), groupsIn(o_, c), running);
    }
    if (o_.world == ScaleWorld::Cold) {
      // Updates finish on the controller's first look at them, so a rollout takes a few periods.
      aws_->setEksAutoCompleteAfter(1);
    }
    for (int i = 0; i < o_.n; ++i) {
      std::vector<std::string> others;
      for (int g = 0; g < groupsIn(o_, i / o_.groups); ++g) {
        if (g != i % o_.groups) {
          others.push_back(groupName(g));
        }
      }
      createOrNote(refresherJson(refresherName(i), clusterName(i / o_.groups),
                                 static_cast<int>(o_.period.count()), others));
    }
  }

  void addCluster(const std::string& cluster, int groups, const std::string& image) {
    aws_->addCluster({.name = cluster});
    for (int g = 0; g < groups; ++g) {
      const std::string lt = fmt::format("lt-{:017x}", ++launch_templates_);
      aws_->addLaunchTemplate(
          {.id = lt,
           .name = fmt::format("{}-ng-{}", cluster, g),
           .default_version = 1,
           .versions = {{.version_number = 1,
                         .create_time = "2026-11-01T00:00:00.000Z",
                         .data = {.image_id = image, .instance_type = "m6i.large"}}}});
      t::FakeNodegroup ng{.cluster = cluster, .name = groupName(g)};
      ng.launch_template = t::FakeLaunchTemplateRef{.id = lt, .version = "1"};
      aws_->addNodegroup(std::move(ng));
      groups_.push_back({cluster, groupName(g)});
    }
  }

  bool startController(const std::string& log_name) {
    metrics_port_ = t::freeLoopbackPort();
    probe_port_ = t::freeLoopbackPort();
    std::vector<std::string> args = {
        o_.binary,
        "--kubeconfig=" + dir_ + "/kubeconfig",
        // The fake API server speaks plain HTTP on 127.0.0.1 and wants the kubeconfig's token.
        "--insecure-allow-http-credentials-on-loopback",
        "--metrics-bind-address=127.0.0.1:" + std::to_string(metrics_port_),
        "--health-probe-bind-address=127.0.0.1:" + std::to_string(probe_port_),
        "--log-level=" + o_.log_level,
    };
    std::vector<std::string> env = {
        "AWS_ENDPOINT_URL=" + aws_->endpoint(),
        "AWS_ACCESS_KEY_ID=" + std::string(t::kFakeAccessKey),
        "AWS_SECRET_ACCESS_KEY=" + std::string(t::kFakeSecretKey),
        std::string("AWS_REGION=") + kRegion,
        "AWS_EC2_METADATA_DISABLED=true",
        "HOME=" + dir_,
        "NO_PROXY=*",
    };
    env.insert(env.end(), o_.extra_env.begin(), o_.extra_env.end());
    if (const char* path = std::getenv("PATH")) {
      env.push_back(std::string("PATH=") + path);
    }
    controller_ = std::make_unique<t::ChildProcess>(args, env, dir_ + "/" + log_name + ".log");
    started_ = Steady::now();
    if (!controller_->start()) {
      r_.error = "cannot start " + o_.binary;
      return false;
    }
    running_controller = controller_->pid();
    return true;
  }

  // Folds the fakes' logs since the last call into `into`'s start-up counts (when given); true
  // when anything was written (Kubernetes create/update/patch/delete, an AWS call that is not a
  // read).
  bool drainLogs(ScaleResult* into) {
    bool wrote = false;
    for (const t::KubeRequest& r : kube_->takeRequestLog()) {
      wrote = wrote || isKubeWrite(r.verb);
      if (into != nullptr) {
        ++into->startup_kube[kubeKey(r)];
      }
    }
    for (const t::FakeCall& c : aws_->takeCalls()) {
      wrote = wrote || !isAwsRead(c.operation);
      if (into != nullptr) {
        ++into->startup_aws[c.operation + " " + c.region];
      }
    }
    return wrote;
  }

  std::string scrape() const { return httpGet(metrics_port_, "/metrics").value_or(""); }

  double reconciles(const std::string& page) const {
    return sumSamples(page, "opsy_reconcile_total",
                      fmt::format("controller=\"{}\"", controllerLabel()));
  }

  // The world has reached what it would settle on: every build done, every group on target.
  bool converged() {
    if (o_.world == ScaleWorld::Steady) {
      return true;
    }
    if (o_.controller == ScaleController::PackerBuilder) {
      return static_cast<int>(packer_->builtImages().size()) >= o_.n;
    }
    for (const auto& [cluster, name] : groups_) {
      auto ng = aws_->nodegroup(cluster, name);
      if (!ng || !ng->launch_template) {
        return false;
      }
      auto lt = aws_->launchTemplate(ng->launch_template->id);
      const std::string& v = ng->launch_template->version;
      if (!lt || v.empty() || !std::all_of(v.begin(), v.end(), ::isdigit)) {
        return false;
      }
      const auto number = std::stoll(v);
      if (number < 1 || number > static_cast<long long>(lt->versions.size()) ||
          lt->versions[static_cast<std::size_t>(number - 1)].data.image_id != target_) {
        return false;
      }
    }
    return true;
  }

  Measured measure(ScaleResult* into) {
    Measured m;
    const auto sync_deadline = started_ + o_.sync_timeout;
    while (Steady::now() < sync_deadline && controller_->running()) {
      int status = 0;
      if (httpGet(probe_port_, "/readyz", &status) && status == 200) {
        m.synced = secondsSince(started_);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    if (!m.synced) {
      return m;
    }
    const auto deadline = started_ + o_.idle_timeout;
    Steady::time_point last_activity = Steady::now();
    while (Steady::now() < deadline && controller_->running()) {
      if (drainLogs(into)) {
        last_activity = Steady::now();
      }
      const std::string page = scrape();
      if (!m.reconciled && reconciles(page) >= o_.n) {
        m.reconciled = secondsSince(started_);
      }
      const double depth =
          sumSamples(page, "opsy_workqueue_depth", fmt::format("name=\"{}\"", controllerLabel()));
      if (page.empty() || depth > 0) {
        last_activity = Steady::now();
      }
      last_depth_ = depth;
      last_reconciles_ = reconciles(page);
      if (m.reconciled && Steady::now() - last_activity >= o_.quiet && converged()) {
        m.idle = std::max(*m.reconciled,
                          std::chrono::duration<double>(last_activity - started_).count());
        break;
      }
      // A 10,000-refresher /metrics page is megabytes: scraping it often would be the load.
      std::this_thread::sleep_for(o_.n > 1000 ? 1000ms : 250ms);
    }
    drainLogs(into);
    if (!m.idle) {
      stuck_ = fmt::format("; at the timeout: work queue depth {}, {} reconciles in {:.0f} s",
                           last_depth_, last_reconciles_, secondsSince(started_));
    }
    return m;
  }

  void idleWindow() {
    (void)kube_->takeRequestLog();
    (void)aws_->takeCalls();
    const pid_t pid = controller_->pid();
    const double reconciles_before = reconciles(scrape());
    const ProcCpu cpu0 = procCpu(pid);
    const Steady::time_point t0 = Steady::now();
    std::this_thread::sleep_for(o_.period);
    const ProcCpu cpu1 = procCpu(pid);
    r_.window_s = secondsSince(t0);
    const std::vector<t::KubeRequest> kube = kube_->takeRequestLog();
    const std::vector<t::FakeCall> calls = aws_->takeCalls();
    const std::string page = scrape();
    r_.metrics_bytes = static_cast<long>(page.size());
    r_.reconciles = std::lround(reconciles(page) - reconciles_before);
    for (const t::KubeRequest& q : kube) {
      ++r_.kube[kubeKey(q)];
      if (q.verb == "get" || q.verb == "list") {
        ++r_.kube_reads;
      } else if (q.verb == "watch") {
        ++r_.kube_watches;
      } else if (isKubeWrite(q.verb)) {
        ++r_.kube_writes;
      }
    }
    std::map<std::string, long> images_by_region;
    for (const t::FakeCall& c : calls) {
      ++r_.aws[c.operation + " " + c.region];
      ++r_.aws_calls;
      if (c.operation == "DescribeImages") {
        r_.describe_images_max_per_region =
            std::max(r_.describe_images_max_per_region, ++images_by_region[c.region]);
      }
    }
    if (cpu0.ok && cpu1.ok && r_.window_s > 0) {
      r_.cpu_seconds_per_hour = (cpu1.seconds - cpu0.seconds) * 3600.0 / r_.window_s;
    }
    const std::string status = t::readFile(fmt::format("/proc/{}/status", pid));
    r_.rss_bytes = procField(status, "VmRSS", true);
    r_.hwm_bytes = procField(status, "VmHWM", true);
    r_.threads = static_cast<int>(procField(status, "Threads", false));
    const std::string rollup = t::readFile(fmt::format("/proc/{}/smaps_rollup", pid));
    r_.private_bytes =
        procField(rollup, "Private_Clean", true) + procField(rollup, "Private_Dirty", true);
  }

  void latency() {
    const int samples = o_.latency_samples;
    if (o_.controller == ScaleController::PackerBuilder) {
      std::vector<std::pair<std::string, Steady::time_point>> created;
      for (int i = 0; i < samples; ++i) {
        const std::string name = fmt::format("lat-{:03d}", i);
        created.emplace_back(name, Steady::now());
        createOrNote(builderJson(name, static_cast<int>(o_.period.count())));
        std::this_thread::sleep_for(kLatencySpacing);
      }
      t::eventually(
          [&] {
            return std::all_of(created.begin(), created.end(),
                               [&](const auto& c) { return timing_->seen(c.first).has_value(); });
          },
          kLatencyTimeout, 20ms);
      for (const auto& [name, at] : created) {
        if (auto seen = timing_->seen(name)) {
          r_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(*seen - at).count());
        }
      }
      r_.latency_note = "CR created -> its Job stored (the fake's Job runner called)";
    } else {
      std::vector<std::pair<std::string, TimePoint>> created;
      for (int i = 0; i < samples; ++i) {
        addCluster(fmt::format("lat-{:03d}", i), 1, kOldImage);
      }
      for (int i = 0; i < samples; ++i) {
        const std::string cluster = fmt::format("lat-{:03d}", i);
        created.emplace_back(cluster, realClock().now());
        createOrNote(refresherJson("lat-" + std::to_string(i), cluster,
                                   static_cast<int>(o_.period.count())));
        std::this_thread::sleep_for(kLatencySpacing);
      }
      auto firstUpdates = [&] {
        std::map<std::string, TimePoint> first;
        for (const t::FakeEksUpdate& u : aws_->eksUpdates()) {
          auto [it, inserted] = first.emplace(u.cluster, u.created_at);
          if (!inserted) {
            it->second = std::min(it->second, u.created_at);
          }
        }
        return first;
      };
      t::eventually(
          [&] {
            auto first = firstUpdates();
            return std::all_of(created.begin(), created.end(),
                               [&](const auto& c) { return first.count(c.first) != 0; });
          },
          kLatencyTimeout, 20ms);
      auto first = firstUpdates();
      for (const auto& [cluster, at] : created) {
        if (auto it = first.find(cluster); it != first.end()) {
          r_.latencies_ms.push_back(
              std::chrono::duration<double, std::milli>(it->second - at).count());
        }
      }
      r_.latency_note =
          "CR created -> first UpdateNodegroupVersion received (one new cluster per CR)";
    }
    if (static_cast<int>(r_.latencies_ms.size()) < samples) {
      r_.latency_note += fmt::format("; only {} of {} within {} s", r_.latencies_ms.size(), samples,
                                     kLatencyTimeout.count());
    }
    r_.latency_p50_ms = percentile(r_.latencies_ms, 0.50);
    r_.latency_p99_ms = percentile(r_.latencies_ms, 0.99);
  }

 private:
  const ScaleOptions& o_;
  ScaleResult& r_;
  std::string dir_;
  bool remove_dir_ = false;
  std::unique_ptr<t::FakeAws> aws_;
  std::shared_ptr<t::PackerJobRunner> packer_;
  std::shared_ptr<TimingJobRunner> timing_;
  std::unique_ptr<t::FakeKube> kube_;
  std::unique_ptr<t::ChildProcess> controller_;
  Steady::time_point started_;
  int metrics_port_ = 0;
  int probe_port_ = 0;
  std::string target_;
  int launch_templates_ = 0;
  // What the last idle wait saw, for the report when it timed out.
  double last_depth_ = 0;
  double last_reconciles_ = 0;
  std::string stuck_;
  std::vector<std::pair<std::string, std::string>> groups_;
};

std::string mib(long bytes) {
  return fmt::format("{:.1f}", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::string opt(const std::optional<double>& v, const char* format = "{:.2f}") {
  return v ? fmt::format(fmt::runtime(format), *v) : std::string("-");
}

double perReconcile(long count, long reconciles) {
  return reconciles > 0 ? static_cast<double>(count) / static_cast<double>(reconciles) : 0;
}

template <class W>
void writeCounts(W& w, const char* key, const Counts& counts) {
  w.Key(key);
  w.StartObject();
  for (const auto& [k, v] : counts) {
    w.Key(k.c_str());
    w.Int64(v);
  }
  w.EndObject();
}

template <class W>
void writeOpt(W& w, const char* key, const std::optional<double>& v) {
  w.Key(key);
  if (v) {
    w.Double(*v);
  } else {
    w.Null();
  }
}

}  // namespace

void killRunningController() {
  const pid_t pid = running_controller.load();
  if (pid > 0) {
    ::kill(pid, SIGKILL);
  }
}

std::string toString(ScaleController c) {
  return c == ScaleController::PackerBuilder ? "packer-builder" : "ami-refresh";
}

std::string toString(ScaleWorld w) {
  return w == ScaleWorld::Cold ? "cold" : "steady";
}

ScaleResult runScale(const ScaleOptions& given) {
  ScaleOptions options = given;
  options.groups = std::max(1, options.groups);
  ScaleResult r;
  r.controller = options.controller;
  r.world = options.world;
  r.n = options.n;
  r.period_seconds = static_cast<int>(options.period.count());
  if (options.controller == ScaleController::AmiRefresh) {
    r.clusters = clustersFor(options);
    r.groups = options.groups;
  }
  Run run(options, r);
  run.run();
  return r;
}

double sumSamples(const std::string& exposition, const std::string& family,
                  const std::string& label_part) {
  double sum = 0;
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.rfind(family, 0) != 0) {
      continue;
    }
    const char next = line.size() > family.size() ? line[family.size()] : '\0';
    if (next != '{' && next != ' ') {
      continue;  // another family sharing the prefix (opsy_reconcile_total_x)
    }
    const std::size_t space = line.rfind(' ');
    if (space == std::string::npos) {
      continue;
    }
    if (!label_part.empty() && line.substr(0, space).find(label_part) == std::string::npos) {
      continue;
    }
    sum += std::strtod(line.c_str() + space + 1, nullptr);
  }
  return sum;
}

std::string toJson(const std::vector<ScaleResult>& results) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("runs");
  w.StartArray();
  for (const ScaleResult& r : results) {
    w.StartObject();
    w.Key("controller");
    w.String(toString(r.controller).c_str());
    w.Key("world");
    w.String(toString(r.world).c_str());
    w.Key("n");
    w.Int(r.n);
    w.Key("period_seconds");
    w.Int(r.period_seconds);
    if (r.controller == ScaleController::AmiRefresh) {
      w.Key("clusters");
      w.Int(r.clusters);
      w.Key("groups_per_cluster");
      w.Int(r.groups);
    }
    w.Key("restarted");
    w.Bool(r.restarted);
    w.Key("error");
    w.String(r.error.c_str());
    writeOpt(w, "warmup_idle_seconds", r.warmup_idle_s);
    writeOpt(w, "caches_synced_seconds", r.synced_s);
    writeOpt(w, "all_reconciled_seconds", r.reconciled_s);
    writeOpt(w, "idle_seconds", r.idle_s);
    w.Key("idle_period");
    w.StartObject();
    w.Key("window_seconds");
    w.Double(r.window_s);
    w.Key("reconciles");
    w.Int64(r.reconciles);
    w.Key("kube_reads");
    w.Int64(r.kube_reads);
    w.Key("kube_writes");
    w.Int64(r.kube_writes);
    w.Key("kube_watches");
    w.Int64(r.kube_watches);
    w.Key("kube_reads_per_reconcile");
    w.Double(perReconcile(r.kube_reads, r.reconciles));
    w.Key("aws_calls");
    w.Int64(r.aws_calls);
    w.Key("aws_calls_per_reconcile");
    w.Double(perReconcile(r.aws_calls, r.reconciles));
    w.Key("describe_images_max_per_region");
    w.Int64(r.describe_images_max_per_region);
    writeCounts(w, "kube", r.kube);
    writeCounts(w, "aws", r.aws);
    w.EndObject();
    w.Key("start_to_idle");
    w.StartObject();
    writeCounts(w, "kube", r.startup_kube);
    writeCounts(w, "aws", r.startup_aws);
    w.EndObject();
    w.Key("idle");
    w.StartObject();
    w.Key("vm_rss_bytes");
    w.Int64(r.rss_bytes);
    w.Key("vm_hwm_bytes");
    w.Int64(r.hwm_bytes);
    w.Key("private_bytes");
    w.Int64(r.private_bytes);
    w.Key("threads");
    w.Int(r.threads);
    w.Key("cpu_seconds_per_hour");
    w.Double(r.cpu_seconds_per_hour);
    w.Key("metrics_bytes");
    w.Int64(r.metrics_bytes);
    writeCounts(w, "not_ready", r.not_ready);
    w.EndObject();
    w.Key("latency");
    w.StartObject();
    w.Key("what");
    w.String(r.latency_note.c_str());
    writeOpt(w, "p50_ms", r.latency_p50_ms);
    writeOpt(w, "p99_ms", r.latency_p99_ms);
    w.Key("samples_ms");
    w.StartArray();
    for (double v : r.latencies_ms) {
      w.Double(std::round(v * 100) / 100);
    }
    w.EndArray();
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::string formatTable(const std::vector<ScaleResult>& results) {
  std::string out = fmt::format(
      "{:<14} {:<6} {:>5} | {:>6} {:>7} {:>7} | {:>5} {:>5} {:>5} {:>6} {:>8} {:>6} | {:>6} {:>6} "
      "{:>6} {:>4} {:>7} {:>8} | {:>8} {:>8}\n",
      "controller", "world", "N", "sync s", "recon s", "idle s", "recs", "kR", "kW", "AWS",
      "AWS/rec", "DI/reg", "RSS", "HWM", "priv", "thr", "CPU s/h", "metr KB", "p50 ms", "p99 ms");
  out += std::string(out.size() - 1, '-') + "\n";
  for (const ScaleResult& r : results) {
    out += fmt::format(
        "{:<14} {:<6} {:>5} | {:>6} {:>7} {:>7} | {:>5} {:>5} {:>5} {:>6} {:>8.2f} {:>6} | {:>6} "
        "{:>6} {:>6} {:>4} {:>7.1f} {:>8.1f} | {:>8} {:>8}\n",
        toString(r.controller), toString(r.world), r.n, opt(r.synced_s), opt(r.reconciled_s),
        opt(r.idle_s), r.reconciles, r.kube_reads, r.kube_writes, r.aws_calls,
        perReconcile(r.aws_calls, r.reconciles), r.describe_images_max_per_region, mib(r.rss_bytes),
        mib(r.hwm_bytes), mib(r.private_bytes), r.threads, r.cpu_seconds_per_hour,
        static_cast<double>(r.metrics_bytes) / 1024.0, opt(r.latency_p50_ms, "{:.1f}"),
        opt(r.latency_p99_ms, "{:.1f}"));
  }
  out +=
      "\nPer idle period (one controllerTimer after idle): recs = reconciles, kR/kW = Kubernetes "
      "reads (get+list) / writes, AWS = AWS calls, DI/reg = DescribeImages in the busiest "
      "region.\nRSS/HWM/priv in MiB at idle; CPU per idle hour; latency = CR -> Job (builders) or "
      "-> first UpdateNodegroupVersion (refreshers), steady world.\n\n";
  for (const ScaleResult& r : results) {
    std::string kube;
    for (const auto& [k, v] : r.kube) {
      kube += fmt::format(" {}={}", k, v);
    }
    std::string aws;
    for (const auto& [k, v] : r.aws) {
      aws += fmt::format(" {}={}", k, v);
    }
    std::string not_ready;
    for (const auto& [k, v] : r.not_ready) {
      not_ready += fmt::format(" {}={}", k, v);
    }
    if (!not_ready.empty()) {
      aws += "\n  not Ready at idle:" + not_ready;
    }
    out += fmt::format(
        "{} {} N={}{}{}\n  kube:{}\n  aws:{}\n", toString(r.controller), toString(r.world), r.n,
        r.warmup_idle_s ? fmt::format(" (restart; warm-up idle at {:.1f} s)", *r.warmup_idle_s)
                        : "",
        r.error.empty() ? "" : "  ERROR: " + r.error, kube.empty() ? " none" : kube,
        aws.empty() ? " none" : aws);
  }
  return out;
}

std::string formatGoals(const std::vector<ScaleResult>& results) {
  std::string out = "Goals (issue \"Scale\"):\n";
  auto verdict = [](bool met) { return met ? "met" : "MISSED"; };
  auto find = [&](ScaleController c, ScaleWorld w, int n) -> const ScaleResult* {
    for (const ScaleResult& r : results) {
      if (r.controller == c && r.world == w && r.n == n && r.error.empty()) {
        return &r;
      }
    }
    return nullptr;
  };
  const ScaleController both[] = {ScaleController::PackerBuilder, ScaleController::AmiRefresh};
  for (ScaleController c : both) {
    const ScaleResult* r = find(c, ScaleWorld::Steady, 10000);
    std::string failed = "not measured";
    for (const ScaleResult& any : results) {
      if (any.controller == c && any.world == ScaleWorld::Steady && any.n == 10000) {
        failed = "MISSED (" + any.error + ")";  // a run that never got to idle
      }
    }
    out += fmt::format("- {} restart with 10k steady: all reconciled once < 5 s, then idle: {}\n",
                       toString(c),
                       r == nullptr ? failed
                                    : fmt::format("{} (reconciled at {} s, idle at {} s)",
                                                  verdict(r->restarted && r->reconciled_s &&
                                                          *r->reconciled_s < 5 && r->idle_s),
                                                  opt(r->reconciled_s), opt(r->idle_s)));
  }
  for (ScaleController c : both) {
    std::string runs;
    bool all = true;
    bool any = false;
    for (const ScaleResult& r : results) {
      if (r.controller == c && r.error.empty()) {
        any = true;
        all = all && r.kube_reads == 0;
        runs += fmt::format(" {}/{}={}", toString(r.world), r.n, r.kube_reads);
      }
    }
    out += fmt::format("- {} 0 kube reads per idle reconcile: {} (reads per period:{})\n",
                       toString(c), any ? verdict(all) : "not measured", runs);
  }
  for (ScaleController c : both) {
    std::string runs;
    bool all = true;
    bool any = false;
    for (const ScaleResult& r : results) {
      if (r.controller == c && r.error.empty()) {
        any = true;
        all = all && r.describe_images_max_per_region <= 2;
        runs += fmt::format(" {}/{}={}", toString(r.world), r.n, r.describe_images_max_per_region);
      }
    }
    out += fmt::format("- {} DescribeImages <= 2 per region per period: {} (max per region:{})\n",
                       toString(c), any ? verdict(all) : "not measured", runs);
  }
  {
    std::string runs;
    bool all = true;
    bool any = false;
    for (const ScaleResult& r : results) {
      if (r.controller == ScaleController::AmiRefresh && r.error.empty()) {
        any = true;
        const long bound = static_cast<long>(r.clusters) * (r.groups + 2);
        all = all && r.aws_calls <= bound;
        runs += fmt::format(" {}/{}={} (bound {})", toString(r.world), r.n, r.aws_calls, bound);
      }
    }
    out += fmt::format(
        "- ami-refresh AWS calls per period <= G+2 per cluster (C clusters x (G+2)): {} ({})\n",
        any ? verdict(all) : "not measured", runs.empty() ? " none" : runs);
  }
  for (ScaleController c : both) {
    for (auto [n, limit] : {std::pair{1, 16}, std::pair{10000, 48}}) {
      const ScaleResult* r = find(c, ScaleWorld::Steady, n);
      out += fmt::format(
          "- {} RSS idle N={} <= {} MiB: {}\n", toString(c), n, limit,
          r == nullptr ? std::string("not measured")
                       : fmt::format("{} ({} MiB)", verdict(r->rss_bytes <= limit * 1024L * 1024L),
                                     mib(r->rss_bytes)));
    }
  }
  {
    const ScaleResult* r = find(ScaleController::PackerBuilder, ScaleWorld::Steady, 1000);
    out += fmt::format(
        "- packer-builder CR -> Job p99 at N=1000 < 100 ms: {}\n",
        r == nullptr || !r->latency_p99_ms
            ? std::string("not measured")
            : fmt::format("{} ({:.1f} ms)", verdict(*r->latency_p99_ms < 100), *r->latency_p99_ms));
  }
  for (ScaleController c : both) {
    const ScaleResult* r = find(c, ScaleWorld::Steady, 1000);
    out += fmt::format("- {} idle CPU N=1000, 10 s timer <= 60 CPU-s/hour: {}\n", toString(c),
                       r == nullptr || r->period_seconds != 10
                           ? std::string("not measured (needs steady N=1000 with --period=10)")
                           : fmt::format("{} ({:.1f})", verdict(r->cpu_seconds_per_hour <= 60),
                                         r->cpu_seconds_per_hour));
  }
  {
    const ScaleResult* r = find(ScaleController::AmiRefresh, ScaleWorld::Steady, 10000);
    out += fmt::format("- ami-refresh /metrics at 10k refreshers < 100 KB: {}\n",
                       r == nullptr
                           ? std::string("not measured")
                           : fmt::format("{} ({:.1f} KB)", verdict(r->metrics_bytes < 100 * 1024),
                                         static_cast<double>(r->metrics_bytes) / 1024.0));
  }
  return out;
}

}  // namespace opsy::bench

// The fake's Job controller and kubelet: a Pod per Job, Job status conditions and counters, pod
// logs, activeDeadlineSeconds, and the stock runners.
#include <fmt/format.h>

#include "support/fake_kube_impl.h"

namespace opsy::testing {

class JobControlImpl : public JobControl {
 public:
  JobControlImpl(FakeKube::Impl* impl, std::string ns, std::string job, std::string pod,
                 std::string job_json)
      : impl_(impl),
        ns_(std::move(ns)),
        job_(std::move(job)),
        pod_(std::move(pod)),
        job_json_(std::move(job_json)) {}

  std::string namespaceName() const override { return ns_; }
  std::string jobName() const override { return job_; }
  std::string podName() const override { return pod_; }
  std::string jobJson() const override { return job_json_; }

  void start() override {
    std::lock_guard lock(impl_->mu_);
    if (finished_) {
      return;
    }
    const std::string now = impl_->nowRfc3339();
    editPod([&](JsonValue& status, JsonAlloc& a) {
      setString(status, "phase", "Running", a);
      setString(status, "startTime", now, a);
      setMember(
          status, "containerStatuses",
          containerStatuses(a, fmt::format(R"({{"running":{{"startedAt":"{}"}}}})", now), true), a);
    });
    editJob([&](JsonValue& status, JsonAlloc& a) {
      setMember(status, "active", JsonValue(1), a);
      setMember(status, "ready", JsonValue(1), a);
    });
  }

  void appendLog(std::string_view text) override {
    std::lock_guard lock(impl_->mu_);
    impl_->pod_logs_[FakeKube::Impl::objectKey(ns_, pod_)].text += text;
    impl_->changed_.notify_all();
  }

  void succeed(std::string termination_message) override {
    finish(true, "Completed", "", termination_message, 0);
  }

  void fail(std::string reason, std::string message, std::string termination_message,
            int exit_code) override {
    finish(false, reason, message, termination_message, exit_code);
  }

  void after(Duration delay, std::function<void()> fn) override {
    impl_->schedule(delay, std::move(fn));
  }

 private:
  JsonValue containerStatuses(JsonAlloc& a, const std::string& state_json, bool ready) {
    Json job;
    job.Parse(job_json_.c_str());
    JsonValue list(rapidjson::kArrayType);
    const JsonValue* spec = member(job, "spec");
    const JsonValue* tmpl = spec != nullptr ? member(*spec, "template") : nullptr;
    const JsonValue* pod_spec = tmpl != nullptr ? member(*tmpl, "spec") : nullptr;
    const JsonValue* containers = pod_spec != nullptr ? member(*pod_spec, "containers") : nullptr;
    if (containers == nullptr || !containers->IsArray()) {
      return list;
    }
    for (const auto& c : containers->GetArray()) {
      JsonValue s(rapidjson::kObjectType);
      s.AddMember("name", str(stringAt(c, {"name"}), a), a);
      s.AddMember("image", str(stringAt(c, {"image"}), a), a);
      s.AddMember("imageID", "", a);
      s.AddMember("ready", ready, a);
      s.AddMember("restartCount", 0, a);
      s.AddMember("started", ready, a);
      Json state;
      state.Parse(state_json.c_str());
      JsonValue state_value;
      state_value.CopyFrom(state, a);
      s.AddMember("state", state_value, a);
      list.PushBack(s, a);
    }
    return list;
  }

  template <class Fn>
  void edit(const char* group, const char* plural, const std::string& name, Fn fn) {
    auto type = impl_->findTypeLocked(group, "v1", plural);
    JsonPtr current = impl_->getLocked(*type, ns_, name);
    if (current == nullptr) {
      return;
    }
    auto next = cloneJson(*current);
    fn(objectMember(*next, "status", next->GetAllocator()), next->GetAllocator());
    WriteOptions internal;
    internal.internal = true;
    (void)impl_->updateLocked(*type, ns_, name, "status", std::move(*next), internal, false);
  }
  template <class Fn>
  void editPod(Fn fn) {
    edit("", "pods", pod_, fn);
  }
  template <class Fn>
  void editJob(Fn fn) {
    edit("batch", "jobs", job_, fn);
  }

  void finish(bool succeeded, const std::string& reason, const std::string& message,
              const std::string& termination_message, int exit_code) {
    std::lock_guard lock(impl_->mu_);
    if (finished_) {
      return;
    }
    finished_ = true;
    const std::string now = impl_->nowRfc3339();
    editPod([&](JsonValue& status, JsonAlloc& a) {
      setString(status, "phase", succeeded ? "Succeeded" : "Failed", a);
      Json msg;
      msg.SetString(termination_message.c_str(),
                    static_cast<rapidjson::SizeType>(termination_message.size()));
      setMember(
          status, "containerStatuses",
          containerStatuses(
              a,
              fmt::format(
                  R"({{"terminated":{{"exitCode":{},"reason":"{}","message":{},"startedAt":"{}","finishedAt":"{}"}}}})",
                  exit_code, succeeded ? "Completed" : "Error", toJson(msg), now, now),
              false),
          a);
    });
    editJob([&](JsonValue& status, JsonAlloc& a) {
      setMember(status, "active", JsonValue(0), a);
      setMember(status, "ready", JsonValue(0), a);
      setMember(status, "terminating", JsonValue(0), a);
      setMember(status, succeeded ? "succeeded" : "failed", JsonValue(1), a);
      JsonValue conditions(rapidjson::kArrayType);
      auto add = [&](const char* type, const std::string& r, const std::string& m) {
        JsonValue c(rapidjson::kObjectType);
        c.AddMember("type", str(type, a), a);
        c.AddMember("status", "True", a);
        c.AddMember("lastProbeTime", str(now, a), a);
        c.AddMember("lastTransitionTime", str(now, a), a);
        c.AddMember("reason", str(r, a), a);
        c.AddMember("message", str(m, a), a);
        conditions.PushBack(c, a);
      };
      if (succeeded) {
        add("SuccessCriteriaMet", "CompletionsReached",
            "Reached expected number of succeeded pods");
        add("Complete", "CompletionsReached", "Reached expected number of succeeded pods");
        setString(status, "completionTime", now, a);
      } else {
        add("FailureTarget", reason, message);
        add("Failed", reason, message);
      }
      setMember(status, "conditions", std::move(conditions), a);
    });
    impl_->pod_logs_[FakeKube::Impl::objectKey(ns_, pod_)].finished = true;
    impl_->changed_.notify_all();
  }

  FakeKube::Impl* impl_;
  const std::string ns_;
  const std::string job_;
  const std::string pod_;
  const std::string job_json_;
  bool finished_ = false;  // guarded by impl_->mu_
};

void FakeKube::Impl::startJobLocked(const JsonPtr& job) {
  const std::string ns = stringAt(*job, {"metadata", "namespace"});
  const std::string name = stringAt(*job, {"metadata", "name"});
  const std::string uid = stringAt(*job, {"metadata", "uid"});
  const JsonValue* suspend = member(*member(*job, "spec"), "suspend");
  if (suspend != nullptr && suspend->IsBool() && suspend->GetBool()) {
    return;  // suspended Jobs get no Pod (resuming is not simulated)
  }
  // The Pod, as the Job controller creates it.
  Json pod;
  pod.SetObject();
  auto& a = pod.GetAllocator();
  pod.AddMember("apiVersion", "v1", a);
  pod.AddMember("kind", "Pod", a);
  JsonValue meta(rapidjson::kObjectType);
  const std::string pod_name = name + "-" + randomSuffix();
  meta.AddMember("name", str(pod_name, a), a);
  meta.AddMember("generateName", str(name + "-", a), a);
  meta.AddMember("namespace", str(ns, a), a);
  const JsonValue* spec = member(*job, "spec");
  const JsonValue* tmpl = spec != nullptr ? member(*spec, "template") : nullptr;
  if (tmpl != nullptr) {
    if (const JsonValue* tmeta = member(*tmpl, "metadata"); tmeta != nullptr) {
      for (const char* field : {"labels", "annotations"}) {
        if (const JsonValue* v = member(*tmeta, field); v != nullptr) {
          JsonValue copy;
          copy.CopyFrom(*v, a);
          meta.AddMember(rapidjson::StringRef(field), copy, a);
        }
      }
    }
  }
  JsonValue refs(rapidjson::kArrayType);
  JsonValue ref(rapidjson::kObjectType);
  ref.AddMember("apiVersion", "batch/v1", a);
  ref.AddMember("kind", "Job", a);
  ref.AddMember("name", str(name, a), a);
  ref.AddMember("uid", str(uid, a), a);
  ref.AddMember("controller", true, a);
  ref.AddMember("blockOwnerDeletion", true, a);
  refs.PushBack(ref, a);
  meta.AddMember("ownerReferences", refs, a);
  pod.AddMember("metadata", meta, a);
  JsonValue pod_spec(rapidjson::kObjectType);
  if (tmpl != nullptr && member(*tmpl, "spec") != nullptr) {
    pod_spec.CopyFrom(*member(*tmpl, "spec"), a);
  }
  pod.AddMember("spec", pod_spec, a);
  JsonValue status(rapidjson::kObjectType);
  status.AddMember("phase", "Pending", a);
  pod.AddMember("status", status, a);
  WriteOptions internal;
  internal.internal = true;
  auto pods = findTypeLocked("", "v1", "pods");
  if (!createLocked(*pods, ns, std::move(pod), internal)) {
    return;
  }
  pod_logs_[objectKey(ns, pod_name)] = PodLog{};
  // Job status: started, one active Pod.
  auto next = cloneJson(*job);
  auto& na = next->GetAllocator();
  auto& job_status = objectMember(*next, "status", na);
  setString(job_status, "startTime", nowRfc3339(), na);
  setMember(job_status, "active", JsonValue(1), na);
  setMember(job_status, "ready", JsonValue(0), na);
  setMember(job_status, "terminating", JsonValue(0), na);
  setMember(job_status, "uncountedTerminatedPods", JsonValue(rapidjson::kObjectType), na);
  auto jobs = findTypeLocked("batch", "v1", "jobs");
  (void)updateLocked(*jobs, ns, name, "status", std::move(*next), internal, false);

  auto control = std::make_shared<JobControlImpl>(this, ns, name, pod_name, toJson(*job));
  job_controls_[objectKey(ns, name)] = control;
  if (const JsonValue* deadline = member(*spec, "activeDeadlineSeconds");
      deadline != nullptr && deadline->IsInt64()) {
    std::weak_ptr<JobControlImpl> weak = control;
    schedule(std::chrono::seconds(deadline->GetInt64()), [weak] {
      if (auto c = weak.lock()) {
        c->fail("DeadlineExceeded", "Job was active longer than specified deadline", "", 137);
      }
    });
  }
  schedule(Duration(0), [this, control] {
    JobRunnerPtr runner;
    {
      std::lock_guard lock(runner_mu_);
      runner = runner_;
    }
    if (runner != nullptr) {
      runner->onJobCreated(control);
    }
  });
}

namespace {

class CompletingJobRunner : public JobRunner {
 public:
  explicit CompletingJobRunner(Duration delay) : delay_(delay) {}
  void onJobCreated(const JobControlPtr& job) override {
    job->start();
    job->appendLog("job " + job->jobName() + " started\n");
    std::weak_ptr<JobControl> weak = job;
    job->after(delay_, [weak] {
      if (auto j = weak.lock()) {
        j->appendLog("job " + j->jobName() + " done\n");
        j->succeed();
      }
    });
  }

 private:
  Duration delay_;
};

}  // namespace

JobRunnerPtr completingJobRunner(Duration delay) {
  return std::make_shared<CompletingJobRunner>(delay);
}

void ManualJobRunner::onJobCreated(const JobControlPtr& job) {
  std::lock_guard lock(mu_);
  jobs_.push_back(job);
  cv_.notify_all();
}

JobControlPtr ManualJobRunner::waitForJob(size_t index, Duration timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return jobs_.size() > index; });
  return jobs_.size() > index ? jobs_[index] : nullptr;
}

size_t ManualJobRunner::jobCount() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

}  // namespace opsy::testing

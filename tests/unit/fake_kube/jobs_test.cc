#include <gtest/gtest.h>

#include "fake_kube_fixture.h"

namespace opsy::testing {
namespace {

constexpr const char* kJobs = "/apis/batch/v1/namespaces/default/jobs";

std::string job(const std::string& name, const std::string& spec_extra = "",
                const std::string& restart = "Never") {
  return R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":")" + name + R"("},"spec":{)" +
         spec_extra + R"("template":{"spec":{"restartPolicy":")" + restart +
         R"(","containers":[{"name":"packer","image":"hashicorp/packer:1.11"}]}}}})";
}

class FakeKubeJobs : public FakeKubeTest {
 protected:
  void SetUp() override {
    FakeKubeTest::SetUp();
    runner_ = std::make_shared<ManualJobRunner>();
    kube_.setJobRunner(runner_);
  }

  Reply jobNamed(const std::string& name) { return get(std::string(kJobs) + "/" + name); }
  Reply podOf(const JobControlPtr& control) {
    return get("/api/v1/namespaces/default/pods/" + control->podName());
  }
  // Polls until the Job has a condition of `type` (the runner acts on another thread).
  Reply waitForCondition(const std::string& name, const std::string& type) {
    for (int i = 0; i < 300; ++i) {
      Reply r = jobNamed(name);
      if (r.has("/status/conditions")) {
        for (const auto& c : r.json["status"]["conditions"].GetArray()) {
          if (type == c["type"].GetString()) {
            return r;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return jobNamed(name);
  }

  std::shared_ptr<ManualJobRunner> runner_;
};

// A created Job gets defaults, the controller's selector and labels, a startTime and one
// active Pod labelled job-name/controller-uid and owned by the Job; then the runner is called.
TEST_F(FakeKubeJobs, CreatingJobStartsPodAndCallsRunner) {
  Reply created = post(kJobs, job("build"));
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string uid = created.str("/metadata/uid");
  EXPECT_EQ(created.num("/spec/backoffLimit"), 6);
  EXPECT_EQ(created.str("/spec/selector/matchLabels/batch.kubernetes.io~1controller-uid"), uid);
  EXPECT_EQ(created.num("/metadata/generation"), 1);

  JobControlPtr control = runner_->waitForJob(0);
  ASSERT_NE(control, nullptr);
  EXPECT_EQ(control->jobName(), "build");
  Reply pod = podOf(control);
  ASSERT_EQ(pod.status, 200);
  EXPECT_EQ(pod.str("/metadata/labels/job-name"), "build");
  EXPECT_EQ(pod.str("/metadata/labels/controller-uid"), uid);
  EXPECT_EQ(pod.str("/metadata/ownerReferences/0/uid"), uid);
  EXPECT_EQ(pod.str("/metadata/ownerReferences/0/kind"), "Job");
  EXPECT_EQ(pod.str("/status/phase"), "Pending");
  EXPECT_EQ(pod.str("/spec/containers/0/image"), "hashicorp/packer:1.11");

  Reply running = jobNamed("build");
  EXPECT_FALSE(running.str("/status/startTime").empty());
  EXPECT_EQ(running.num("/status/active"), 1);

  control->start();
  EXPECT_EQ(podOf(control).str("/status/phase"), "Running");
  EXPECT_EQ(jobNamed("build").num("/status/ready"), 1);

  Reply pods = get("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dbuild");
  EXPECT_EQ(pods.size("/items"), 1u);
}

// Success: Pod Succeeded with the termination message, Job Complete=True with counters and
// completionTime; the log is served.
TEST_F(FakeKubeJobs, SucceededJobIsComplete) {
  post(kJobs, job("build"));
  JobControlPtr control = runner_->waitForJob(0);
  ASSERT_NE(control, nullptr);
  control->start();
  control->appendLog("line one\n");
  control->appendLog("line two\n");
  control->succeed("ami-0123");
  Reply done = jobNamed("build");
  EXPECT_EQ(done.num("/status/succeeded"), 1);
  EXPECT_EQ(done.num("/status/active"), 0);
  EXPECT_FALSE(done.str("/status/completionTime").empty());
  EXPECT_EQ(done.str("/status/conditions/1/type"), "Complete");
  EXPECT_EQ(done.str("/status/conditions/1/status"), "True");
  EXPECT_EQ(done.num("/metadata/generation"), 1);
  Reply pod = podOf(control);
  EXPECT_EQ(pod.str("/status/phase"), "Succeeded");
  EXPECT_EQ(pod.str("/status/containerStatuses/0/state/terminated/message"), "ami-0123");
  EXPECT_EQ(pod.num("/status/containerStatuses/0/state/terminated/exitCode"), 0);

  auto log =
      client_->Get(("/api/v1/namespaces/default/pods/" + control->podName() + "/log").c_str());
  ASSERT_TRUE(log);
  EXPECT_EQ(log->status, 200);
  EXPECT_EQ(log->body, "line one\nline two\n");
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/none/log").status, 404);
}

// Pod logs take the real server's query: `container` must name one of the pod's containers (and
// is required when there are several), tailLines keeps the last N lines, then limitBytes the first
// N bytes of those; bad values are rejected as the real server rejects them.
TEST_F(FakeKubeJobs, PodLogHonoursContainerTailLinesAndLimitBytes) {
  Reply created = post(kJobs, R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"b"},)"
                              R"("spec":{"template":{"spec":{"restartPolicy":"Never",)"
                              R"("initContainers":[{"name":"init","image":"busybox"}],)"
                              R"("containers":[{"name":"main","image":"packer"},)"
                              R"({"name":"side","image":"busybox"}]}}}})");
  ASSERT_EQ(created.status, 201) << created.body;
  JobControlPtr control = runner_->waitForJob(0);
  ASSERT_NE(control, nullptr);
  control->start();
  control->appendLog("one\ntwo\nthree\nfour\n");
  const std::string log = "/api/v1/namespaces/default/pods/" + control->podName() + "/log";
  struct Case {
    std::string query;
    int status;
    std::string body;  // for 200
  } cases[] = {
      {"?container=main", 200, "one\ntwo\nthree\nfour\n"},
      {"?container=main&tailLines=2", 200, "three\nfour\n"},
      {"?container=main&tailLines=9", 200, "one\ntwo\nthree\nfour\n"},
      {"?container=main&tailLines=0", 200, ""},
      {"?container=main&limitBytes=5", 200, "one\nt"},
      {"?container=main&tailLines=2&limitBytes=3", 200, "thr"},
      {"?container=side", 200, ""},
      {"?container=init", 200, ""},
      {"", 400, ""},
      {"?container=nope", 400, ""},
      {"?container=main&tailLines=x", 400, ""},
      {"?container=main&tailLines=-1", 422, ""},
      {"?container=main&limitBytes=0", 422, ""},
  };
  for (const auto& c : cases) {
    Reply r = get(log + c.query);
    EXPECT_EQ(r.status, c.status) << c.query << ": " << r.body;
    if (c.status == 200) {
      EXPECT_EQ(r.body, c.body) << c.query;
    }
  }
  Reply unnamed = get(log);
  EXPECT_EQ(unnamed.str("/reason"), "BadRequest");
  EXPECT_NE(unnamed.str("/message").find("a container name must be specified"), std::string::npos)
      << unnamed.body;
  EXPECT_EQ(get(log + "?container=main&limitBytes=0").str("/reason"), "Invalid");

  // follow=true applies both to what is there; the stream ends with the container.
  control->succeed();
  EXPECT_EQ(get(log + "?container=main&follow=true&tailLines=1").body, "four\n");
  EXPECT_EQ(get(log + "?container=main&follow=true&limitBytes=6").body, "one\ntw");
}

// Failure: Job Failed=True with the given reason and failed=1; Pod Failed with the exit code.
TEST_F(FakeKubeJobs, FailedJobCarriesReason) {
  post(kJobs, job("build"));
  JobControlPtr control = runner_->waitForJob(0);
  ASSERT_NE(control, nullptr);
  control->fail("BackoffLimitExceeded", "Job has reached the specified backoff limit", "boom", 2);
  Reply failed = jobNamed("build");
  EXPECT_EQ(failed.num("/status/failed"), 1);
  EXPECT_EQ(failed.str("/status/conditions/1/type"), "Failed");
  EXPECT_EQ(failed.str("/status/conditions/1/reason"), "BackoffLimitExceeded");
  Reply pod = podOf(control);
  EXPECT_EQ(pod.str("/status/phase"), "Failed");
  EXPECT_EQ(pod.num("/status/containerStatuses/0/state/terminated/exitCode"), 2);
  // Finishing twice changes nothing.
  const std::string rv = failed.str("/metadata/resourceVersion");
  control->succeed();
  EXPECT_EQ(jobNamed("build").str("/metadata/resourceVersion"), rv);
}

// activeDeadlineSeconds fails a Job that runs too long with DeadlineExceeded.
TEST_F(FakeKubeJobs, ActiveDeadlineFailsJob) {
  post(kJobs, job("slow", R"("activeDeadlineSeconds":1,)"));
  ASSERT_NE(runner_->waitForJob(0), nullptr);
  Reply failed = waitForCondition("slow", "Failed");
  EXPECT_EQ(failed.str("/status/conditions/1/reason"), "DeadlineExceeded");
}

// The stock runner starts, logs and completes every Job.
TEST_F(FakeKubeJobs, CompletingRunnerCompletesJobs) {
  kube_.setJobRunner(completingJobRunner(std::chrono::milliseconds(50)));
  post(kJobs, job("auto"));
  Reply done = waitForCondition("auto", "Complete");
  EXPECT_EQ(done.num("/status/succeeded"), 1);
}

// follow=true streams the log as it grows and ends when the container exits.
TEST_F(FakeKubeJobs, FollowedLogStreamsUntilExit) {
  post(kJobs, job("build"));
  JobControlPtr control = runner_->waitForJob(0);
  ASSERT_NE(control, nullptr);
  control->appendLog("first\n");
  StreamReader log(kube_.url(), kube_.token(),
                   "/api/v1/namespaces/default/pods/" + control->podName() + "/log?follow=true");
  EXPECT_EQ(log.waitForLines(1), std::vector<std::string>{"first"});
  control->appendLog("second\n");
  EXPECT_EQ(log.waitForLines(2), (std::vector<std::string>{"first", "second"}));
  control->succeed();
  EXPECT_TRUE(log.waitForEnd());
  EXPECT_TRUE(log.cleanEnd());
}

// Job and Pod Tables carry the columns kubectl shows for them.
TEST_F(FakeKubeJobs, TablesShowJobAndPodColumns) {
  post(kJobs, job("build"));
  JobControlPtr control = runner_->waitForJob(0);
  ASSERT_NE(control, nullptr);
  control->start();
  control->succeed();
  httplib::Headers accept = {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}};
  Reply jobs = toReply(client_->Get(kJobs, accept));
  ASSERT_EQ(jobs.str("/kind"), "Table");
  EXPECT_EQ(jobs.str("/columnDefinitions/1/name"), "Status");
  EXPECT_EQ(jobs.str("/rows/0/cells/1"), "Complete");
  EXPECT_EQ(jobs.str("/columnDefinitions/2/name"), "Completions");
  EXPECT_EQ(jobs.str("/rows/0/cells/2"), "1/1");
  Reply pods = toReply(client_->Get("/api/v1/namespaces/default/pods", accept));
  EXPECT_EQ(pods.str("/columnDefinitions/1/name"), "Ready");
  EXPECT_EQ(pods.str("/rows/0/cells/1"), "0/1");
  EXPECT_EQ(pods.str("/rows/0/cells/2"), "Completed");
}

// A Pod template with restartPolicy Always is refused, as for real Jobs.
TEST_F(FakeKubeJobs, RestartPolicyAlwaysIsInvalid) {
  Reply r = post(kJobs, job("bad", "", "Always"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.str("/details/causes/0/field"), "spec.template.spec.restartPolicy");
  EXPECT_EQ(r.str("/message"),
            "Job.batch \"bad\" is invalid: spec.template.spec.restartPolicy: Unsupported value: "
            "\"Always\": supported values: \"OnFailure\", \"Never\"");
}

// Deleting a Job without a propagation policy orphans its Pod (batch/v1 default);
// Background deletes it.
TEST_F(FakeKubeJobs, JobDeletionPropagation) {
  post(kJobs, job("orphaning"));
  JobControlPtr first = runner_->waitForJob(0);
  ASSERT_NE(first, nullptr);
  del(std::string(kJobs) + "/orphaning");
  Reply orphan = podOf(first);
  ASSERT_EQ(orphan.status, 200);
  EXPECT_FALSE(orphan.has("/metadata/ownerReferences"));

  post(kJobs, job("cascading"));
  JobControlPtr second = runner_->waitForJob(1);
  ASSERT_NE(second, nullptr);
  del(std::string(kJobs) + "/cascading?propagationPolicy=Background");
  EXPECT_EQ(podOf(second).status, 404);

  post(kJobs, job("foreground"));
  JobControlPtr third = runner_->waitForJob(2);
  ASSERT_NE(third, nullptr);
  del(std::string(kJobs) + "/foreground", R"({"propagationPolicy":"Foreground"})");
  EXPECT_EQ(podOf(third).status, 404);
  EXPECT_EQ(jobNamed("foreground").status, 404);
  // Acting on a deleted Job is harmless.
  third->succeed();
}

}  // namespace
}  // namespace opsy::testing

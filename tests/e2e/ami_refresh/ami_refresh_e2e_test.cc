// The real ami-refresh-controller binary against FakeKube and FakeAws: the AMIRefresher sample
// rolls the cluster's node groups onto the newest eligible image, each group that needs it gets
// exactly one launch template version and one update, and a controller killed mid-rollout and
// started again does not update the same group twice.
#include <signal.h>

#include "e2e/ami_refresh/ami_refresh_fixture.h"

namespace opsy::ami_refresh {
namespace {

// The sample, applied unchanged, rolls exactly the one group that needs it (one new launch
// template version, one update), records every group's phase and reason, and reports Ready; the
// self-managed group is left alone until the resource is patched to enable selfManaged.
TEST_F(AmiRefreshE2e, SampleRollsOnlyTheGroupThatNeedsItAndReportsEveryGroup) {
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample());

  ASSERT_TRUE(eventually([&] { return ready(); })) << "Ready=True never reported";

  auto updates = aws_.eksUpdates();
  ASSERT_EQ(updates.size(), 1U);
  EXPECT_EQ(updates[0].nodegroup, "workers-update");
  EXPECT_EQ(updates[0].cluster, kCluster);
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 2U);
  EXPECT_EQ(lastVersionImage(aws_, kUpdateLt), kTargetImage);
  EXPECT_EQ(versionCount(aws_, kExcludedLt), 1U);
  EXPECT_EQ(versionCount(aws_, kCurrentLt), 1U);
  EXPECT_EQ(versionCount(aws_, kSelfManagedLt), 1U);
  EXPECT_EQ(aws_.nodegroup(std::string(kCluster), "workers-update")->launch_template->version, "2");

  auto r = refresher();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.state, kStateReady);
  EXPECT_EQ(r->status.target_ami, kTargetImage);
  struct Expect {
    std::string_view name;
    Phase phase;
    std::string message_part;
  };
  for (const Expect& e : std::vector<Expect>{
           {"ingress-dev", Phase::Excluded, "excluded by spec.exclude"},
           {"system-default", Phase::Skipped, "no launch template"},
           {"workers-current", Phase::UpToDate, std::string(kTargetImage)},
           {"workers-update", Phase::Succeeded, "update " + updates[0].id + " succeeded"},
       }) {
    const NodegroupStatus* g = group(*r, e.name);
    ASSERT_NE(g, nullptr) << e.name;
    EXPECT_EQ(g->phase, e.phase) << e.name << ": " << g->message;
    EXPECT_NE(g->message.find(e.message_part), std::string::npos) << e.name << ": " << g->message;
  }
  // The sample leaves selfManaged off: the Auto Scaling group is not even listed.
  EXPECT_EQ(group(*r, kSelfManagedAsg), nullptr);
  EXPECT_TRUE(aws_.instanceRefreshes().empty());
  EXPECT_TRUE(aws_.autoScalingGroupUpdates().empty());

  // Enabling selfManaged brings the cluster's own Auto Scaling group in: one launch template
  // version and one instance refresh.
  aws_.setInstanceRefreshAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(enableSelfManaged());
  ASSERT_TRUE(eventually([&] {
    auto now = refresher();
    const NodegroupStatus* g = now ? group(*now, kSelfManagedAsg) : nullptr;
    return g != nullptr && g->phase == Phase::Succeeded && ready();
  })) << "the self-managed group never succeeded";
  ASSERT_EQ(aws_.instanceRefreshes().size(), 1U);
  EXPECT_EQ(aws_.instanceRefreshes()[0].asg_name, kSelfManagedAsg);
  EXPECT_EQ(versionCount(aws_, kSelfManagedLt), 2U);
  EXPECT_EQ(lastVersionImage(aws_, kSelfManagedLt), kTargetImage);
  EXPECT_EQ(aws_.eksUpdates().size(), 1U);
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 2U);
  r = refresher();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(group(*r, kSelfManagedAsg)->kind, GroupKind::SelfManaged);

  std::string metrics = scrapeMetrics();
  EXPECT_NE(metrics.find("opsy_rollouts_started_total{controller=\"ami-refresh\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("opsy_aws_requests_total"), std::string::npos);

  controller_->signal(SIGTERM);
  EXPECT_EQ(controller_->wait(std::chrono::seconds(35)), std::optional<int>(0));
}

// A denied DescribeImages (the first call a new IAM role meets) is on the refresher within one
// reconcile: Ready=False AWSAccessDenied naming the IAM action, Stalled, one Warning Event; the
// lookup is retried once per controllerTimer, not hot-looped; and once the policy is fixed the
// refresher recovers by itself.
TEST_F(AmiRefreshE2e, DeniedImageLookupShowsAccessDeniedThenRecovers) {
  aws_.setEksAutoCompleteAfter(1);
  aws_.addFault({.service = "ec2",
                 .operation = "DescribeImages",
                 .kind = opsy::testing::FaultKind::AccessDenied});
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample("", "2s"));

  ASSERT_TRUE(eventually([&] {
    auto c = condition("Ready");
    return c && c->status == kube::kConditionFalse && c->reason == "AWSAccessDenied";
  })) << "Ready never said AWSAccessDenied";
  auto ready_condition = condition("Ready");
  EXPECT_NE(ready_condition->message.find("ec2:DescribeImages"), std::string::npos)
      << ready_condition->message;
  EXPECT_NE(ready_condition->message.find("docs/iam.md#ami-refresh-controller"), std::string::npos)
      << ready_condition->message;
  auto stalled = condition("Stalled");
  ASSERT_TRUE(stalled.has_value());
  EXPECT_EQ(stalled->status, kube::kConditionTrue);
  EXPECT_EQ(stalled->reason, "AWSAccessDenied");

  // While denied: at most one lookup per controllerTimer (2 s, each wait jittered by up to -10 %),
  // one Event in all, no AWS writes. The window may catch one look of the first burst too.
  aws_.clearCalls();
  constexpr int kWindowSeconds = 6;
  std::this_thread::sleep_for(std::chrono::seconds(kWindowSeconds));
  EXPECT_LE(aws_.callCount("ec2", "DescribeImages"), static_cast<int>(kWindowSeconds / 1.8) + 2);
  EXPECT_EQ(settledEventCount("AWSAccessDenied", 1), 1);
  EXPECT_TRUE(aws_.eksUpdates().empty());
  EXPECT_NE(scrapeMetrics().find("opsy_reconcile_errors_total{controller=\"ami-refresh\","
                                 "reason=\"AWSAccessDenied\"}"),
            std::string::npos);

  aws_.clearFaults();
  ASSERT_TRUE(eventually([&] { return ready(); })) << "never recovered after the fault was lifted";
  EXPECT_EQ(condition("Stalled")->status, kube::kConditionFalse);
  EXPECT_EQ(aws_.eksUpdates().size(), 1U);
}

// A clusterName EKS does not know is named on the refresher, with the region, as ClusterNotFound;
// nothing is retried faster than controllerTimer.
TEST_F(AmiRefreshE2e, WrongClusterNameShowsClusterNotFound) {
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample("", "2s", "no-such-cluster"));

  ASSERT_TRUE(eventually([&] {
    auto c = condition("Ready");
    return c && c->status == kube::kConditionFalse && c->reason == "ClusterNotFound";
  })) << "Ready never said ClusterNotFound";
  auto c = condition("Ready");
  EXPECT_NE(c->message.find("\"no-such-cluster\""), std::string::npos) << c->message;
  EXPECT_NE(c->message.find("us-west-2"), std::string::npos) << c->message;
  // The status write itself brings the refresher back once or twice (its watch event); counting
  // starts after that burst, so only the controllerTimer (2 s, jittered by up to -10 %) is seen.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  aws_.clearCalls();
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_LE(aws_.callCount("eks", "ListNodegroups"), 3);
  EXPECT_EQ(settledEventCount("ClusterNotFound", 1), 1);
}

// One group that cannot be read (its DescribeInstanceRefreshes denied) is marked Unknown with
// the error; the managed groups still roll onto the target, and nothing is failed or halted.
TEST_F(AmiRefreshE2e, OneUnreadableGroupDoesNotStopTheOthers) {
  aws_.setEksAutoCompleteAfter(1);
  aws_.addFault({.service = "autoscaling",
                 .operation = "DescribeInstanceRefreshes",
                 .kind = opsy::testing::FaultKind::AccessDenied});
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample("", "2s"));
  ASSERT_NO_FATAL_FAILURE(enableSelfManaged());

  ASSERT_TRUE(eventually([&] {
    return phaseOf("workers-update") == Phase::Succeeded &&
           phaseOf(kSelfManagedAsg) == Phase::Unknown;
  })) << "the managed group did not roll past the unreadable one";
  auto r = refresher();
  ASSERT_TRUE(r.has_value());
  const NodegroupStatus* asg = group(*r, kSelfManagedAsg);
  ASSERT_NE(asg, nullptr);
  EXPECT_NE(asg->message.find("autoscaling:DescribeInstanceRefreshes"), std::string::npos)
      << asg->message;
  EXPECT_EQ(lastVersionImage(aws_, kUpdateLt), kTargetImage);
  EXPECT_TRUE(aws_.instanceRefreshes().empty());
  auto ready_condition = condition("Ready");
  ASSERT_TRUE(ready_condition.has_value());
  EXPECT_EQ(ready_condition->reason, "AWSAccessDenied");
  EXPECT_NE(condition("Stalled")->status, kube::kConditionTrue) << "a failed read halts nothing";
  EXPECT_EQ(settledEventCount("AWSAccessDenied", 1), 1);
}

// A 404 with no AWS error code from the EKS endpoint (a wrong endpoint override or a proxy) is
// retried, never read as "the node group is gone" nor as a failed group; the message names the
// endpoint that answered.
TEST_F(AmiRefreshE2e, BareNotFoundFromEksIsRetriedNotAFailure) {
  aws_.addFault({.service = "eks",
                 .operation = "DescribeNodegroup",
                 .kind = opsy::testing::FaultKind::BareNotFound});
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample("", "2s"));

  ASSERT_TRUE(eventually([&] { return phaseOf("workers-update") == Phase::Unknown; }))
      << "the group was never shown as unreadable";
  auto r = refresher();
  ASSERT_TRUE(r.has_value());
  const NodegroupStatus* g = group(*r, "workers-update");
  ASSERT_NE(g, nullptr);
  EXPECT_NE(g->message.find("HTTP 404 without an AWS error code"), std::string::npos) << g->message;
  EXPECT_NE(g->message.find(aws_.endpoint()), std::string::npos) << g->message;
  for (const NodegroupStatus& ng : r->status.nodegroups) {
    EXPECT_NE(ng.phase, Phase::Failed) << ng.name << ": " << ng.message;
  }
  const int before = aws_.callCount("eks", "DescribeNodegroup");
  ASSERT_TRUE(eventually([&] { return aws_.callCount("eks", "DescribeNodegroup") > before; }))
      << "not retried";
  EXPECT_TRUE(aws_.eksUpdates().empty());
}

// What the running controller serves on /metrics after a real rollout passes `promtool check
// metrics` without a single lint problem, and counts the work that rollout took: reconciles, AWS
// and Kubernetes calls, the work queue and the rollout itself all have non-zero samples.
TEST_F(AmiRefreshE2e, ServedMetricsPassPromtoolAfterARealRollout) {
  if (!opsy::testing::promtoolAvailable()) {
    GTEST_SKIP() << "promtool not found; scripts/bootstrap installs it (Debian package prometheus)";
  }
  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample());
  ASSERT_TRUE(eventually([&] { return ready(); })) << "Ready=True never reported";
  ASSERT_EQ(aws_.eksUpdates().size(), 1U);

  const std::vector<opsy::testing::MetricSelector> counted = {
      {"opsy_build_info", R"(controller="ami-refresh")"},
      {"opsy_reconcile_total", R"(controller="ami-refresh")"},
      {"opsy_reconcile_duration_seconds_count", R"(controller="ami-refresh")"},
      {"opsy_aws_requests_total", R"(operation="UpdateNodegroupVersion")"},
      {"opsy_aws_request_duration_seconds_count", R"(service="eks")"},
      {"opsy_kube_requests_total", R"(resource="amirefreshers)"},
      {"opsy_kube_request_duration_seconds_count", ""},
      {"opsy_workqueue_adds_total", R"(name="ami-refresh")"},
      {"opsy_workqueue_work_duration_seconds_count", R"(name="ami-refresh")"},
      {"opsy_rollouts_started_total", R"(controller="ami-refresh")"},
      {"opsy_rollouts_finished_total", R"(controller="ami-refresh")"},
      {"opsy_rollout_group_duration_seconds_count", R"(controller="ami-refresh")"},
      {"opsy_rollout_groups", R"(phase="Succeeded")"},
  };
  std::string text;
  EXPECT_TRUE(eventually([&] {
    text = scrapeMetrics();
    return opsy::testing::uncounted(text, counted).empty();
  })) << "nothing counted in: "
      << fmt::format("{}", fmt::join(opsy::testing::uncounted(text, counted), ", ")) << "\n"
      << text;
  opsy::testing::PromtoolResult lint = opsy::testing::promtoolCheckMetrics(text);
  EXPECT_EQ(lint.exit_code, 0) << lint.output;
  for (const std::string& problem : lint.problems()) {
    ADD_FAILURE() << "promtool check metrics: " << problem;
  }
  EXPECT_GE(opsy::testing::sampleSum(text, "opsy_leader", R"(controller="ami-refresh")"), 0)
      << text;
}

// The running binary announces a rollout to every destination of spec.notifier: SNS and SES
// through its own AWS credentials and endpoint (signed, checked by the fake), the generic webhook
// signed with the key from a Secret; each counted as sent on /metrics.
TEST_F(AmiRefreshE2e, AnnouncesTheRolloutToSnsSesAndASignedWebhook) {
  const std::string topic =
      "arn:aws:sns:us-west-2:" + std::string(opsy::testing::kFakeAccountId) + ":opsy-events";
  aws_.addSnsTopic(topic);
  aws_.addSesIdentity("example.com");
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> hooks;  // signature, body
  auto server = std::make_unique<httplib::Server>();
  server->set_keep_alive_timeout(0);  // the controller's idle connection must not delay the end
  server->Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    hooks.emplace_back(req.get_header_value("X-Opsy-Timestamp") + " " +
                           req.get_header_value("X-Opsy-Signature-256"),
                       req.body);
    res.status = 204;
  });
  opsy::testing::LoopbackServer receiver(std::move(server));
  ASSERT_TRUE(kube_
                  .createObject(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"hook",)"
                                R"("namespace":"default"},"data":{"signingKey":"czNjcjN0"}})")
                  .has_value());

  aws_.setEksAutoCompleteAfter(1);
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(
      applySample(R"({"sns":{"topicArn":")" + topic +
                  R"("},"ses":{"from":"opsy@example.com","to":["platform@example.com"]},)"
                  R"("webhook":{"url":")" +
                  receiver.url("/hook") + R"(","secret":"hook"}})"));
  ASSERT_TRUE(eventually([&] { return ready(); })) << "Ready=True never reported";
  auto finished = [](const std::string& text) {
    return text.find("Rollout finished") != std::string::npos;
  };
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    bool sns = false;
    for (const auto& m : aws_.snsMessages()) {
      sns = sns || finished(m.subject);
    }
    bool ses = false;
    for (const auto& e : aws_.sesEmails()) {
      ses = ses || finished(e.subject);
    }
    bool hook = false;
    for (const auto& h : hooks) {
      hook = hook || finished(h.second);
    }
    return sns && ses && hook;
  })) << "not every destination heard of the finished rollout";

  for (const auto& m : aws_.snsMessages()) {
    EXPECT_EQ(m.topic_arn, topic);
    EXPECT_NE(m.message.find("default/node-group-ami-refresh"), std::string::npos) << m.message;
  }
  for (const auto& e : aws_.sesEmails()) {
    EXPECT_EQ(e.to, std::vector<std::string>{"platform@example.com"});
  }
  {
    std::lock_guard lock(mu);
    for (const auto& [stamp_and_signature, body] : hooks) {
      std::string timestamp = stamp_and_signature.substr(0, stamp_and_signature.find(' '));
      std::string signature = stamp_and_signature.substr(stamp_and_signature.find(' ') + 1);
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      std::string signed_text = timestamp + "." + body;
      HMAC(EVP_sha256(), "s3cr3t", 6, reinterpret_cast<const unsigned char*>(signed_text.data()),
           signed_text.size(), mac, &len);
      std::string hex;
      for (unsigned int i = 0; i < len; ++i) {
        hex += fmt::format("{:02x}", mac[i]);
      }
      EXPECT_EQ(signature, "sha256=" + hex) << body;
    }
  }
  // The counter moves just after the destination answered, so it is polled too.
  const std::vector<opsy::testing::MetricSelector> sent = {
      {"opsy_notifications_total", R"(destination="sns",result="sent")"},
      {"opsy_notifications_total", R"(destination="ses",result="sent")"},
      {"opsy_notifications_total", R"(destination="webhook",result="sent")"},
  };
  std::string metrics;
  EXPECT_TRUE(eventually([&] {
    metrics = scrapeMetrics();
    return opsy::testing::uncounted(metrics, sent).empty();
  })) << fmt::format("{}", fmt::join(opsy::testing::uncounted(metrics, sent), ", "))
      << "\n"
      << metrics;
}

// A controller killed (SIGKILL) while a group's update runs, then started again, follows that
// update instead of starting another: one launch template version and one update per group and
// target, however often the process dies.
TEST_F(AmiRefreshE2e, KilledMidRolloutDoesNotUpdateTheSameGroupTwice) {
  aws_.setEksAutoCompleteAfter(0);  // updates run until the test completes them
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample());

  // Killed once the update id is in status: the restarted process must follow that update.
  ASSERT_TRUE(eventually([&] {
    auto r = refresher();
    const NodegroupStatus* g = r ? group(*r, "workers-update") : nullptr;
    return g != nullptr && g->phase == Phase::Updating && !g->update_id.empty();
  })) << "the update never started";
  controller_->signal(SIGKILL);
  EXPECT_EQ(controller_->wait(std::chrono::seconds(5)), std::optional<int>(-SIGKILL));
  ASSERT_EQ(aws_.eksUpdates().size(), 1U);

  int describes_before = aws_.callCount("eks", "DescribeUpdate");
  ASSERT_NO_FATAL_FAILURE(startController());
  // The new process has looked at the running update.
  ASSERT_TRUE(
      eventually([&] { return aws_.callCount("eks", "DescribeUpdate") > describes_before; }));
  EXPECT_EQ(aws_.eksUpdates().size(), 1U);
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 2U);
  EXPECT_EQ(phaseOf("workers-update"), Phase::Updating);

  std::string update_id = aws_.eksUpdates()[0].id;
  ASSERT_TRUE(aws_.completeEksUpdate(update_id));
  ASSERT_NO_FATAL_FAILURE(touch("1"));
  ASSERT_TRUE(eventually([&] { return ready(); })) << "Ready=True never reported";
  EXPECT_EQ(phaseOf("workers-update"), Phase::Succeeded);
  EXPECT_EQ(aws_.eksUpdates().size(), 1U);
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 2U);
  EXPECT_EQ(aws_.callCount("eks", "UpdateNodegroupVersion"), 1);

  controller_->signal(SIGTERM);
  EXPECT_EQ(controller_->wait(std::chrono::seconds(35)), std::optional<int>(0));
}

// A controller killed between asking EKS for an update and recording the update's id (the call
// is slowed so the kill lands inside it) does not start a second update or create a second
// launch template version when it comes back; it follows the running update and then reports
// the group on the target.
TEST_F(AmiRefreshE2e, KilledWhileStartingAnUpdateDoesNotStartAnother) {
  aws_.setEksAutoCompleteAfter(0);
  aws_.addFault({.service = "eks",
                 .operation = "UpdateNodegroupVersion",
                 .kind = opsy::testing::FaultKind::Latency,
                 .count = 1,
                 .latency = std::chrono::seconds(3)});
  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_NO_FATAL_FAILURE(applySample());

  // Intent (phase Updating, no update id yet) is written just before the call; a second later
  // the call is inside the fake's three-second delay. (Were it not sent yet, the restart must
  // still make exactly one update, so the assertions hold either way.)
  ASSERT_TRUE(eventually([&] { return phaseOf("workers-update") == Phase::Updating; }));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  controller_->signal(SIGKILL);
  EXPECT_EQ(controller_->wait(std::chrono::seconds(5)), std::optional<int>(-SIGKILL));

  ASSERT_NO_FATAL_FAILURE(startController());
  ASSERT_TRUE(eventually([&] { return aws_.eksUpdates().size() == 1; }));
  std::string update_id = aws_.eksUpdates()[0].id;
  ASSERT_TRUE(aws_.completeEksUpdate(update_id));
  ASSERT_NO_FATAL_FAILURE(touch("1"));
  ASSERT_TRUE(eventually([&] { return ready(); })) << "Ready=True never reported";

  EXPECT_EQ(phaseOf("workers-update"), Phase::Succeeded);
  EXPECT_EQ(aws_.eksUpdates().size(), 1U);
  EXPECT_EQ(versionCount(aws_, kUpdateLt), 2U);
  EXPECT_EQ(aws_.nodegroup(std::string(kCluster), "workers-update")->launch_template->version, "2");

  controller_->signal(SIGTERM);
  EXPECT_EQ(controller_->wait(std::chrono::seconds(35)), std::optional<int>(0));
}

// --version and --help exit 0; an unknown flag or a bad value exits 2 and names the flag.
TEST_F(AmiRefreshE2e, FlagErrorsExitTwoNamingTheFlag) {
  struct Case {
    std::string flag;
    int exit_code;
    std::string output_part;
  };
  std::string binary =
      std::string(OPSY_BINARY_DIR) + "/ami-refresh-controller/ami-refresh-controller";
  int i = 0;
  for (const Case& c : std::vector<Case>{{"--version", 0, "ami-refresh-controller "},
                                         {"--help", 0, "--metrics-bind-address"},
                                         {"--bogus", 2, "--bogus"},
                                         {"--workers=many", 2, "--workers"}}) {
    std::string log = dir_ + "/flags-" + std::to_string(i++) + ".log";
    ChildProcess p({binary, c.flag}, {}, log);
    ASSERT_TRUE(p.start());
    EXPECT_EQ(p.wait(std::chrono::seconds(10)), std::optional<int>(c.exit_code)) << c.flag;
    EXPECT_NE(readFile(log).find(c.output_part), std::string::npos)
        << c.flag << ": " << readFile(log);
  }
}

}  // namespace
}  // namespace opsy::ami_refresh

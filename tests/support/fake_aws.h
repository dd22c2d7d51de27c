// File: fake_aws.h
//
// A fake AWS for tests and the demo: one loopback HTTP server with in-memory state that speaks
// the real wire protocols of EC2, EKS, Auto Scaling, STS, SNS and SES v2 (plus Slack's
// chat.postMessage), verifies SigV4 on every signed request, and injects throttling, 5xx,
// latency and dropped connections on demand. Where it and real AWS would differ, it is the bug.
// Requests are routed by the SigV4 credential scope's service, else by path, Version or Host.
// Node groups and Auto Scaling groups run EC2 instances that follow their updates and refreshes.
//
//   FakeAws aws({.clock = clock});  aws.addImage({.id = "ami-0123456789abcdef0", .name = "base"});
//   ASSERT_TRUE(aws.start());  client.setEndpoint(aws.endpoint());
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::testing {

inline constexpr std::string_view kFakeAccessKey = "AKIDEXAMPLE";
inline constexpr std::string_view kFakeSecretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
inline constexpr std::string_view kFakeAccountId = "123456789012";

using TagMap = std::map<std::string, std::string>;

// The image a group launches when it has no launch template, or its template names no image: for
// a managed node group, the EKS optimized AMI that EKS picks for the group's AMI type.
inline constexpr std::string_view kFakeEksOptimizedImageId = "ami-0e4b5c6d7e8f90123";

struct FakeImage {
  std::string id;  // "ami-" + 8 or 17 hex digits
  std::string name;
  std::string owner_id = std::string(kFakeAccountId);
  std::string owner_alias;  // "amazon" for Amazon-owned images, else empty
  std::string state = "available";
  std::string creation_date;  // ISO-8601 with millis, e.g. "2026-01-01T00:00:00.000Z"
  std::string architecture = "x86_64";
  std::string description;
  std::string deprecation_time;  // empty = not deprecated
  bool is_public = false;
  TagMap tags;
  std::vector<std::string> snapshot_ids;
  // The region that holds it: EC2 calls signed for another region do not see it. Empty (a
  // seeding convenience): visible in every served region. RegisterImage sets the call's region.
  std::string region;
};

// An EBS snapshot. Images added with snapshot ids create theirs (owned like the image); deleting
// one that a registered image uses is refused (InvalidSnapshot.InUse), as in EC2.
struct FakeSnapshot {
  std::string id;  // "snap-" + 17 hex digits
  std::string owner_id = std::string(kFakeAccountId);
  std::string volume_id;
  std::string state = "completed";
  std::string start_time;  // ISO-8601 with millis; empty: now
  int volume_size = 20;
  std::string description;
  bool is_public = false;  // createVolumePermission for all
  TagMap tags;
  // As FakeImage::region; an image's snapshots created by addImage share its region.
  std::string region;
};

struct FakeLaunchTemplateData {
  std::string image_id;
  std::string instance_type;
  std::string key_name;
  std::string user_data;  // base64, as on the wire
  std::vector<std::string> security_group_ids;
  bool operator==(const FakeLaunchTemplateData&) const = default;
};

struct FakeLaunchTemplateVersion {
  int64_t version_number = 0;
  std::string description;
  std::string create_time;  // ISO-8601
  FakeLaunchTemplateData data;
};

struct FakeLaunchTemplate {
  std::string id;  // "lt-" + 17 hex digits
  std::string name;
  int64_t default_version = 1;
  std::vector<FakeLaunchTemplateVersion> versions;  // numbered 1..N in order
  TagMap tags;
};

// The launch template a node group or ASG uses: id or name, plus a version ("3", "$Latest").
struct FakeLaunchTemplateRef {
  std::string id;
  std::string name;
  std::string version;
};

struct FakeCluster {
  std::string name;
  std::string version = "1.30";
  std::string status = "ACTIVE";
};

struct FakeScalingConfig {
  int min_size = 1;
  int max_size = 3;
  int desired_size = 2;
};

struct FakeHealthIssue {
  std::string code;  // e.g. "Ec2LaunchTemplateVersionMismatch", "AutoScalingGroupNotFound"
  std::string message;
  std::vector<std::string> resource_ids;
};

// A managed node group. Added, it launches `scaling.desired_size` running instances of the image
// its launch template version names (kFakeEksOptimizedImageId without one); a successful version
// update replaces them with instances of the version the update moved to.
struct FakeNodegroup {
  std::string cluster;
  std::string name;
  std::string status = "ACTIVE";
  std::string version = "1.30";
  std::string release_version;
  std::string ami_type = "CUSTOM";
  std::optional<FakeLaunchTemplateRef> launch_template;
  FakeScalingConfig scaling;
  std::vector<std::string> asg_names;  // resources.autoScalingGroups
  std::map<std::string, std::string> labels;
  TagMap tags;
  std::vector<FakeHealthIssue> health_issues;  // reported under health.issues
  // updateConfig: exactly one is set; EKS's default is maxUnavailable 1.
  std::optional<int> max_unavailable = 1;
  std::optional<int> max_unavailable_percentage;
  // Where its instances launch, in turn; empty: zones a, b and c of the fake's first region.
  std::vector<std::string> availability_zones;
};

struct FakeEksUpdateError {
  std::string error_code;
  std::string error_message;
  std::vector<std::string> resource_ids;
};

struct FakeEksUpdate {
  std::string id;
  std::string cluster;
  std::string nodegroup;
  std::string status = "InProgress";  // InProgress | Failed | Cancelled | Successful
  std::string type = "VersionUpdate";
  std::vector<std::pair<std::string, std::string>> params;
  TimePoint created_at;
  std::vector<FakeEksUpdateError> errors;
  std::string client_request_token;
  std::string request_fingerprint;
  FakeLaunchTemplateRef target_template;  // resolved version number
  int describe_calls = 0;
  // A ConfigUpdate's new updateConfig, applied to the node group when it succeeds.
  std::optional<int> target_max_unavailable;
  std::optional<int> target_max_unavailable_percentage;
};

struct FakeAsgTag {
  std::string key;
  std::string value;
  bool propagate_at_launch = true;
};

// A self-managed Auto Scaling group. Added, it launches `desired_capacity` running instances
// (none when a node group names it in asg_names: that group's instances are its instances); a
// successful instance refresh replaces them, and UpdateAutoScalingGroup's DesiredCapacity scales
// them. DescribeAutoScalingGroups lists its live instances under Instances.
struct FakeAutoScalingGroup {
  std::string name;
  std::optional<FakeLaunchTemplateRef> launch_template;
  int min_size = 1;
  int max_size = 3;
  int desired_capacity = 2;
  std::vector<std::string> availability_zones = {"us-east-1a"};
  std::vector<FakeAsgTag> tags;
};

struct FakeInstanceRefresh {
  std::string id;
  std::string asg_name;
  std::string status = "Pending";
  std::string status_reason;
  TimePoint start_time;
  std::optional<TimePoint> end_time;
  int percentage_complete = 0;
  int instances_to_update = 0;
  std::string strategy = "Rolling";
  std::map<std::string, std::string> preferences;  // "MinHealthyPercentage" -> "90", ...
  std::optional<FakeLaunchTemplateRef> desired_launch_template;
  int describe_calls = 0;
};

// A lifecycle hook of an Auto Scaling group. While an instance refresh runs on a group with an
// autoscaling:EC2_INSTANCE_TERMINATING hook, each instance it replaces waits in Terminating:Wait
// (still EC2 `running`) until CompleteLifecycleAction or its timeout, one instance at a time.
struct FakeLifecycleHook {
  std::string asg;
  std::string name;
  std::string
      transition;  // autoscaling:EC2_INSTANCE_TERMINATING | autoscaling:EC2_INSTANCE_LAUNCHING
  int heartbeat_timeout_seconds = 3600;    // 30..7200
  std::string default_result = "ABANDON";  // CONTINUE | ABANDON: applied when the wait times out
  std::string notification_target_arn;
  std::string role_arn;
  std::string notification_metadata;
};

// One instance waiting on one hook (Terminating:Wait).
struct FakeLifecycleWait {
  std::string asg;
  std::string hook;
  std::string instance_id;
  std::string token;  // the LifecycleActionToken, accepted instead of the instance id
  TimePoint started;
  // Heartbeats move it to now + the heartbeat timeout, never past the global timeout:
  // started + min(100 x heartbeat timeout, 48 h).
  TimePoint deadline;
};

// One end or heartbeat of a lifecycle action, in the order they happened.
struct FakeLifecycleAction {
  // CompleteLifecycleAction, RecordLifecycleActionHeartbeat, or "Timeout" when the wait ran out
  // and the hook's DefaultResult applied.
  std::string operation;
  std::string asg;
  std::string hook;
  std::string instance_id;
  std::string result;  // CONTINUE | ABANDON; empty for a heartbeat
  TimePoint time;
};

// An EC2 instance, as DescribeInstances reports it. The fake launches them for node groups and
// Auto Scaling groups; addInstance adds one of a test's own. Fields left empty are filled in at
// launch the way EC2 fills them.
struct FakeInstance {
  std::string id;  // "i-" + 17 hex digits; empty: the fake assigns one
  std::string image_id;
  std::string state = "running";  // pending|running|shutting-down|terminated|stopping|stopped
  std::string instance_type;      // empty: t3.medium (EKS's default instance type)
  std::string availability_zone;  // empty: zone a of the fake's first region
  // ip-10-0-1-23.us-west-2.compute.internal (ip-….ec2.internal in us-east-1); empty: derived from
  // the private IP. Kept here after termination, when DescribeInstances no longer reports it, so
  // a harness can find the Node it mirrored.
  std::string private_dns_name;
  std::string private_ip;                // empty: the fake assigns one in 10.0.0.0/16
  std::optional<TimePoint> launch_time;  // empty: now
  TagMap tags;  // groups add aws:autoscaling:groupName, eks:*, aws:ec2launchtemplate:*
  std::string nodegroup_cluster;  // a managed node group's instances: its cluster and name
  std::string nodegroup;
  std::string asg;  // the Auto Scaling group it belongs to (also a node group's own ASG)
  std::optional<FakeLaunchTemplateRef> launch_template;  // the version it was launched from
  std::string reservation_id;                            // "r-" + 17 hex; empty: a new one
  std::optional<TimePoint> terminated_at;  // set by the fake; EC2 lists it for an hour after
};

struct FakeSecurityGroup {
  std::string id;  // "sg-" + hex
  std::string name;
  std::string description = "fake security group";
  std::string vpc_id = "vpc-0a1b2c3d4e5f60718";
  std::string owner_id = std::string(kFakeAccountId);
  bool in_use = false;  // DeleteSecurityGroup fails with DependencyViolation while true
  TagMap tags;
};

struct FakeKeyPair {
  std::string id;  // "key-" + hex
  std::string name;
  std::string fingerprint = "1f:51:ae:28:bf:89:e9:d8:1f:25:5d:37:2d:7d:b8:ca:9f:f5:f1:6f";
  std::string type = "rsa";
  std::string create_time = "2026-01-01T00:00:00.000Z";
  TagMap tags;
};

struct FakeSnsMessage {
  std::string message_id;
  std::string topic_arn;
  std::string target_arn;
  std::string phone_number;
  std::string subject;
  std::string message;
};

struct FakeSesEmail {
  std::string message_id;
  std::string from;
  std::vector<std::string> to;
  std::vector<std::string> cc;
  std::vector<std::string> bcc;
  std::string subject;
  std::string text;
  std::string html;
};

struct FakeSlackPost {
  std::string channel;  // as resolved (channel id)
  std::string text;
  std::string blocks_json;  // raw JSON of "blocks", empty when absent
  std::string thread_ts;
  std::string ts;
};

// One request the fake answered (or dropped: status 0).
struct FakeCall {
  std::string service;    // "ec2", "eks", "autoscaling", "sts", "sns", "ses", "slack", "unknown"
  std::string operation;  // "DescribeImages", "UpdateNodegroupVersion", "chat.postMessage", ...
  int status = 0;
  // AWS error code or Slack "error", empty on success; "connection-dropped" for a Drop fault and
  // "unknown-region" for a request signed for a region the fake does not serve.
  std::string error_code;
  std::string region;  // the SigV4 scope's region (or the Host's), empty when neither names one
};

// Records of mutating calls, for assertions.
struct FakeTemplateDefaultChange {
  std::string launch_template_id;
  int64_t version = 0;
};

enum class FaultKind {
  Throttle,     // each service's real throttling error
  ServerError,  // 500 InternalError / InternalFailure / ServerException
  Unavailable,  // 503 Unavailable / ServiceUnavailable / ServiceUnavailableException
  Latency,      // sleeps `latency` then answers normally
  Drop,         // closes the connection without a response
  // 403 with each service's own denial: EC2 UnauthorizedOperation, EKS and SES v2
  // AccessDeniedException, Auto Scaling and STS AccessDenied, SNS AuthorizationError. The message
  // names the signer, the IAM action and (where the service does) the resource, as IAM words an
  // implicit deny; EC2 adds an encoded authorization message to denials of changes. Never fires
  // for sts:GetCallerIdentity, which no policy can deny. FakeAws::denyOperation is the shorthand.
  AccessDenied,
  // 404 text/plain with no AWS error code: what a wrong endpoint override or a proxy answers.
  BareNotFound,
};

struct FaultRule {
  std::string service;    // empty = any service
  std::string operation;  // empty = any operation of the service
  FaultKind kind = FaultKind::Throttle;
  double rate = 1.0;    // probability per matching call (seeded RNG)
  int count = -1;       // fire on the next `count` matching calls, then retire; -1 = unlimited
  Duration latency{0};  // for Latency
  int retry_after_seconds = 1;  // Slack 429 Retry-After
  // AccessDenied: appended to the service's message (services and proxies echo requests back).
  std::string message;
};

struct FakeAwsOptions {
  ClockPtr clock;  // defaults to the real clock
  std::string account_id = std::string(kFakeAccountId);
  // Credentials accepted for signed requests: access key -> secret key.
  std::map<std::string, std::string> credentials = {
      {std::string(kFakeAccessKey), std::string(kFakeSecretKey)}};
  // The regions whose endpoints exist. A request signed for any other region (or, unsigned, sent
  // to another region's host name) is what an SDK sends to an endpoint that does not resolve: the
  // fake closes the connection without answering. The default is every region the tests use.
  std::vector<std::string> regions = {"us-east-1", "us-west-2", "eu-west-1"};
  // When non-empty, the fake is this one region's endpoint (served even if not in `regions`): a
  // request scoped to another served region reaches it and gets the signature error a regional
  // endpoint answers. Also the region in ARNs of unsigned requests.
  std::string region;
  uint64_t seed = 42;
  // Bind address; tests use loopback only.
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
};

class FakeAws {
 public:
  explicit FakeAws(FakeAwsOptions options = {});
  ~FakeAws();
  FakeAws(const FakeAws&) = delete;
  FakeAws& operator=(const FakeAws&) = delete;

  [[nodiscard]] Status start();
  void stop();
  // "http://127.0.0.1:<port>"; valid after start().
  std::string endpoint() const;
  int port() const;

  // ---- configuration ----
  void addCredentials(const std::string& access_key, const std::string& secret_key);
  // Temporary credentials as STS would have issued them (with a session token), valid for the
  // issued lifetime from now.
  void addSessionCredentials(const std::string& access_key, const std::string& secret_key,
                             const std::string& session_token);
  // The web identity token AssumeRoleWithWebIdentity accepts (default "fake-web-identity-token").
  void setAcceptedWebIdentityToken(const std::string& token);
  // Lifetime of credentials issued by STS; they are accepted for signing until they expire.
  void setIssuedCredentialLifetime(std::chrono::seconds lifetime);
  void addSnsTopic(const std::string& topic_arn);
  // An SES identity (address or domain) that may send; unverified senders get MessageRejected.
  void addSesIdentity(const std::string& identity);
  void addSlackToken(const std::string& token);
  // A Slack channel: id ("C0123") and optional name ("alerts", "#alerts" also matches).
  void addSlackChannel(const std::string& id, const std::string& name = "");

  // ---- state: EC2 ----
  void addImage(FakeImage image);
  std::optional<FakeImage> image(const std::string& id) const;
  std::vector<FakeImage> images() const;
  std::vector<std::string> snapshots() const;
  void addSnapshot(const std::string& snapshot_id);
  void addSnapshot(FakeSnapshot snapshot);
  std::optional<FakeSnapshot> snapshot(const std::string& id) const;
  void addLaunchTemplate(FakeLaunchTemplate lt);
  std::optional<FakeLaunchTemplate> launchTemplate(const std::string& id_or_name) const;
  std::vector<FakeTemplateDefaultChange> defaultVersionChanges() const;
  void addSecurityGroup(FakeSecurityGroup group);
  std::vector<FakeSecurityGroup> securityGroups() const;
  void addKeyPair(FakeKeyPair key);
  std::vector<FakeKeyPair> keyPairs() const;

  // ---- state: EC2 instances ----
  // Adds (or, by id, replaces) an instance that belongs to no group unless its fields say so;
  // returns its id.
  std::string addInstance(FakeInstance instance);
  // Every instance, terminated ones included (also those EC2 no longer lists), in launch order.
  std::vector<FakeInstance> instances() const;
  // Moves an instance to pending, running, shutting-down, terminated, stopping or stopped. False
  // for an unknown id, any other state, or a terminated instance moved elsewhere (EC2 never
  // brings one back). Its group does not replace it.
  bool setInstanceState(const std::string& id, const std::string& state);
  // Calls `fn` after instances were launched or changed state (groups added, an update or refresh
  // finished, addInstance, setInstanceState, a scaling request), so a test harness can mirror
  // them into Kubernetes Node objects: read instances() in `fn` and converge. It runs outside the
  // fake's lock, one call at a time, on the thread that made the change (a server thread when a
  // request did), and before the method or request that made the change returns, so a test that
  // completes an update sees its Nodes mirrored. Changes `fn` makes itself are reported by one
  // more call once it returns. `fn` must not wait for a request to this fake that changes
  // instances: that request waits for `fn`. Replaces the previous callback; empty removes it.
  void onInstancesChanged(std::function<void()> fn);

  // ---- state: EKS ----
  void addCluster(FakeCluster cluster);
  void addNodegroup(FakeNodegroup nodegroup);
  std::optional<FakeNodegroup> nodegroup(const std::string& cluster, const std::string& name) const;
  std::vector<FakeEksUpdate> eksUpdates() const;
  // Replaces a node group's status and health issues (e.g. DEGRADED with a mismatch issue).
  bool setNodegroupHealth(const std::string& cluster, const std::string& name,
                          const std::string& status, std::vector<FakeHealthIssue> issues);
  // Finishes an update: the node group moves onto the target template version, ACTIVE, and a
  // version update replaces its instances with as many on the target version's image.
  bool completeEksUpdate(const std::string& update_id);
  bool failEksUpdate(const std::string& update_id, const std::string& error_code,
                     const std::string& message);
  // Automatic mode: an update succeeds on the N-th DescribeUpdate call (0 = manual, default).
  void setEksAutoCompleteAfter(int describe_calls);

  // ---- state: Auto Scaling ----
  void addAutoScalingGroup(FakeAutoScalingGroup group);
  std::optional<FakeAutoScalingGroup> autoScalingGroup(const std::string& name) const;
  std::vector<FakeInstanceRefresh> instanceRefreshes() const;
  // Names of the groups changed by UpdateAutoScalingGroup, in call order.
  std::vector<std::string> autoScalingGroupUpdates() const;
  // Finishes a refresh: the group moves onto the desired launch template, and its instances are
  // replaced by as many of that template version's image.
  bool completeInstanceRefresh(const std::string& id);
  bool failInstanceRefresh(const std::string& id, const std::string& reason);
  // Automatic mode: Pending -> InProgress on the first describe, Successful on the N-th. Not for
  // groups with a termination lifecycle hook: their refreshes move on ticks (below).
  void setInstanceRefreshAutoCompleteAfter(int describe_calls);
  // A hook of someone else's (PutLifecycleHook's rules are not checked). Replaces the group's
  // hook of that name.
  void addLifecycleHook(FakeLifecycleHook hook);
  std::vector<FakeLifecycleHook> lifecycleHooks(const std::string& asg) const;
  std::vector<FakeLifecycleWait> lifecycleWaits() const;
  // Completions, heartbeats and timeouts of lifecycle actions, oldest first.
  std::vector<FakeLifecycleAction> lifecycleActionLog() const;
  // What DescribeInstanceRefreshes, DescribeAutoScalingGroups and DescribeAutoScalingInstances
  // do first: end the waits whose deadline passed (the hook's DefaultResult), finish terminating
  // the instances whose wait ended, and move each refresh of a group with a termination hook on
  // by one instance when none of its instances waits.
  void tickInstanceRefreshes();

  // ---- state: notifications ----
  std::vector<FakeSnsMessage> snsMessages() const;
  std::vector<FakeSesEmail> sesEmails() const;
  std::vector<FakeSlackPost> slackPosts() const;

  // ---- call log and faults ----
  std::vector<FakeCall> calls() const;
  int callCount(std::string_view service, std::string_view operation) const;
  void clearCalls();
  // The call log so far, emptied in the same step (no call falls between reading and clearing),
  // for long runs that count calls window by window instead of keeping every call.
  std::vector<FakeCall> takeCalls();
  void addFault(FaultRule rule);
  // Denies one IAM action ("ec2:DescribeImages", "SNS:Publish"; the prefix is case-insensitive as
  // in IAM) on the next `count` calls (-1: until clearFaults), in the shape its service uses.
  // InvalidArgument for a service or operation the fake does not serve, and for
  // sts:GetCallerIdentity, which AWS answers whatever the policy says.
  [[nodiscard]] Status denyOperation(std::string_view iam_action, int count = -1);
  void clearFaults();

  // Loads a seed document (YAML or JSON; see fake_aws_seed.cc for the schema). Seeds merge into
  // the current state, so they can be applied while the server runs.
  [[nodiscard]] Status loadSeed(std::string_view text);

  // The whole state as JSON (images, templates, node groups, updates, refreshes, messages, call
  // log), for the demo and for debugging. Also served unsigned at GET /_fake/state; POST
  // /_fake/seed applies a seed document. Neither path exists in AWS, so no client can hit them by
  // mistake.
  std::string stateJson() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace opsy::testing

// File: fake_aws_internal.h
//
// Shared internals of FakeAws: the state behind the public API, the per-request context, and the
// helpers every service file uses (wire-format errors, XML/JSON writers, page tokens). Only the
// fake_aws*.cc files include it.
//
//   void FakeAws::Impl::handleEc2(Call& call) { ... ec2Error(call, 400, "InvalidAction", ...); }
#pragma once

#include <httplib.h>
#include <pugixml.hpp>

#include <atomic>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_aws.h"
#include "support/sigv4_verifier.h"

namespace opsy::testing {

// One request in flight.
struct Call {
  const httplib::Request& req;
  httplib::Response& res;
  std::string service;
  std::string operation;
  std::multimap<std::string, std::string> params;  // query-protocol parameters (form + query)
  std::string request_id;
  std::string error_code;
  std::string access_key;  // the signer, when the request was signed
  std::string region;      // the SigV4 scope's region, else the one a Host name carries
  bool drop = false;       // close the connection unanswered once the call is logged

  bool has(const std::string& k) const { return params.count(k) > 0; }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = params.find(k);
    return it == params.end() ? def : it->second;
  }
  // Values of Prefix.1, Prefix.2, ... (in index order, stopping at the first gap).
  std::vector<std::string> list(const std::string& prefix) const;
};

struct IssuedCredentials {
  std::string secret_key;
  std::string session_token;
  TimePoint expires;
  std::string arn;
  std::string user_id;
};

struct FakeAws::Impl {
  explicit Impl(FakeAwsOptions o);

  FakeAwsOptions options;
  ClockPtr clock;
  httplib::Server server;
  std::thread thread;
  int bound_port = 0;
  std::atomic<bool> running{false};

  mutable std::mutex mu;
  std::mt19937_64 rng;
  uint64_t id_counter = 0;

  // configuration
  std::map<std::string, std::string> credentials;
  std::map<std::string, IssuedCredentials> issued;
  std::string web_identity_token = "fake-web-identity-token";
  std::chrono::seconds issued_lifetime{3600};
  std::set<std::string> sns_topics;
  std::set<std::string> ses_identities;
  std::set<std::string> slack_tokens = {"xoxb-fake-token"};
  std::map<std::string, std::string> slack_channels;  // id -> name

  // EC2
  std::map<std::string, FakeImage> images;
  std::map<std::string, FakeSnapshot> snapshots;
  std::map<std::string, FakeLaunchTemplate> launch_templates;  // by id
  std::vector<FakeTemplateDefaultChange> default_changes;
  struct TokenUse {
    std::string fingerprint;
    std::string lt_id;
    int64_t version = 0;
  };
  std::map<std::string, TokenUse> lt_client_tokens;
  std::map<std::string, FakeSecurityGroup> security_groups;
  std::map<std::string, FakeKeyPair> key_pairs;  // by name
  std::vector<FakeInstance> instances;           // launch order
  std::map<std::string, size_t> instance_index;  // id -> position in `instances`
  uint64_t reservation_counter = 0;

  // onInstancesChanged: `instances_changed` is set under mu by every launch or state change and
  // taken by notifyInstancesChanged, which runs the hook outside mu, one run at a time.
  bool instances_changed = false;
  std::function<void()> instances_hook;
  std::mutex hook_mu;
  std::atomic<std::thread::id> hook_thread{};

  // EKS
  std::map<std::string, FakeCluster> clusters;
  std::map<std::pair<std::string, std::string>, FakeNodegroup> nodegroups;
  std::vector<FakeEksUpdate> eks_updates;
  int eks_auto_complete = 0;

  // Auto Scaling
  std::map<std::string, FakeAutoScalingGroup> asgs;
  std::vector<FakeInstanceRefresh> refreshes;
  std::vector<std::string> asg_updates;  // group names, one per UpdateAutoScalingGroup
  int refresh_auto_complete = 0;
  // Lifecycle hooks by group, in creation order; instances waiting on them (one entry per
  // instance and hook); instances shutting down because their last wait ended, terminated on the
  // next tick; the ids each hooked refresh set out to replace.
  std::map<std::string, std::vector<FakeLifecycleHook>> lifecycle_hooks;
  std::vector<FakeLifecycleWait> lifecycle_waits;
  std::set<std::string> lifecycle_proceeding;
  std::vector<FakeLifecycleAction> lifecycle_log;
  std::map<std::string, std::vector<std::string>> refresh_targets;  // refresh id -> instance ids

  // notifications
  std::vector<FakeSnsMessage> sns_messages;
  std::vector<FakeSesEmail> ses_emails;
  std::vector<FakeSlackPost> slack_posts;

  // call log and faults
  std::vector<FakeCall> calls;
  std::vector<FaultRule> faults;

  // ---- request pipeline (fake_aws.cc) ----
  void handle(const httplib::Request& req, httplib::Response& res);
  void route(Call& call);
  bool authenticate(Call& call);
  // Returns true when a fault answered (or dropped) the call.
  bool injectFault(Call& call);
  void sendServiceError(Call& call, const FaultRule& rule);
  void dispatch(Call& call);
  // False for a region outside options.regions (and not options.region).
  bool serves(const std::string& region) const;

  // ---- IAM denials (fake_aws_deny.cc) ----
  void sendAccessDenied(Call& call, const std::string& extra);
  // The principal ARN that signed the call, as GetCallerIdentity reports it. Caller holds mu.
  std::string callerArn(const std::string& access_key) const;
  // The ARN IAM names in a denial of this call, "" when the action has no resource type.
  std::string deniedResource(const Call& call);

  // ---- services ----
  void handleEc2(Call& call);
  void handleEks(Call& call);
  void handleAutoScaling(Call& call);
  void handleSts(Call& call);
  void handleSns(Call& call);
  void handleSes(Call& call);
  void handleSlack(Call& call);

  // EKS / ASG state helpers (callers hold mu)
  void finishEksUpdate(FakeEksUpdate& u, bool success, const std::string& code,
                       const std::string& message);
  // `replace` false: the refresh already replaced the instances one by one.
  void finishRefresh(FakeInstanceRefresh& r, bool success, const std::string& reason,
                     bool replace = true);

  // ---- lifecycle hooks (fake_aws_lifecycle.cc; callers hold mu) ----
  // PutLifecycleHook, DescribeLifecycleHooks, DeleteLifecycleHook, CompleteLifecycleAction,
  // RecordLifecycleActionHeartbeat, DescribeAutoScalingInstances; false for other operations.
  bool handleLifecycle(Call& call);
  void tickRefreshes();
  // Ends every wait whose deadline passed with its hook's DefaultResult.
  void expireLifecycleWaits();
  // The group's first autoscaling:EC2_INSTANCE_TERMINATING hook, nullptr without one.
  const FakeLifecycleHook* terminationHook(const std::string& asg) const;
  // InService, Pending, Terminating, Terminating:Wait or Terminating:Proceed.
  std::string asgLifecycleState(const FakeInstance& instance) const;
  // Ends waits[index] with `result`, logged as `operation`; the instance shuts down once it
  // waits on no other hook.
  void endLifecycleWait(size_t index, const std::string& operation, const std::string& result);

  // ---- EC2 instances (fake_aws_instances.cc; callers hold mu unless noted) ----
  void describeInstances(Call& call);
  // Fills EC2's defaults in, records it, marks instances changed; returns the id.
  std::string launchInstance(FakeInstance instance);
  void setInstanceStateLocked(FakeInstance& instance, const std::string& state);
  // Live (not terminated) instances of a node group, or of an ASG (whoever launched them).
  std::vector<FakeInstance*> nodegroupInstances(const std::string& cluster,
                                                const std::string& name);
  std::vector<FakeInstance*> asgInstances(const std::string& asg_name);
  // The node group whose asg_names names this ASG, nullptr for a self-managed group.
  const FakeNodegroup* nodegroupOwning(const std::string& asg_name) const;
  // Zones a, b and c of the fake's own region (else its first served region).
  std::vector<std::string> defaultZones() const;
  // Launches `count` copies of `shape` in one reservation, spread over `zones`, with the image,
  // type and template tags of the version `lt` resolves to (kFakeEksOptimizedImageId without).
  void launchBatch(int count, const FakeInstance& shape, const std::vector<std::string>& zones,
                   const std::optional<FakeLaunchTemplateRef>& lt);
  // Launches `count` instances of the group's current template version in one reservation;
  // `lt` overrides the group's template (an instance refresh's desired configuration).
  void launchForNodegroup(const FakeNodegroup& ng, int count,
                          const std::optional<FakeLaunchTemplateRef>& lt);
  void launchForAsg(const FakeAutoScalingGroup& g, int count);
  // The template version a reference resolves to (id, name and version number), nullopt when EC2
  // has no such template or version.
  std::optional<FakeLaunchTemplateRef> resolveTemplateRef(const FakeLaunchTemplateRef& ref) const;
  // Terminates the group's live instances and launches as many again from its (new) template:
  // what a finished rolling update or instance refresh leaves behind.
  void replaceNodegroupInstances(const FakeNodegroup& ng);
  void replaceAsgInstances(const FakeAutoScalingGroup& g);
  // A self-managed ASG's instance count brought to its desired capacity, oldest terminated first.
  void scaleAsg(const FakeAutoScalingGroup& g);
  // Runs the onInstancesChanged hook if anything changed. Caller must NOT hold mu.
  void notifyInstancesChanged();

  // ---- helpers (callers hold mu where state is touched) ----
  std::string newRequestId();
  std::string newHexId(const std::string& prefix, int digits);
  std::string newUuid();
  TimePoint now() const { return clock->now(); }
  // The region a call is for (its signature's), for ARNs and messages.
  std::string regionOf(const Call& call) const;
  std::string pageToken(const std::string& kind, const std::string& fingerprint, size_t offset);
  std::optional<size_t> parsePageToken(const std::string& token, const std::string& kind,
                                       const std::string& fingerprint);
  // awsQuery paging of a Describe call over `total` results: MaxRecords (default
  // `default_records`, at most `max_records`) and NextToken, a token of `kind` bound to the
  // call's other parameters. False when the call was answered with Auto Scaling's error.
  struct QueryPage {
    size_t begin = 0;
    size_t end = 0;
    // The NextToken to send, empty on the last page.
    std::string next_token;
  };
  bool queryPage(Call& call, const std::string& kind, size_t total, int default_records,
                 int max_records, QueryPage* page);
  std::optional<SigV4Secret> lookupKey(const std::string& access_key);
};

// ---- wire helpers ----
// <name>value</name> under `parent`.
inline void addText(pugi::xml_node parent, const char* name, const std::string& value) {
  parent.append_child(name).text() = value.c_str();
}
// An Auto Scaling <LaunchTemplate> (id, name, version: those that are set) under `parent`.
inline void writeLaunchTemplate(pugi::xml_node parent, const FakeLaunchTemplateRef& lt) {
  auto node = parent.append_child("LaunchTemplate");
  if (!lt.id.empty())
    addText(node, "LaunchTemplateId", lt.id);
  if (!lt.name.empty())
    addText(node, "LaunchTemplateName", lt.name);
  if (!lt.version.empty())
    addText(node, "Version", lt.version);
}
std::string xmlString(const pugi::xml_document& doc);
void setXml(Call& call, int status, const pugi::xml_document& doc);
// EC2 error: <Response><Errors><Error>... <RequestID>.
void ec2Error(Call& call, int status, const std::string& code, const std::string& message);
// awsQuery error: <ErrorResponse xmlns><Error><Type>...</Error><RequestId>.
void queryError(Call& call, int status, const std::string& code, const std::string& message,
                const std::string& xmlns, bool sender = true);
// REST-JSON error: X-Amzn-ErrorType header, {"message": ...} plus extra string fields.
void jsonError(Call& call, int status, const std::string& code, const std::string& message,
               const std::vector<std::pair<std::string, std::string>>& extra = {});
// awsQuery success skeleton: <OpResponse xmlns><OpResult/><ResponseMetadata><RequestId>.
pugi::xml_node queryResult(pugi::xml_document& doc, const Call& call, const std::string& xmlns);
std::string isoMillis(TimePoint t);
// AWS filter value match: '*' any run, '?' one character.
bool wildcardMatch(std::string_view pattern, std::string_view text);
// The matcher behind wildcardMatch: marks[i] is 'w' where pattern[i] may act as a wildcard.
bool wildcardMatchMarked(std::string_view pattern, std::string_view marks, std::string_view text);
std::string base64Encode(std::string_view data);

// ---- EC2 query helpers (fake_aws_ec2.cc), shared with fake_aws_instances.cc ----
struct Ec2Filter {
  std::string name;
  std::vector<std::string> values;
};
// Filter.N.Name / Filter.N.Value.M, in index order.
std::vector<Ec2Filter> parseEc2Filters(const Call& call);
// Values a resource exposes for one filter name; nullopt when the filter name is not supported.
using Ec2FieldFn = std::function<std::optional<std::vector<std::string>>(const std::string&)>;
// tag:<key>, tag-key and tag-value over a tag map; nullopt for any other filter name.
std::optional<std::vector<std::string>> ec2TagFilterValues(const TagMap& tags,
                                                           const std::string& name);
// The first filter name `field` does not support, if any.
std::optional<std::string> unknownEc2Filter(const std::vector<Ec2Filter>& filters,
                                            const Ec2FieldFn& field);
// Values OR'd (with wildcards) within a filter, filters AND'd.
bool matchesEc2Filters(const std::vector<Ec2Filter>& filters, const Ec2FieldFn& field);
// <OperationResponse xmlns><requestId/>, the root every EC2 answer starts from.
pugi::xml_node ec2Response(pugi::xml_document& doc, const Call& call);
// <tagSet><item><key/><value/></item></tagSet>; nothing for no tags, as EC2 omits it.
void addEc2TagSet(pugi::xml_node parent, const TagMap& tags);
// The call's parameters except `skip`, to bind page tokens to the query they page.
std::string ec2Fingerprint(const Call& call, std::initializer_list<const char*> skip);

inline constexpr const char* kEc2Xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/";
inline constexpr const char* kAsgXmlns = "http://autoscaling.amazonaws.com/doc/2011-01-01/";
inline constexpr const char* kStsXmlns = "https://sts.amazonaws.com/doc/2011-06-15/";
inline constexpr const char* kSnsXmlns = "http://sns.amazonaws.com/doc/2010-03-31/";

}  // namespace opsy::testing

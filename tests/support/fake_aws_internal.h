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
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
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
  std::set<std::string> snapshots;
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
  void finishRefresh(FakeInstanceRefresh& r, bool success, const std::string& reason);

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
  std::optional<SigV4Secret> lookupKey(const std::string& access_key);
};

// ---- wire helpers ----
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

inline constexpr const char* kEc2Xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/";
inline constexpr const char* kAsgXmlns = "http://autoscaling.amazonaws.com/doc/2011-01-01/";
inline constexpr const char* kStsXmlns = "https://sts.amazonaws.com/doc/2011-06-15/";
inline constexpr const char* kSnsXmlns = "http://sns.amazonaws.com/doc/2010-03-31/";

}  // namespace opsy::testing

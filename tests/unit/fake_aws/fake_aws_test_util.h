// File: fake_aws_test_util.h
//
// Test-only helpers for the fake AWS tests: a fixture that runs FakeAws on loopback with a fixed
// FakeClock, and a minimal SigV4 signer built on the verifier's canonicalisation functions, so
// requests are hand-built and hand-signed without libopsy's AWS clients.
//
//   auto res = query("ec2", "Action=DescribeImages&Version=2016-11-15");
#pragma once

// Tests build fixtures with designated initializers and rely on member defaults for the rest;
// GCC's -Wextra would flag every omitted member.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <gtest/gtest.h>
#include <httplib.h>
#include <pugixml.hpp>

#include <memory>
#include <string>

#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"
#include "support/fake_aws.h"
#include "support/sigv4_verifier.h"

namespace opsy::testing {

struct SignSpec {
  std::string access_key = std::string(kFakeAccessKey);
  std::string secret_key = std::string(kFakeSecretKey);
  std::string session_token;
  std::string region = "us-east-1";
  std::string service;  // empty = do not sign
  std::optional<TimePoint> when;
};

struct SentRequest {
  std::string method = "POST";
  std::string target = "/";
  std::string body;
  std::string content_type;
  httplib::Headers headers;
};

inline void signInto(SentRequest& r, const std::string& host, const SignSpec& spec,
                     TimePoint when) {
  std::string amz_date = formatAmzDate(when);
  std::string date = amz_date.substr(0, 8);
  r.headers.emplace("Host", host);
  r.headers.emplace("X-Amz-Date", amz_date);
  std::vector<std::pair<std::string, std::string>> hs = {{"host", host}, {"x-amz-date", amz_date}};
  std::vector<std::string> names = {"host", "x-amz-date"};
  if (!r.content_type.empty()) {
    hs.emplace_back("content-type", r.content_type);
    names.insert(names.begin(), "content-type");
  }
  if (!spec.session_token.empty()) {
    r.headers.emplace("X-Amz-Security-Token", spec.session_token);
    hs.emplace_back("x-amz-security-token", spec.session_token);
    names.push_back("x-amz-security-token");
  }
  std::string signed_names;
  for (const auto& n : names) {
    signed_names += (signed_names.empty() ? "" : ";") + n;
  }
  size_t q = r.target.find('?');
  std::string path = r.target.substr(0, q);
  std::string query = q == std::string::npos ? "" : r.target.substr(q + 1);
  std::string creq = canonicalRequest(r.method, canonicalUri(path, true), canonicalQuery(query),
                                      canonicalHeaders(hs, names), signed_names, sha256Hex(r.body));
  std::string scope = date + "/" + spec.region + "/" + spec.service + "/aws4_request";
  std::string sig = sigV4Signature(spec.secret_key, date, spec.region, spec.service,
                                   stringToSign(amz_date, scope, creq));
  r.headers.emplace("Authorization", "AWS4-HMAC-SHA256 Credential=" + spec.access_key + "/" +
                                         scope + ", SignedHeaders=" + signed_names +
                                         ", Signature=" + sig);
}

class FakeAwsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<FakeClock>(parseRfc3339("2026-03-01T12:00:00Z").value());
    FakeAwsOptions options;
    options.clock = clock_;
    aws_ = std::make_unique<FakeAws>(options);
    ASSERT_TRUE(aws_->start());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", aws_->port());
    client_->set_read_timeout(5, 0);
  }
  void TearDown() override { aws_->stop(); }

  std::string host() const { return "127.0.0.1:" + std::to_string(aws_->port()); }

  httplib::Result send(SentRequest r, const SignSpec& spec) {
    if (!spec.service.empty()) {
      signInto(r, host(), spec, spec.when.value_or(clock_->now()));
    } else {
      r.headers.emplace("Host", host());
    }
    if (r.method == "GET") {
      return client_->Get(r.target.c_str(), r.headers);
    }
    return client_->Post(r.target.c_str(), r.headers, r.body, r.content_type.c_str());
  }

  // A query-protocol POST (EC2, Auto Scaling, STS, SNS), signed for `service`.
  httplib::Result query(const std::string& service, const std::string& body, SignSpec spec = {}) {
    spec.service = spec.service.empty() ? service : spec.service;
    return send({"POST", "/", body, "application/x-www-form-urlencoded; charset=utf-8", {}}, spec);
  }
  httplib::Result ec2(const std::string& params) {
    return query("ec2", "Version=2016-11-15&" + params);
  }
  httplib::Result asg(const std::string& params) {
    return query("autoscaling", "Version=2011-01-01&" + params);
  }
  httplib::Result eksGet(const std::string& target) {
    return send({"GET", target, "", "", {}}, SignSpec{.service = "eks"});
  }
  httplib::Result eksPost(const std::string& target, const std::string& json) {
    return send({"POST", target, json, "application/json", {}}, SignSpec{.service = "eks"});
  }

  static pugi::xml_document parseXml(const std::string& body) {
    pugi::xml_document doc;
    EXPECT_TRUE(doc.load_string(body.c_str())) << body;
    return doc;
  }
  // Text of the first element named `name` anywhere in the document.
  static std::string xmlText(const std::string& body, const std::string& name) {
    auto doc = parseXml(body);
    auto node = doc.select_node(("//" + name).c_str());
    return node ? node.node().text().as_string() : "";
  }
  static std::vector<std::string> xmlTexts(const std::string& body, const std::string& xpath) {
    auto doc = parseXml(body);
    std::vector<std::string> out;
    for (const auto& n : doc.select_nodes(xpath.c_str())) {
      out.emplace_back(n.node().text().as_string());
    }
    return out;
  }

  std::shared_ptr<FakeClock> clock_;
  std::unique_ptr<FakeAws> aws_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace opsy::testing

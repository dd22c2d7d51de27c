// File: aws_test_util.h
//
// Shared set-up for the AWS client tests: a scripted transport, a fake clock fixed at
// 2026-11-21T05:35:00Z, static credentials, a region, and helpers to read a form body back.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "opsy/aws/client_options.h"
#include "opsy/aws/sigv4.h"
#include "opsy/core/fake_clock.h"
#include "opsy/core/time_format.h"
#include "support/scripted_transport.h"

namespace opsy::aws {

inline TimePoint at(const char* rfc3339) {
  return parseRfc3339(rfc3339).value();
}

struct ClientHarness {
  std::shared_ptr<test::ScriptedTransport> transport = std::make_shared<test::ScriptedTransport>();
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>(at("2026-11-21T05:35:00Z"));

  ClientOptions options(std::map<std::string, std::string> env = {}) const {
    Credentials c;
    c.access_key_id = "AKIATESTCLIENT";
    c.secret_access_key = "client-secret-access-key";
    ClientOptions o;
    o.region = "eu-west-1";
    o.transport = transport;
    o.credentials = makeStaticProvider(c);
    o.clock = clock;
    o.env = mapEnv(std::move(env));
    o.retry.random = [] { return 1.0; };
    return o;
  }
};

// The decoded name=value pairs of a form body, in order.
inline std::vector<std::pair<std::string, std::string>> formPairs(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= body.size() && !body.empty()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string::npos) {
      amp = body.size();
    }
    std::string pair = body.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    out.emplace_back(uriDecode(pair.substr(0, eq)),
                     eq == std::string::npos ? "" : uriDecode(pair.substr(eq + 1)));
    pos = amp + 1;
  }
  return out;
}

inline std::map<std::string, std::string> formMap(const std::string& body) {
  std::map<std::string, std::string> out;
  for (auto& [k, v] : formPairs(body)) {
    out[k] = v;
  }
  return out;
}

}  // namespace opsy::aws

// SigV4 signing cost: every AWS call of both controllers is signed, and botocore is the yardstick
// (bench/sigv4_vs_botocore.py signs the same request there and prints the ratio).
#include <benchmark/benchmark.h>

#include "opsy/aws/sigv4.h"
#include "opsy/core/time_format.h"

namespace {

// The request bench/sigv4_vs_botocore.py signs too: EC2 DescribeImages over the query protocol,
// with temporary credentials, as the builder sends it every period.
opsy::http::Request describeImages() {
  opsy::http::Request r;
  r.method = "POST";
  r.url = "https://ec2.us-west-2.amazonaws.com/";
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
               {"User-Agent", "packer-builder-controller/0.1.0"}};
  r.body =
      "Action=DescribeImages&Version=2016-11-15&Owner.1=self&Filter.1.Name=tag%3Aami.refresh.ops"
      "%2Fbuilder&Filter.1.Value.1=ci%2Fbase-al2023&Filter.2.Name=tag%3Astatus&Filter.2.Value.1="
      "active&MaxResults=1000";
  return r;
}

const opsy::aws::Credentials& credentials() {
  static const opsy::aws::Credentials c{
      .access_key_id = "ASIAEXAMPLEEXAMPLE01",
      .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      .session_token = std::string(800, 'T')};
  return c;
}

void BM_SignEc2Request(benchmark::State& state) {
  const opsy::TimePoint now = opsy::parseRfc3339("2026-12-01T12:00:00Z").value();
  for (auto _ : state) {
    opsy::http::Request r = describeImages();
    auto parts = opsy::aws::signRequest(r, credentials(), "us-west-2", "ec2", now);
    benchmark::DoNotOptimize(parts);
  }
}
BENCHMARK(BM_SignEc2Request);
// Fixed counts, for counting instructions under callgrind (sigv4_vs_botocore.py --instructions):
// the difference between the two is the cost of 200 signatures without any one-time set-up.
BENCHMARK(BM_SignEc2Request)->Iterations(200);
BENCHMARK(BM_SignEc2Request)->Iterations(400);

void BM_HmacSha256(benchmark::State& state) {
  const std::string key(32, 'k');
  const std::string data(200, 'd');
  for (auto _ : state) {
    benchmark::DoNotOptimize(opsy::aws::hmacSha256(key, data));
  }
}
BENCHMARK(BM_HmacSha256);

}  // namespace

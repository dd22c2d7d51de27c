#include "opsy/core/flags.h"

#include <gtest/gtest.h>

#include <map>

namespace opsy {
namespace {

using std::chrono::seconds;

struct Opts {
  std::string metrics = ":8080";
  int workers = 2;
  bool leader_elect = false;
  Duration resync = std::chrono::minutes(10);
  std::vector<std::string> namespaces;
};

class FlagsTest : public ::testing::Test {
 protected:
  FlagsTest() : flags_("test-controller", "1.2.3", "Does things.") {
    flags_.addString("metrics-bind-address", &opts_.metrics, "Metrics address.", "TEST_METRICS");
    flags_.addInt("workers", &opts_.workers, "Worker count.", "TEST_WORKERS");
    flags_.addBool("leader-elect", &opts_.leader_elect, "Elect a leader.", "TEST_LEADER");
    flags_.addDuration("resync", &opts_.resync, "Resync period.");
    flags_.addStringList("namespace", &opts_.namespaces, "Namespace.", "TEST_NAMESPACES");
  }
  Result<FlagSet::Outcome> parse(std::vector<std::string> args) {
    return flags_.parse(
        args,
        [this](const std::string& k) -> std::optional<std::string> {
          auto it = env_.find(k);
          return it == env_.end() ? std::nullopt : std::optional<std::string>(it->second);
        },
        &out_);
  }
  Opts opts_;
  FlagSet flags_;
  std::map<std::string, std::string> env_;
  std::string out_;
};

// Both --name=value and --name value forms work, and bare booleans mean true.
TEST_F(FlagsTest, ParsesAllForms) {
  auto r = parse({"--metrics-bind-address=:9090", "--workers", "4", "--leader-elect",
                  "--resync=90s", "--namespace", "a", "--namespace=b", "extra"});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, FlagSet::Outcome::Run);
  EXPECT_EQ(opts_.metrics, ":9090");
  EXPECT_EQ(opts_.workers, 4);
  EXPECT_TRUE(opts_.leader_elect);
  EXPECT_EQ(opts_.resync, seconds(90));
  EXPECT_EQ(opts_.namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(flags_.positional(), std::vector<std::string>{"extra"});
}

// The command line beats the environment, which beats the default.
TEST_F(FlagsTest, EnvironmentIsFallback) {
  env_ = {{"TEST_METRICS", ":7000"},
          {"TEST_WORKERS", "8"},
          {"TEST_LEADER", "true"},
          {"TEST_NAMESPACES", "x,y"}};
  ASSERT_TRUE(parse({"--workers=3"}).has_value());
  EXPECT_EQ(opts_.metrics, ":7000");
  EXPECT_EQ(opts_.workers, 3);
  EXPECT_TRUE(opts_.leader_elect);
  EXPECT_EQ(opts_.namespaces, (std::vector<std::string>{"x", "y"}));
  ASSERT_TRUE(parse({"--namespace=z"}).has_value());
  EXPECT_EQ(opts_.namespaces, std::vector<std::string>{"z"});
}

// Errors name the flag (and the variable when the value came from the environment).
TEST_F(FlagsTest, ErrorsNameTheFlag) {
  auto r = parse({"--workers=many"});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("--workers"), std::string::npos) << r.error().message;
  r = parse({"--resync=0s"});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("--resync"), std::string::npos);
  r = parse({"--bogus"});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("unknown flag --bogus"), std::string::npos);
  r = parse({"--workers"});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("needs a value"), std::string::npos);
  env_ = {{"TEST_LEADER", "maybe"}};
  r = parse({});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("$TEST_LEADER"), std::string::npos) << r.error().message;
}

// --help lists every flag with its default and variable; --version prints the version.
TEST_F(FlagsTest, HelpAndVersion) {
  ASSERT_EQ(parse({"--help"}).value(), FlagSet::Outcome::HelpShown);
  EXPECT_NE(out_.find("--metrics-bind-address string"), std::string::npos) << out_;
  EXPECT_NE(out_.find("(default :8080)"), std::string::npos) << out_;
  EXPECT_NE(out_.find("[env $TEST_WORKERS]"), std::string::npos) << out_;
  EXPECT_NE(out_.find("(default 10m)"), std::string::npos) << out_;
  ASSERT_EQ(parse({"--version"}).value(), FlagSet::Outcome::VersionShown);
  EXPECT_EQ(out_, "test-controller 1.2.3\n");
}

}  // namespace
}  // namespace opsy

#include "opsy/packer/command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

namespace opsy::packer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// With no commands the plan is the seeds' default, plus the machine-readable flag that lets the
// controller find the built image.
TEST(PlanCommands, DefaultPlan) {
  auto plan = planCommands({});
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_EQ(plan->display,
            "packer init . && packer validate . && packer build -color=false -machine-readable .");
  ASSERT_EQ(plan->steps.size(), 3u);
  EXPECT_THAT(plan->steps[0].argv, ElementsAre("packer", "init", "."));
}

// The seed sample: only a build command; init and validate are added, the base image and region
// go to validate and build, and debug turns into PACKER_LOG rather than Packer's -debug.
TEST(PlanCommands, SeedSampleWithFilters) {
  PlanInputs in;
  in.commands = {CommandSpec{.sub_command = "build",
                             .args = {"-force"},
                             .color = false,
                             .debug = true,
                             .on_error = "cleanup"}};
  in.base_ami = "ami-05da30e98c637628c";
  in.region = "us-west-2";
  auto plan = planCommands(in);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_THAT(plan->steps[1].argv,
              ElementsAre("packer", "validate", "-var", "ami_id=ami-05da30e98c637628c", "-var",
                          "region=us-west-2", "."));
  EXPECT_THAT(plan->steps[2].argv,
              ElementsAre("packer", "build", "-force", "-var", "ami_id=ami-05da30e98c637628c",
                          "-var", "region=us-west-2", "-on-error=cleanup", "-color=false",
                          "-machine-readable", "."));
  EXPECT_TRUE(plan->steps[2].debug);
  EXPECT_FALSE(plan->steps[0].debug);
  EXPECT_EQ(plan->display,
            "packer init . && packer validate -var ami_id=ami-05da30e98c637628c -var "
            "region=us-west-2 . && PACKER_LOG=1 packer build -force -var "
            "ami_id=ami-05da30e98c637628c -var region=us-west-2 -on-error=cleanup -color=false "
            "-machine-readable .");
}

// Commands given in any order run as init, validate, build; variables are sorted, validate sees
// build's variables and var-file, and the found base image overrides a spec value.
TEST(PlanCommands, OrderVariablesAndOverrides) {
  PlanInputs in;
  in.commands = {
      CommandSpec{
          .sub_command = "build",
          .color = true,
          .variables = {{"zone", "b"}, {"ami_id", "ami-from-spec"}, {"eks_version", "1.30"}},
          .variables_file = "al2_amd64.pkrvars.hcl",
          .working_dir = "images/al2023"},
      CommandSpec{.sub_command = "init", .args = {"-upgrade"}},
  };
  in.base_ami = "ami-0base";
  in.region = "eu-west-1";
  auto plan = planCommands(in);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_THAT(plan->steps[0].argv, ElementsAre("packer", "init", "-upgrade", "."));
  EXPECT_THAT(plan->steps[1].argv,
              ElementsAre("packer", "validate", "-var", "ami_id=ami-0base", "-var",
                          "eks_version=1.30", "-var", "region=eu-west-1", "-var", "zone=b",
                          "-var-file=al2_amd64.pkrvars.hcl", "."));
  EXPECT_THAT(plan->steps[2].argv,
              ElementsAre("packer", "build", "-var", "ami_id=ami-0base", "-var", "eks_version=1.30",
                          "-var", "region=eu-west-1", "-var", "zone=b",
                          "-var-file=al2_amd64.pkrvars.hcl", "-machine-readable", "images/al2023"));
}

struct BadCase {
  CommandSpec spec;
  const char* field;
  const char* why;
};

class PlanCommandsInvalid : public ::testing::TestWithParam<BadCase> {};

// Invalid commands are refused with the field path named, never run.
TEST_P(PlanCommandsInvalid, NamesTheField) {
  PlanInputs in;
  in.commands = {CommandSpec{.sub_command = "init"}, GetParam().spec};
  auto plan = planCommands(in);
  ASSERT_FALSE(plan.has_value());
  EXPECT_EQ(plan.error().code, ErrorCode::InvalidArgument);
  EXPECT_THAT(plan.error().message, HasSubstr(GetParam().field));
  EXPECT_THAT(plan.error().message, HasSubstr(GetParam().why));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PlanCommandsInvalid,
    ::testing::Values(
        BadCase{{.sub_command = "build", .on_error = "ask"},
                "spec.builder.commands[1].onError",
                "unsupported value \"ask\""},
        BadCase{{.sub_command = "fmt"}, "spec.builder.commands[1].subCommand", "\"fmt\""},
        BadCase{{.sub_command = "init"}, "spec.builder.commands[1].subCommand", "a second"},
        BadCase{{.sub_command = "validate", .on_error = "abort"},
                "spec.builder.commands[1].onError",
                "only a build"},
        BadCase{{.sub_command = "build", .args = {"-debug"}},
                "spec.builder.commands[1].args[0]",
                "key presses"},
        BadCase{{.sub_command = "build", .args = {"-force", "--on-error=ask"}},
                "spec.builder.commands[1].args[1]",
                "hang"},
        BadCase{{.sub_command = "build", .variables = {{"a b", "x"}}},
                "spec.builder.commands[1].variables[a b]",
                "variable name"}));

std::vector<std::string> shellWords(const std::string& quoted_words) {
  std::string cmd = "printf '%s\\n' " + quoted_words;
  std::FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) {
    out.append(buf, n);
  }
  pclose(p);
  std::vector<std::string> words;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    words.push_back(out.substr(start, nl - start));
    start = nl + 1;
  }
  return words;
}

// Shell metacharacters in every string field reach Packer as literal argv entries, and the
// displayed command, if pasted into a shell, passes exactly the same words.
TEST(PlanCommands, MetacharactersStayLiteral) {
  const std::string evil =
      "$(touch /tmp/pwned) `id` ; rm -rf / && echo 'q' \"d\" | cat > x $HOME *";
  PlanInputs in;
  in.commands = {
      CommandSpec{.sub_command = "init", .args = {evil}, .working_dir = evil},
      CommandSpec{.sub_command = "build",
                  .args = {evil, "-only=" + evil},
                  .variables = {{"v", evil}},
                  .variables_file = evil,
                  .working_dir = evil},
  };
  in.base_ami = evil;
  in.region = evil;
  auto plan = planCommands(in);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  const Step& build = plan->steps[2];
  EXPECT_EQ(build.argv[2], evil);
  EXPECT_EQ(build.argv[3], "-only=" + evil);
  EXPECT_EQ(build.argv[5], "ami_id=" + evil);
  EXPECT_EQ(build.argv.back(), evil);
  for (const Step& step : plan->steps) {
    std::string quoted;
    for (const std::string& word : step.argv) {
      quoted += shellQuote(word) + " ";
    }
    EXPECT_EQ(shellWords(quoted), step.argv);
  }
}

// Quoting leaves plain words alone and wraps anything else, including embedded single quotes.
TEST(ShellQuote, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(shellQuote("-var-file=al2.pkrvars.hcl"), "-var-file=al2.pkrvars.hcl");
  EXPECT_EQ(shellQuote("a b"), "'a b'");
  EXPECT_EQ(shellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(shellQuote(""), "''");
}

}  // namespace
}  // namespace opsy::packer

#include "opsy/packer/build_output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace opsy::packer {
namespace {

using ::testing::ElementsAre;

// A machine-readable log yields the artifact per region and the temporary resources Packer made.
TEST(ParseBuildOutput, MachineReadableArtifactsAndTemporaries) {
  const char* log =
      "1732170000,,ui,say,==> amazon-ebs.al2023: Prevalidating any provided VPC information\n"
      "1732170001,,ui,say,==> amazon-ebs.al2023: Creating temporary keypair: "
      "packer_673f0a11-1111-2222-3333-444455556666\n"
      "1732170002,,ui,say,==> amazon-ebs.al2023: Creating temporary security group for this "
      "instance: packer_673f0a12-aaaa-bbbb-cccc-ddddeeeeffff\n"
      "1732170900,amazon-ebs.al2023,artifact-count,1\n"
      "1732170900,amazon-ebs.al2023,artifact,0,builder-id,mitchellh.amazonebs\n"
      "1732170900,amazon-ebs.al2023,artifact,0,id,us-west-2:ami-0abc1234def567890%!(PACKER_COMMA)"
      "us-east-1:ami-0fed9876cba543210\n"
      "1732170900,amazon-ebs.al2023,artifact,0,end\n";
  BuildOutput out = parseBuildOutput(log);
  ASSERT_EQ(out.artifacts.size(), 2u);
  EXPECT_EQ(out.artifacts[0].builder, "amazon-ebs.al2023");
  EXPECT_EQ(out.imageIn("us-west-2"), "ami-0abc1234def567890");
  EXPECT_EQ(out.imageIn("us-east-1"), "ami-0fed9876cba543210");
  EXPECT_THAT(out.temporary_key_pairs, ElementsAre("packer_673f0a11-1111-2222-3333-444455556666"));
  EXPECT_THAT(out.temporary_security_groups,
              ElementsAre("packer_673f0a12-aaaa-bbbb-cccc-ddddeeeeffff"));
  EXPECT_FALSE(out.last_error.has_value());
}

// The human output's "AMIs were created" block is understood too (a project may drop the flag).
TEST(ParseBuildOutput, HumanReadableArtifacts) {
  const char* log =
      "==> amazon-ebs.al2023: Creating temporary keypair: packer_abc\n"
      "==> Builds finished. The artifacts of successful builds are:\n"
      "--> amazon-ebs.al2023: AMIs were created:\n"
      "us-west-2: ami-01308454f3364cf58\n"
      "\n";
  BuildOutput out = parseBuildOutput(log);
  ASSERT_EQ(out.artifacts.size(), 1u);
  EXPECT_EQ(out.artifacts[0].region, "us-west-2");
  EXPECT_EQ(out.artifacts[0].image_id, "ami-01308454f3364cf58");
  EXPECT_THAT(out.temporary_key_pairs, ElementsAre("packer_abc"));
}

// A failed build reports its last error and no artifact.
TEST(ParseBuildOutput, FailedBuildKeepsLastError) {
  const char* log =
      "1732170001,,ui,say,==> amazon-ebs.al2023: Creating temporary keypair: packer_k1\n"
      "1732170100,,ui,error,Build 'amazon-ebs.al2023' errored after 1 minute: Error waiting for "
      "instance\\n timeout\n";
  BuildOutput out = parseBuildOutput(log);
  EXPECT_TRUE(out.artifacts.empty());
  ASSERT_TRUE(out.last_error.has_value());
  EXPECT_EQ(*out.last_error,
            "Build 'amazon-ebs.al2023' errored after 1 minute: Error waiting for instance\n "
            "timeout");
  EXPECT_FALSE(out.imageIn("us-west-2").has_value());
}

// Garbage and truncated lines are ignored, not fatal.
TEST(ParseBuildOutput, IgnoresGarbage) {
  BuildOutput out = parseBuildOutput("\x01\x02,,,\n123,\n,,artifact,0,id\nami-0123 us-west-2\n");
  EXPECT_TRUE(out.artifacts.empty());
  EXPECT_TRUE(out.temporary_key_pairs.empty());
}

}  // namespace
}  // namespace opsy::packer

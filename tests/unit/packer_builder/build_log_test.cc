#include "packer-builder-controller/build_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mocks/kube_client_mock.h"

namespace opsy::packer_builder {
namespace {

using ::testing::_;
using ::testing::AllOf;
using ::testing::Field;
using ::testing::InSequence;
using ::testing::Optional;
using ::testing::Return;
using ::testing::StrictMock;

auto tailRequest() {
  return AllOf(Field(&kube::PodLogOptions::container, "packer-build"),
               Field(&kube::PodLogOptions::tail_lines, Optional(kBuildLogTailLines)),
               Field(&kube::PodLogOptions::limit_bytes, Optional(kBuildLogTailBytes)));
}

auto headRequest() {
  return AllOf(Field(&kube::PodLogOptions::container, "packer-build"),
               Field(&kube::PodLogOptions::tail_lines, ::testing::Eq(std::nullopt)),
               Field(&kube::PodLogOptions::limit_bytes, Optional(kBuildLogHeadBytes)));
}

std::string lines(std::int64_t n, const std::string& text) {
  std::string out;
  for (std::int64_t i = 0; i < n; ++i) {
    out += text + "\n";
  }
  return out;
}

// A log shorter than the tail is the whole log: one bounded request for the end of it.
TEST(BuildLog, ShortLogIsReadInOneTailRequest) {
  StrictMock<kube::MockPodLogReader> logs;
  EXPECT_CALL(logs, podLog("ci", "pb-j1-abcde", tailRequest()))
      .WillOnce(Return(std::string("start\n1,b,artifact,0,id,us-west-2:ami-0abc\n")));
  auto text = readBuildLog(logs, "ci", "pb-j1-abcde");
  ASSERT_TRUE(text.has_value()) << text.error().toString();
  EXPECT_EQ(*text, "start\n1,b,artifact,0,id,us-west-2:ami-0abc\n");
}

// A longer log is read as its start (Packer's setup lines) and its end (artifacts, errors); the
// start keeps whole lines only, so a name cut by limitBytes is never read as a resource.
TEST(BuildLog, LongLogIsItsWholeStartLinesThenItsTail) {
  StrictMock<kube::MockPodLogReader> logs;
  std::string tail = lines(kBuildLogTailLines, "provisioner output");
  std::string head = "Creating temporary keypair: packer_0001\n";
  head += std::string(static_cast<size_t>(kBuildLogHeadBytes) - head.size() - 8, 'x') + "\n";
  head += "Creatin";  // cut by the byte limit
  ASSERT_EQ(std::ssize(head), kBuildLogHeadBytes);
  {
    InSequence seq;
    EXPECT_CALL(logs, podLog("ci", "p", tailRequest())).WillOnce(Return(tail));
    EXPECT_CALL(logs, podLog("ci", "p", headRequest())).WillOnce(Return(head));
  }
  auto text = readBuildLog(logs, "ci", "p");
  ASSERT_TRUE(text.has_value()) << text.error().toString();
  EXPECT_EQ(*text, head.substr(0, head.size() - 7) + tail);
}

// A tail without a final line break still counts its last line, and a head shorter than the
// limit is used whole, ending in a line break before the tail.
TEST(BuildLog, UnterminatedLastLineCountsAsALine) {
  StrictMock<kube::MockPodLogReader> logs;
  std::string tail = lines(kBuildLogTailLines - 1, "l") + "last";
  {
    InSequence seq;
    EXPECT_CALL(logs, podLog(_, _, tailRequest())).WillOnce(Return(tail));
    EXPECT_CALL(logs, podLog(_, _, headRequest())).WillOnce(Return(std::string("first")));
  }
  auto text = readBuildLog(logs, "ci", "p");
  ASSERT_TRUE(text.has_value()) << text.error().toString();
  EXPECT_EQ(*text, "first\n" + tail);
}

// The reader's errors come back unchanged (NotFound: pod gone; InvalidArgument: not started).
TEST(BuildLog, ReaderErrorsPassThrough) {
  StrictMock<kube::MockPodLogReader> logs;
  EXPECT_CALL(logs, podLog(_, _, tailRequest()))
      .WillOnce(Return(fail(ErrorCode::InvalidArgument, "container is waiting to start")))
      .WillOnce(Return(lines(kBuildLogTailLines, "l")));
  EXPECT_CALL(logs, podLog(_, _, headRequest()))
      .WillOnce(Return(fail(ErrorCode::NotFound, "pod gone")));
  auto first = readBuildLog(logs, "ci", "p");
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, ErrorCode::InvalidArgument);
  auto second = readBuildLog(logs, "ci", "p");
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::NotFound);
}

}  // namespace
}  // namespace opsy::packer_builder

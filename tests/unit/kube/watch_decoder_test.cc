#include "kube/watch_decoder.h"

#include <gtest/gtest.h>

namespace opsy::kube {
namespace {

const std::string kAdded =
    R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a","namespace":"ci","resourceVersion":"5"}}})";
const std::string kBookmark =
    R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"9"}}})";
const std::string kExpired =
    R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)"
    R"("message":"too old resource version","reason":"Expired","code":410}})";

// Events split at every possible byte boundary decode to the same events as one whole body.
TEST(WatchDecoder, DecodesEventsSplitAtAnyBoundary) {
  const std::string body = kAdded + "\n" + kBookmark + "\n";
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    WatchDecoder d;
    auto first = d.feed(body.substr(0, cut));
    auto second = d.feed(body.substr(cut));
    first.insert(first.end(), std::make_move_iterator(second.begin()),
                 std::make_move_iterator(second.end()));
    ASSERT_EQ(first.size(), 2u) << "cut at " << cut;
    ASSERT_TRUE(first[0].has_value());
    EXPECT_EQ(first[0]->type, WatchEventType::Added);
    EXPECT_EQ(first[0]->object.metadata.name, "a");
    ASSERT_TRUE(first[1].has_value());
    EXPECT_EQ(first[1]->type, WatchEventType::Bookmark);
    EXPECT_EQ(first[1]->object.metadata.resource_version, "9");
  }
}

// Byte-by-byte delivery works too, and blank keep-alive lines are ignored.
TEST(WatchDecoder, ByteByByteWithBlankLines) {
  const std::string body = "\n" + kAdded + "\r\n\n" + kBookmark + "\n";
  WatchDecoder d;
  int events = 0;
  for (char c : body) {
    for (auto& e : d.feed(std::string(1, c))) {
      ASSERT_TRUE(e.has_value()) << e.error().message;
      ++events;
    }
  }
  EXPECT_EQ(events, 2);
}

// An ERROR event carries a Status; code 410 becomes Gone with the reason kept.
TEST(WatchDecoder, ErrorEventMapsStatusToGone) {
  WatchDecoder d;
  auto events = d.feed(kExpired + "\n");
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].has_value());
  EXPECT_EQ(events[0]->type, WatchEventType::Error);
  EXPECT_EQ(events[0]->error.code, ErrorCode::Gone);
  EXPECT_EQ(events[0]->error.http_status, 410);
  EXPECT_EQ(events[0]->error.provider_code, "Expired");
}

// A malformed line is an error for that line only; the next line still decodes.
TEST(WatchDecoder, MalformedLineDoesNotPoisonTheStream) {
  WatchDecoder d;
  auto events =
      d.feed("{not json}\n" + std::string(R"({"type":"WHAT","object":{}})") + "\n" +
             R"({"type":"ADDED","object":{"metadata":{"name":7}}})" + "\n" + kAdded + "\n");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_FALSE(events[0].has_value());
  EXPECT_FALSE(events[1].has_value());
  EXPECT_FALSE(events[2].has_value());
  ASSERT_TRUE(events[3].has_value());
  EXPECT_EQ(events[3]->object.metadata.name, "a");
}

// A last event without a trailing newline is decoded when the stream ends.
TEST(WatchDecoder, FinishDecodesUnterminatedLastLine) {
  WatchDecoder d;
  EXPECT_TRUE(d.feed(kAdded).empty());
  auto rest = d.finish();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_TRUE(rest[0].has_value());
}

// A line may be exactly as long as the limit, however it is split.
TEST(WatchDecoder, LineAtTheLimitDecodes) {
  WatchDecoder d(kAdded.size());
  EXPECT_TRUE(d.feed(kAdded.substr(0, 10)).empty());
  auto events = d.feed(kAdded.substr(10) + "\n" + kBookmark.substr(0, 5));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].has_value());
  EXPECT_FALSE(d.failure().has_value());
}

// A line over the limit ends the stream with ResourceExhausted naming the limit: the events
// before it are delivered, nothing after it is, and the rest of the line is never kept (200 MiB
// of it fed in 64 KiB chunks stops at the first chunk past the limit).
TEST(WatchDecoder, LineOverTheLimitEndsTheStream) {
  constexpr size_t kLimit = size_t{1} << 20;
  WatchDecoder d(kLimit);
  auto events = d.feed(kAdded + "\n" + R"({"type":"ADDED","object":{"data":")");
  ASSERT_EQ(events.size(), 1u);
  const std::string chunk(size_t{64} << 10, 'x');
  size_t fed = 0;
  while (!d.failure() && fed < (size_t{200} << 20)) {
    EXPECT_TRUE(d.feed(chunk).empty());
    fed += chunk.size();
  }
  ASSERT_TRUE(d.failure().has_value());
  EXPECT_EQ(d.failure()->code, ErrorCode::ResourceExhausted);
  EXPECT_EQ(d.failure()->message, "watch event exceeds 1048576 bytes");
  EXPECT_LE(fed, kLimit + chunk.size());
  EXPECT_TRUE(d.feed("\n" + kBookmark + "\n").empty());
  EXPECT_TRUE(d.finish().empty());
}

}  // namespace
}  // namespace opsy::kube

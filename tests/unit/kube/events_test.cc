#include "opsy/kube/events.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <regex>

#include "mocks/kube/controller_mocks.h"
#include "opsy/core/fake_clock.h"

namespace opsy::kube {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

// Records every call; optionally fails them or holds them until released.
class RecordingSink : public EventSink {
 public:
  struct Patch {
    std::string name;
    std::string ns;
    EventRecordSeries series;
  };

  Status create(const EventRecord& event) override {
    ++entered;
    wait();
    std::lock_guard lock(mu_);
    if (fail_creates > 0) {
      --fail_creates;
      return fail(ErrorCode::Unavailable, "api server down");
    }
    creates.push_back(event);
    return ok();
  }
  Status patch(const std::string& name, const std::string& ns,
               const EventRecordSeries& series) override {
    wait();
    std::lock_guard lock(mu_);
    patches.push_back({name, ns, series});
    return ok();
  }

  void hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void release() {
    std::lock_guard lock(mu_);
    held_ = false;
    cv_.notify_all();
  }
  std::size_t createCount() {
    std::lock_guard lock(mu_);
    return creates.size();
  }

  std::vector<EventRecord> creates;
  std::vector<Patch> patches;
  int fail_creates = 0;
  std::atomic<int> entered{0};

 private:
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !held_; });
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
};

EventObjectRef builder(std::string name = "base-al2023") {
  return {"ami.refresh.ops/v1alpha1", "PackerBuilder", "ci", std::move(name), "uid-1", "42", ""};
}

EventRecorderOptions syncOptions() {
  EventRecorderOptions o;
  o.reporting_controller = "ami.refresh.ops/packer-builder-controller";
  o.reporting_instance = "packer-builder-7d9f-abcde";
  o.background_thread = false;
  return o;
}

// A first event is created with every required events.k8s.io/v1 field and no series.
TEST(EventRecorder, CreatesEventWithRequiredFields) {
  FakeClock clock;
  RecordingSink sink;
  EventRecorderImpl recorder(sink, clock, syncOptions());
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "packer exited with 1");
  recorder.flushForTest();
  ASSERT_EQ(sink.creates.size(), 1u);
  const EventRecord& e = sink.creates[0];
  EXPECT_THAT(e.name, testing::MatchesRegex("base-al2023\\.[0-9a-f]{16}"));
  EXPECT_EQ(e.ns, "ci");
  EXPECT_EQ(e.regarding, builder());
  EXPECT_EQ(e.type, EventType::Warning);
  EXPECT_EQ(e.reason, "BuildFailed");
  EXPECT_EQ(e.action, "Build");
  EXPECT_EQ(e.note, "packer exited with 1");
  EXPECT_EQ(e.event_time, clock.now());
  EXPECT_EQ(e.reporting_controller, "ami.refresh.ops/packer-builder-controller");
  EXPECT_EQ(e.reporting_instance, "packer-builder-7d9f-abcde");
  EXPECT_FALSE(e.series.has_value());
  EXPECT_EQ(toString(EventType::Normal), "Normal");
  EXPECT_EQ(toString(EventType::Warning), "Warning");
}

// Names are a pure function of the event and its time, so a retried write reuses the name.
TEST(EventRecorder, NamesAreDeterministic) {
  FakeClock clock;
  RecordingSink sink_a;
  RecordingSink sink_b;
  EventRecorderImpl a(sink_a, clock, syncOptions());
  EventRecorderImpl b(sink_b, clock, syncOptions());
  a.record(builder(), EventType::Normal, "Built", "Build", "ami-0abc");
  b.record(builder(), EventType::Normal, "Built", "Build", "ami-0abc");
  a.record(builder(), EventType::Normal, "Built", "Build", "ami-0def");
  a.flushForTest();
  b.flushForTest();
  ASSERT_EQ(sink_a.creates.size(), 2u);
  ASSERT_EQ(sink_b.creates.size(), 1u);
  EXPECT_EQ(sink_a.creates[0].name, sink_b.creates[0].name);
  EXPECT_NE(sink_a.creates[0].name, sink_a.creates[1].name);
}

// Events about cluster-scoped objects go to the default namespace.
TEST(EventRecorder, ClusterScopedObjectUsesDefaultNamespace) {
  FakeClock clock;
  RecordingSink sink;
  EventRecorderImpl recorder(sink, clock, syncOptions());
  recorder.record({"v1", "Node", "", "ip-10-0-0-1", "uid-n", "", ""}, EventType::Normal, "Drained",
                  "Refresh", "node drained");
  recorder.flushForTest();
  ASSERT_EQ(sink.creates.size(), 1u);
  EXPECT_EQ(sink.creates[0].ns, "default");
}

// The note is cut to 1 kB, marker included, on a UTF-8 boundary, and the reporting instance to
// 128 characters.
TEST(EventRecorder, TruncatesToApiLimits) {
  FakeClock clock;
  RecordingSink sink;
  EventRecorderOptions o = syncOptions();
  o.reporting_instance = std::string(200, 'i');
  EventRecorderImpl recorder(sink, clock, o);
  std::string note(998, 'x');
  note += "\xC3\xA9";  // a two-byte character straddling the cut
  note += std::string(40, 'y');
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", note);
  recorder.flushForTest();
  ASSERT_EQ(sink.creates.size(), 1u);
  EXPECT_EQ(sink.creates[0].note, std::string(998, 'x') + "...[truncated 42 bytes]");
  EXPECT_LE(sink.creates[0].note.size(), 1024u);
  EXPECT_EQ(sink.creates[0].reporting_instance.size(), 128u);
  EXPECT_EQ(truncateUtf8("short", 1024), "short");
}

// Repeats within six minutes update the first event's series instead of creating new events.
TEST(EventRecorder, RepeatsJoinASeries) {
  FakeClock clock;
  RecordingSink sink;
  EventRecorderImpl recorder(sink, clock, syncOptions());
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  recorder.flushForTest();
  clock.advance(minutes(5));
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  recorder.flushForTest();
  clock.advance(minutes(5));
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  recorder.flushForTest();
  ASSERT_EQ(sink.creates.size(), 1u);
  ASSERT_EQ(sink.patches.size(), 2u);
  EXPECT_EQ(sink.patches[0].name, sink.creates[0].name);
  EXPECT_EQ(sink.patches[0].ns, "ci");
  EXPECT_EQ(sink.patches[0].series.count, 2);
  EXPECT_EQ(sink.patches[1].series.count, 3);
  EXPECT_EQ(sink.patches[1].series.last_observed_time, clock.now());
  EXPECT_EQ(recorder.stats().aggregated, 2u);
}

// A repeat after the window starts a new event; so does any difference in the note or type.
TEST(EventRecorder, NewEventAfterWindowOrDifferentContent) {
  FakeClock clock;
  RecordingSink sink;
  EventRecorderImpl recorder(sink, clock, syncOptions());
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 2");
  recorder.record(builder(), EventType::Normal, "BuildFailed", "Build", "exit 1");
  clock.advance(minutes(6) + seconds(1));
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  recorder.flushForTest();
  EXPECT_EQ(sink.creates.size(), 4u);
  EXPECT_TRUE(sink.patches.empty());
}

// Repeats recorded while the first write is still queued fold into that write: one API call.
TEST(EventRecorder, QueuedRepeatsCoalesce) {
  FakeClock clock;
  RecordingSink sink;
  EventRecorderImpl recorder(sink, clock, syncOptions());
  for (int i = 0; i < 5; ++i) {
    recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
    clock.advance(seconds(1));
  }
  recorder.flushForTest();
  ASSERT_EQ(sink.creates.size(), 1u);
  ASSERT_TRUE(sink.creates[0].series.has_value());
  EXPECT_EQ(sink.creates[0].series->count, 5);
  EXPECT_TRUE(sink.patches.empty());
}

// A hot loop on one object is cut off by its token bucket (burst 25, then one per 5 minutes);
// other objects are unaffected.
TEST(EventRecorder, RateLimitsPerObject) {
  FakeClock clock;
  RecordingSink sink;
  EventRecorderImpl recorder(sink, clock, syncOptions());
  for (int i = 0; i < 100; ++i) {
    recorder.record(builder(), EventType::Normal, "Tick", "Reconcile", std::to_string(i));
  }
  recorder.record(builder("other"), EventType::Normal, "Tick", "Reconcile", "0");
  recorder.flushForTest();
  EXPECT_EQ(sink.creates.size(), 26u);
  EXPECT_EQ(recorder.stats().rate_limited, 75u);
  clock.advance(minutes(5));
  recorder.record(builder(), EventType::Normal, "Tick", "Reconcile", "again");
  recorder.record(builder(), EventType::Normal, "Tick", "Reconcile", "again and again");
  recorder.flushForTest();
  EXPECT_EQ(sink.creates.size(), 27u);
}

// When the queue is full further events are dropped and counted, not waited for.
TEST(EventRecorder, DropsWhenQueueFull) {
  FakeClock clock;
  RecordingSink sink;
  EventRecorderOptions o = syncOptions();
  o.queue_capacity = 3;
  EventRecorderImpl recorder(sink, clock, o);
  for (int i = 0; i < 5; ++i) {
    recorder.record(builder("b" + std::to_string(i)), EventType::Normal, "Built", "Build", "ok");
  }
  EXPECT_EQ(recorder.stats().dropped, 2u);
  recorder.flushForTest();
  EXPECT_EQ(sink.creates.size(), 3u);
  EXPECT_EQ(recorder.stats().written, 3u);
}

// A failed create is counted, and the next occurrence creates the event again (it never patches
// an event that does not exist).
TEST(EventRecorder, FailedCreateIsRetriedByNextOccurrence) {
  FakeClock clock;
  RecordingSink sink;
  sink.fail_creates = 1;
  EventRecorderImpl recorder(sink, clock, syncOptions());
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  recorder.flushForTest();
  EXPECT_EQ(recorder.stats().failed, 1u);
  clock.advance(seconds(10));
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  recorder.flushForTest();
  ASSERT_EQ(sink.creates.size(), 1u);
  EXPECT_TRUE(sink.patches.empty());
}

// record() returns at once even when the API server hangs; the background thread writes later.
TEST(EventRecorder, RecordingNeverBlocks) {
  FakeClock clock;
  RecordingSink sink;
  sink.hold();
  EventRecorderOptions o = syncOptions();
  o.background_thread = true;
  EventRecorderImpl recorder(sink, clock, o);
  auto recorded = std::async(std::launch::async, [&] {
    for (int i = 0; i < 10; ++i) {
      recorder.record(builder("b" + std::to_string(i)), EventType::Normal, "Built", "Build", "ok");
    }
  });
  EXPECT_EQ(recorded.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(sink.createCount(), 0u);
  sink.release();
  recorder.shutDown();
  EXPECT_EQ(sink.createCount(), 10u);
  recorder.record(builder(), EventType::Normal, "Built", "Build", "after shutdown");
  EXPECT_EQ(recorder.stats().dropped, 1u);
}

// A one-off event costs exactly one create and nothing else.
TEST(EventRecorder, OneOffEventIsOneCreate) {
  FakeClock clock;
  testing::StrictMock<MockEventSink> sink;
  EXPECT_CALL(sink, create(testing::Field(&EventRecord::reason, "Built")))
      .WillOnce(testing::Return(ok()));
  EventRecorderImpl recorder(sink, clock, syncOptions());
  recorder.record(builder(), EventType::Normal, "Built", "Build", "ami-0abc");
  recorder.flushForTest();
}

// A repeat dropped by the rate limit while the first create is still in flight does not orphan
// the series: the next repeat patches the created event instead of creating another.
TEST(EventRecorder, DroppedRepeatDuringCreateKeepsSeries) {
  FakeClock clock;
  RecordingSink sink;
  sink.hold();
  EventRecorderOptions o = syncOptions();
  o.background_thread = true;
  o.per_object_burst = 1;
  EventRecorderImpl recorder(sink, clock, o);
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  for (int i = 0; i < 5000 && sink.entered.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(sink.entered.load(), 1);
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  EXPECT_EQ(recorder.stats().rate_limited, 1u);
  sink.release();
  for (int i = 0; i < 5000 && recorder.stats().written == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  clock.advance(minutes(5) + seconds(1));  // one token back
  recorder.record(builder(), EventType::Warning, "BuildFailed", "Build", "exit 1");
  recorder.shutDown();
  ASSERT_EQ(sink.creates.size(), 1u);
  ASSERT_EQ(sink.patches.size(), 1u);
  EXPECT_EQ(sink.patches[0].name, sink.creates[0].name);
  EXPECT_EQ(sink.patches[0].series.count, 3);
}

}  // namespace
}  // namespace opsy::kube

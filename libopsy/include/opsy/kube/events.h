// File: events.h
//
// Kubernetes Events (events.k8s.io/v1) for the transitions a person wants to see in
// `kubectl describe`. Recording never blocks a reconcile: events go through a bounded queue to a
// background thread, and are dropped (and counted) when it is full. Repeats of the same event
// within six minutes update the first one's series {count, lastObservedTime} instead of creating
// new objects, and a per-object token bucket stops a hot loop from flooding the API server.
//
//   recorder.record(ref, EventType::Warning, "BuildFailed", "Build", "packer exited with 1");
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/core/token_bucket.h"
#include "opsy/kube/object.h"

namespace opsy::kube {

// The object an event is about.
using EventObjectRef = ObjectReference;

enum class EventType { Normal, Warning };
std::string_view toString(EventType type);

struct EventRecordSeries {
  int count = 0;
  TimePoint last_observed_time;  // MicroTime

  bool operator==(const EventRecordSeries&) const = default;
};

// An events.k8s.io/v1 Event as this recorder writes it.
struct EventRecord {
  std::string name;
  std::string ns;
  EventObjectRef regarding;
  EventType type = EventType::Normal;
  std::string reason;
  std::string action;
  std::string note;
  TimePoint event_time;  // MicroTime
  std::string reporting_controller;
  std::string reporting_instance;
  std::optional<EventRecordSeries> series;
};

// Knows how to write Events; the runtime adapts the Kubernetes client to it.
class EventSink {
 public:
  virtual ~EventSink() = default;
  /** Creates `event` (POST /apis/events.k8s.io/v1/namespaces/{ns}/events). */
  [[nodiscard]] virtual Status create(const EventRecord& event) = 0;
  /** Sets the series of an existing Event (merge patch {"series":{...}} on {ns}/events/{name}). */
  [[nodiscard]] virtual Status patch(const std::string& name, const std::string& ns,
                                     const EventRecordSeries& series) = 0;
};

// Knows how to record an Event about an object; what reconcilers depend on.
class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  /** Records an event about `regarding`; returns at once and never fails (events are best
      effort). `reason` is a CamelCase cause ("BuildFailed"), `action` what was being done
      ("Build"), `note` the human text (truncated to 1 kB). */
  virtual void record(const EventObjectRef& regarding, EventType type, std::string_view reason,
                      std::string_view action, std::string_view note) = 0;
};

using EventRecorderPtr = std::unique_ptr<EventRecorder>;

struct EventRecorderOptions {
  // e.g. "ami.refresh.ops/packer-builder-controller".
  std::string reporting_controller;
  // The pod name; truncated to 128 characters as the API requires.
  std::string reporting_instance;
  // Repeats within this window join the first event's series.
  Duration series_window = std::chrono::minutes(6);
  // Writes per regarding object (client-go's spam filter: burst 25, one more every 5 minutes).
  double per_object_qps = 1.0 / 300.0;
  int per_object_burst = 25;
  // Writes waiting for the background thread; beyond this, events are dropped and counted.
  std::size_t queue_capacity = 1000;
  // Off in tests, which call flushForTest() to write what is queued on their own thread.
  bool background_thread = true;
};

struct EventRecorderStats {
  std::uint64_t written = 0;       // creates and patches the sink accepted
  std::uint64_t aggregated = 0;    // repeats folded into a series
  std::uint64_t dropped = 0;       // queue full
  std::uint64_t rate_limited = 0;  // per-object bucket empty
  std::uint64_t failed = 0;        // the sink returned an error
};

class EventRecorderImpl : public EventRecorder {
 public:
  EventRecorderImpl(EventSink& sink, Clock& clock, EventRecorderOptions options);
  ~EventRecorderImpl() override;
  EventRecorderImpl(const EventRecorderImpl&) = delete;
  EventRecorderImpl& operator=(const EventRecorderImpl&) = delete;

  void record(const EventObjectRef& regarding, EventType type, std::string_view reason,
              std::string_view action, std::string_view note) override;

  // Writes what is queued now, then stops the background thread. Later records are dropped.
  void shutDown();
  // Writes everything queued, on the calling thread.
  void flushForTest();
  EventRecorderStats stats() const;

 private:
  struct Entry {
    std::string key;
    EventRecord event;
    std::chrono::steady_clock::time_point last_seen;
    bool created = false;
    bool queued = false;   // a write is waiting in queue_
    bool writing = false;  // a write is at the sink now
  };

  void sweepLocked(std::chrono::steady_clock::time_point now);
  // Writes entry `id` in its current state (create, or patch of its series).
  void write(std::uint64_t id);
  void eraseLocked(std::uint64_t id);
  void loop();

  EventSink& sink_;
  Clock& clock_;
  EventRecorderOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // A series lives in entries_ under an id; current_ maps a series key to its live entry. An entry
  // replaced by a newer series stays until its queued write is done.
  std::unordered_map<std::uint64_t, Entry> entries_;
  std::unordered_map<std::string, std::uint64_t> current_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::string, std::unique_ptr<TokenBucket>> buckets_;
  std::deque<std::uint64_t> queue_;
  std::chrono::steady_clock::time_point last_sweep_;
  EventRecorderStats stats_;
  bool shutting_down_ = false;
  std::thread thread_;
};

// Truncates `text` to at most `max_bytes` without splitting a UTF-8 sequence.
std::string truncateUtf8(std::string_view text, std::size_t max_bytes);

}  // namespace opsy::kube

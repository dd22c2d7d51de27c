#include "opsy/kube/events.h"

#include <fmt/format.h>

#include <vector>

#include "opsy/core/log.h"

namespace opsy::kube {
namespace {

// API validation limits of events.k8s.io/v1.
constexpr std::size_t kMaxNoteBytes = 1024;
constexpr std::size_t kMaxReportingInstance = 128;
constexpr std::size_t kMaxReasonOrAction = 128;
constexpr std::size_t kMaxNameLength = 253;
// How often stale series and idle buckets are swept, as a fraction of the series window.
constexpr int kSweepsPerWindow = 6;

std::uint64_t fnv1a(std::string_view data) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string seriesKey(const EventObjectRef& r, EventType type, std::string_view reason,
                      std::string_view action, std::string_view note) {
  // Unit separators cannot appear in names or reasons, so distinct tuples cannot collide.
  return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", r.api_version,
                     r.kind, r.ns, r.name, r.uid, r.field_path, toString(type), reason, action,
                     note);
}

std::string objectKey(const EventObjectRef& r) {
  return fmt::format("{}\x1f{}\x1f{}\x1f{}", r.kind, r.ns, r.name, r.uid);
}

log::Logger logger() {
  return log::get("kube.events");
}

}  // namespace

std::string_view toString(EventType type) {
  return type == EventType::Warning ? "Warning" : "Normal";
}

std::string truncateUtf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) {
    return std::string(text);
  }
  std::size_t end = max_bytes;
  // Back up over continuation bytes (10xxxxxx) so the cut lands on a sequence boundary.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return std::string(text.substr(0, end));
}

EventRecorderImpl::EventRecorderImpl(EventSink& sink, Clock& clock, EventRecorderOptions options)
    : sink_(sink), clock_(clock), options_(std::move(options)), last_sweep_(clock.steadyNow()) {
  options_.reporting_instance = truncateUtf8(options_.reporting_instance, kMaxReportingInstance);
  if (options_.background_thread) {
    thread_ = std::thread([this] { loop(); });
  }
}

EventRecorderImpl::~EventRecorderImpl() {
  shutDown();
}

void EventRecorderImpl::record(const EventObjectRef& regarding, EventType type,
                               std::string_view reason, std::string_view action,
                               std::string_view note) {
  const std::string clipped_reason = truncateUtf8(reason, kMaxReasonOrAction);
  const std::string clipped_action = truncateUtf8(action, kMaxReasonOrAction);
  // Notes often carry a remote service's error text: masked like a log line, and within the
  // 1 KiB the API server accepts.
  const std::string clipped_note = log::scrubBounded(note, kMaxNoteBytes);
  const std::string key = seriesKey(regarding, type, clipped_reason, clipped_action, clipped_note);
  const TimePoint wall_now = clock_.now();
  const auto now = clock_.steadyNow();

  std::lock_guard lock(mu_);
  if (shutting_down_) {
    ++stats_.dropped;
    return;
  }
  sweepLocked(now);

  Entry* entry = nullptr;
  std::uint64_t id = 0;
  if (auto cur = current_.find(key); cur != current_.end()) {
    Entry& existing = entries_.at(cur->second);
    if (now - existing.last_seen <= options_.series_window) {
      entry = &existing;
      id = cur->second;
    } else if (!existing.queued && !existing.writing) {
      eraseLocked(cur->second);
    }
  }
  if (entry != nullptr) {
    entry->last_seen = now;
    const int count = entry->event.series.has_value() ? entry->event.series->count + 1 : 2;
    entry->event.series = EventRecordSeries{count, wall_now};
    ++stats_.aggregated;
    if (entry->queued) {
      return;  // the queued write will carry the new count
    }
  } else {
    id = next_id_++;
    entry = &entries_[id];
    entry->key = key;
    EventRecord& e = entry->event;
    e.regarding = regarding;
    e.ns = regarding.ns.empty() ? "default" : regarding.ns;
    e.type = type;
    e.reason = clipped_reason;
    e.action = clipped_action;
    e.note = clipped_note;
    e.event_time = wall_now;
    e.reporting_controller = options_.reporting_controller;
    e.reporting_instance = options_.reporting_instance;
    const std::uint64_t hash =
        fnv1a(fmt::format("{}\x1f{}", key, wall_now.time_since_epoch().count()));
    const std::string suffix = fmt::format(".{:016x}", hash);
    e.name = regarding.name.substr(0, kMaxNameLength - suffix.size()) + suffix;
    entry->last_seen = now;
    current_[key] = id;
  }

  auto on_drop = [&] {
    if (!entry->created && !entry->writing) {
      eraseLocked(id);  // never written: a later repeat must create, not patch
    }
  };
  auto& bucket = buckets_[objectKey(regarding)];
  if (!bucket) {
    bucket =
        std::make_unique<TokenBucket>(clock_, options_.per_object_qps, options_.per_object_burst);
  }
  if (!bucket->tryTake()) {
    ++stats_.rate_limited;
    on_drop();
    return;
  }
  if (queue_.size() >= options_.queue_capacity) {
    ++stats_.dropped;
    on_drop();
    return;
  }
  entry->queued = true;
  queue_.push_back(id);
  cv_.notify_one();
}

void EventRecorderImpl::eraseLocked(std::uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return;
  }
  auto cur = current_.find(it->second.key);
  if (cur != current_.end() && cur->second == id) {
    current_.erase(cur);
  }
  entries_.erase(it);
}

void EventRecorderImpl::sweepLocked(std::chrono::steady_clock::time_point now) {
  if (now - last_sweep_ < options_.series_window / kSweepsPerWindow) {
    return;
  }
  last_sweep_ = now;
  std::vector<std::uint64_t> stale;
  for (const auto& [id, entry] : entries_) {
    if (!entry.queued && !entry.writing && now - entry.last_seen > options_.series_window) {
      stale.push_back(id);
    }
  }
  for (std::uint64_t id : stale) {
    eraseLocked(id);
  }
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (it->second->available() >= it->second->burst()) {
      it = buckets_.erase(it);  // a full bucket holds no state worth keeping
    } else {
      ++it;
    }
  }
}

void EventRecorderImpl::write(std::uint64_t id) {
  EventRecord event;
  bool create = false;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return;
    }
    it->second.queued = false;
    it->second.writing = true;
    event = it->second.event;
    create = !it->second.created;
    if (!create && !event.series.has_value()) {
      return;  // already written and nothing new to say
    }
  }
  const Status status =
      create ? sink_.create(event) : sink_.patch(event.name, event.ns, *event.series);
  std::lock_guard lock(mu_);
  if (status) {
    ++stats_.written;
  } else {
    ++stats_.failed;
    logger().info("event write failed",
                  log::kv("object", event.regarding.ns + "/" + event.regarding.name, "reason",
                          event.reason, "error", status.error().toString()));
  }
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return;
  }
  Entry& entry = it->second;
  entry.writing = false;
  entry.created = entry.created || status.has_value();
  const bool superseded = current_.count(entry.key) == 0 || current_.at(entry.key) != id;
  if (!entry.queued && (superseded || !entry.created)) {
    eraseLocked(id);  // done with it, or a failed create that the next occurrence will redo
  }
}

void EventRecorderImpl::loop() {
  for (;;) {
    std::uint64_t id = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || shutting_down_; });
      if (queue_.empty()) {
        return;
      }
      id = queue_.front();
      queue_.pop_front();
    }
    write(id);
  }
}

void EventRecorderImpl::flushForTest() {
  for (;;) {
    std::uint64_t id = 0;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) {
        return;
      }
      id = queue_.front();
      queue_.pop_front();
    }
    write(id);
  }
}

void EventRecorderImpl::shutDown() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) {
    thread_.join();
  } else {
    flushForTest();
  }
}

EventRecorderStats EventRecorderImpl::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace opsy::kube

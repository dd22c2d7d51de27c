// File: leader_election.h
//
// Lease-based leader election (coordination.k8s.io/v1), following client-go's algorithm, so two
// replicas of a controller never act at the same time. A candidate takes over a lease only when
// the record it last observed has not changed for leaseDurationSeconds on its own monotonic clock
// (wall-clock renewTime values from other machines are never compared); acquire and renew are
// updates carrying the resourceVersion, so a 409 means another candidate won the race. A leader
// that has not renewed within the renew deadline (counted from the start of its last successful
// renewal request) steps down by itself; since renewDeadline < leaseDuration, it has stopped
// before any other candidate can take over, provided the machines' clocks run at about the same
// rate (their time of day may disagree).
//
//   auto elector = LeaderElector::create(config, lease_store, clock, callbacks).value();
//   std::thread t([&] { elector->run(); });  ... elector->stop(); t.join();
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy::kube {

// The fields of a Lease that leader election reads and writes.
struct LeaseRecord {
  std::string holder_identity;
  int lease_duration_seconds = 0;
  std::optional<TimePoint> acquire_time;  // MicroTime
  std::optional<TimePoint> renew_time;    // MicroTime
  int lease_transitions = 0;
  // Opaque; an update carries the version it was based on.
  std::string resource_version;

  bool operator==(const LeaseRecord&) const = default;
};

// Knows how to read and write the one Lease object an elector competes for. The runtime adapts
// the Kubernetes client to it (GET/POST/PUT on .../namespaces/{ns}/leases/{name}).
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  /** Reads the lease; ErrorCode::NotFound when it does not exist. */
  [[nodiscard]] virtual Result<LeaseRecord> get() = 0;
  /** Creates the lease and returns it as stored (with its resourceVersion);
      ErrorCode::AlreadyExists when it exists. */
  [[nodiscard]] virtual Result<LeaseRecord> create(const LeaseRecord& record) = 0;
  /** Replaces the lease if record.resource_version is still current and returns it as stored;
      ErrorCode::Conflict when the version is stale. */
  [[nodiscard]] virtual Result<LeaseRecord> update(const LeaseRecord& record) = 0;
  /** "namespace/name" of the lease, for logs. */
  virtual std::string describe() const = 0;
};

using LeaseStorePtr = std::unique_ptr<LeaseStore>;

struct LeaderElectionConfig {
  // Unique per process (e.g. pod name + random suffix): a restarted process must not reuse it.
  std::string identity;
  // Whole seconds: the Lease stores it as an integer.
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);
  // Candidates wait retry_period * (1 + jitter_factor * random) between attempts.
  double jitter_factor = 1.2;
  // On stop(), write an empty holder (leaseDurationSeconds 1) so a standby takes over at once.
  bool release_on_cancel = true;
  // Uniform numbers in [0, 1) for jitter; tests pin it. Default: a seeded std::mt19937_64.
  std::function<double()> random;
};

// lease_duration > renew_deadline > jitter_factor * retry_period, positive, whole-second lease.
[[nodiscard]] Status validate(const LeaderElectionConfig& config);

// Called on the thread that noticed the change, in the order the changes happened, never
// concurrently. They must return quickly (start controllers on their own threads) and must not
// call tick(), release() or run() on the same elector.
struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  // Fires as soon as this process must stop acting as leader, before any other candidate can
  // have taken over.
  std::function<void()> on_stopped_leading;
  // The observed holder changed (including to this process); not called for an empty holder.
  std::function<void(const std::string& identity)> on_new_leader;
};

class LeaderElector {
 public:
  [[nodiscard]] static Result<std::unique_ptr<LeaderElector>> create(LeaderElectionConfig config,
                                                                     LeaseStore& store,
                                                                     Clock& clock,
                                                                     LeaderCallbacks callbacks);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // One acquire-or-renew attempt (a get, then a create or an update). Returns how long to wait
  // before the next attempt: retry_period while leading, jittered while a candidate. Not to be
  // called from two threads at once; run() is a loop over it.
  Duration tick();
  // Steps down if no renewal has succeeded within the renew deadline; no I/O, so a watchdog can
  // call it while tick() is stuck in a stalled request. Returns whether this process still leads.
  bool checkDeadline();
  // Steps down (on_stopped_leading fires first), then, if the lease still names this process,
  // writes an empty holder with leaseDurationSeconds 1.
  Status release();

  // Loops tick() until stop(), with a watchdog thread enforcing the renew deadline; releases the
  // lease on the way out when release_on_cancel is set.
  void run();
  void stop();

  // True while leading and the renew deadline has not passed (exact, on the monotonic clock).
  bool isLeader() const;
  // The holder in the last record observed ("" if none).
  std::string observedLeader() const;
  const std::string& identity() const { return config_.identity; }

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  enum class Event { Started, Stopped, NewLeader };

  LeaderElector(LeaderElectionConfig config, LeaseStore& store, Clock& clock,
                LeaderCallbacks callbacks);
  bool tryAcquireOrRenew(SteadyTime attempt_start);
  void observeLocked(const LeaseRecord& record, SteadyTime now);
  void acquiredLocked(const LeaseRecord& record, SteadyTime attempt_start);
  void stepDownLocked(const char* reason);
  void fireCallbacks();
  Duration jittered(Duration d);
  bool stopped() const;
  void sleepUnlessStopped(Duration d);

  LeaderElectionConfig config_;
  LeaseStore& store_;
  Clock& clock_;
  LeaderCallbacks callbacks_;

  mutable std::mutex mu_;
  std::optional<LeaseRecord> observed_;
  SteadyTime observed_at_{};
  bool leading_ = false;
  SteadyTime valid_until_{};
  std::string reported_leader_;
  bool stopped_ = false;
  std::deque<std::pair<Event, std::string>> pending_;
  std::recursive_mutex callback_mu_;
  std::mt19937_64 rng_;
};

using LeaderElectorPtr = std::unique_ptr<LeaderElector>;

}  // namespace opsy::kube

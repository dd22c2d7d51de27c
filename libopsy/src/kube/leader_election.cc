#include "opsy/kube/leader_election.h"

#include <algorithm>
#include <thread>

#include "opsy/core/duration.h"
#include "opsy/core/log.h"

namespace opsy::kube {
namespace {

log::Logger logger() {
  return log::get("kube.leaderelection");
}

// Sleeps of run() and its watchdog are cut into slices so stop() takes effect promptly; the Clock
// has no interruptible wait.
constexpr Duration kSleepSlice = std::chrono::milliseconds(100);

}  // namespace

Status validate(const LeaderElectionConfig& config) {
  if (config.identity.empty()) {
    return fail(ErrorCode::InvalidArgument, "leader election identity must not be empty");
  }
  if (config.retry_period <= Duration::zero()) {
    return fail(ErrorCode::InvalidArgument, "leader election retry period must be positive");
  }
  if (config.jitter_factor < 0) {
    return fail(ErrorCode::InvalidArgument, "leader election jitter factor must not be negative");
  }
  if (config.lease_duration < std::chrono::seconds(1) ||
      config.lease_duration % std::chrono::seconds(1) != Duration::zero()) {
    return fail(ErrorCode::InvalidArgument,
                "leader election lease duration must be a whole number of seconds, got " +
                    formatDuration(config.lease_duration));
  }
  if (config.lease_duration <= config.renew_deadline) {
    return fail(ErrorCode::InvalidArgument, "leader election lease duration (" +
                                                formatDuration(config.lease_duration) +
                                                ") must be greater than the renew deadline (" +
                                                formatDuration(config.renew_deadline) + ")");
  }
  const auto min_deadline = std::chrono::duration<double, std::milli>(config.retry_period) *
                            std::max(config.jitter_factor, 1.0);
  if (std::chrono::duration<double, std::milli>(config.renew_deadline) <= min_deadline) {
    return fail(ErrorCode::InvalidArgument,
                "leader election renew deadline (" + formatDuration(config.renew_deadline) +
                    ") must be greater than the jitter factor times the retry period (" +
                    formatDuration(config.retry_period) + ")");
  }
  return ok();
}

Result<std::unique_ptr<LeaderElector>> LeaderElector::create(LeaderElectionConfig config,
                                                             LeaseStore& store, Clock& clock,
                                                             LeaderCallbacks callbacks) {
  OPSY_RETURN_IF_ERROR(validate(config));
  return std::unique_ptr<LeaderElector>(
      new LeaderElector(std::move(config), store, clock, std::move(callbacks)));
}

LeaderElector::LeaderElector(LeaderElectionConfig config, LeaseStore& store, Clock& clock,
                             LeaderCallbacks callbacks)
    : config_(std::move(config)),
      store_(store),
      clock_(clock),
      callbacks_(std::move(callbacks)),
      rng_(std::random_device{}()) {}

LeaderElector::~LeaderElector() = default;

Duration LeaderElector::jittered(Duration d) {
  double r = 0;
  if (config_.random) {
    r = config_.random();
  } else {
    r = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }
  const double extra = static_cast<double>(d.count()) * config_.jitter_factor * r;
  return d + Duration(static_cast<Duration::rep>(extra));
}

Duration LeaderElector::tick() {
  checkDeadline();
  if (stopped()) {
    return config_.retry_period;
  }
  const SteadyTime attempt_start = clock_.steadyNow();
  tryAcquireOrRenew(attempt_start);
  const bool leading = checkDeadline();
  return leading ? config_.retry_period : jittered(config_.retry_period);
}

void LeaderElector::observeLocked(const LeaseRecord& record, SteadyTime now) {
  if (!observed_.has_value() || *observed_ != record) {
    observed_ = record;
    observed_at_ = now;
  }
  if (!record.holder_identity.empty() && record.holder_identity != reported_leader_) {
    reported_leader_ = record.holder_identity;
    pending_.emplace_back(Event::NewLeader, record.holder_identity);
  }
}

void LeaderElector::acquiredLocked(const LeaseRecord& record, SteadyTime attempt_start) {
  // The write committed after attempt_start, and every other candidate measures the lease from
  // when it saw this version, so leadership is safe until attempt_start + renew_deadline.
  const SteadyTime valid_until = attempt_start + config_.renew_deadline;
  if (clock_.steadyNow() >= valid_until) {
    // The request stalled past the deadline: the lease is ours on paper, but too late to act.
    if (leading_) {
      stepDownLocked("renewal returned after the renew deadline");
    }
    return;
  }
  valid_until_ = valid_until;
  if (!leading_) {
    leading_ = true;
    pending_.emplace_back(Event::Started, config_.identity);
    logger().info("became leader", log::kv("lease", store_.describe(), "identity", config_.identity,
                                           "transitions", record.lease_transitions));
  }
}

void LeaderElector::stepDownLocked(const char* reason) {
  if (!leading_) {
    return;
  }
  leading_ = false;
  pending_.emplace_back(Event::Stopped, config_.identity);
  logger().warn("stopped leading", log::kv("lease", store_.describe(), "identity", config_.identity,
                                           "reason", reason));
}

bool LeaderElector::tryAcquireOrRenew(SteadyTime attempt_start) {
  const TimePoint wall_now = clock_.now();
  const int lease_seconds = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());
  Result<LeaseRecord> current = store_.get();
  if (!current && current.error().code != ErrorCode::NotFound) {
    logger().info("lease read failed",
                  log::kv("lease", store_.describe(), "error", current.error().toString()));
    return false;
  }

  LeaseRecord next;
  next.holder_identity = config_.identity;
  next.lease_duration_seconds = lease_seconds;
  next.acquire_time = wall_now;
  next.renew_time = wall_now;
  if (current) {
    bool acquirable = true;
    {
      std::lock_guard lock(mu_);
      const SteadyTime now = clock_.steadyNow();
      observeLocked(*current, now);
      const bool held_by_me = current->holder_identity == config_.identity;
      if (!held_by_me && !current->holder_identity.empty()) {
        if (leading_) {
          // Another holder in the lease we think we lead: stop now, whatever the deadline says.
          stepDownLocked("lease taken by another holder");
        }
        // Expiry runs on this process's monotonic clock from when it first saw this version of
        // the record, never from the holder's renewTime.
        acquirable = now >= observed_at_ + std::chrono::seconds(current->lease_duration_seconds);
      }
      next.resource_version = current->resource_version;
      if (held_by_me) {
        next.acquire_time = current->acquire_time;
        next.lease_transitions = current->lease_transitions;
      } else {
        next.lease_transitions = current->lease_transitions + 1;
      }
    }
    if (!acquirable) {
      fireCallbacks();
      return false;
    }
  }

  Result<LeaseRecord> written = current ? store_.update(next) : store_.create(next);
  {
    std::lock_guard lock(mu_);
    if (written) {
      observeLocked(*written, clock_.steadyNow());
      acquiredLocked(*written, attempt_start);
    } else if (written.error().code != ErrorCode::Conflict &&
               written.error().code != ErrorCode::AlreadyExists) {
      logger().info("lease write failed",
                    log::kv("lease", store_.describe(), "error", written.error().toString()));
    }
  }
  fireCallbacks();
  return written.has_value();
}

bool LeaderElector::checkDeadline() {
  bool leading = false;
  {
    std::lock_guard lock(mu_);
    if (leading_ && clock_.steadyNow() >= valid_until_) {
      stepDownLocked("no renewal within the renew deadline");
    }
    leading = leading_;
  }
  fireCallbacks();
  return leading;
}

Status LeaderElector::release() {
  LeaseRecord released;
  bool ours = false;
  {
    std::lock_guard lock(mu_);
    stepDownLocked("released");
    ours = observed_.has_value() && observed_->holder_identity == config_.identity;
    if (ours) {
      const TimePoint now = clock_.now();
      released.lease_duration_seconds = 1;
      released.acquire_time = now;
      released.renew_time = now;
      released.lease_transitions = observed_->lease_transitions;
      released.resource_version = observed_->resource_version;
    }
  }
  // on_stopped_leading runs before the write that lets another candidate in.
  fireCallbacks();
  if (!ours) {
    return ok();
  }
  Result<LeaseRecord> updated = store_.update(released);
  if (!updated) {
    if (updated.error().code == ErrorCode::Conflict) {
      return ok();  // written by someone else since: no longer ours to release
    }
    return fail(std::move(updated).error().context("release lease"));
  }
  {
    std::lock_guard lock(mu_);
    observeLocked(*updated, clock_.steadyNow());
  }
  fireCallbacks();
  return ok();
}

void LeaderElector::fireCallbacks() {
  std::lock_guard callback_lock(callback_mu_);
  for (;;) {
    std::pair<Event, std::string> event;
    {
      std::lock_guard lock(mu_);
      if (pending_.empty()) {
        return;
      }
      event = std::move(pending_.front());
      pending_.pop_front();
    }
    switch (event.first) {
      case Event::Started:
        if (callbacks_.on_started_leading) {
          callbacks_.on_started_leading();
        }
        break;
      case Event::Stopped:
        if (callbacks_.on_stopped_leading) {
          callbacks_.on_stopped_leading();
        }
        break;
      case Event::NewLeader:
        logger().info("new leader observed",
                      log::kv("lease", store_.describe(), "leader", event.second));
        if (callbacks_.on_new_leader) {
          callbacks_.on_new_leader(event.second);
        }
        break;
    }
  }
}

bool LeaderElector::stopped() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

void LeaderElector::stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
}

void LeaderElector::sleepUnlessStopped(Duration d) {
  while (d > Duration::zero() && !stopped()) {
    const Duration slice = std::min(d, kSleepSlice);
    clock_.sleepFor(slice);
    d -= slice;
  }
}

void LeaderElector::run() {
  std::thread watchdog([this] {
    while (!stopped()) {
      Duration sleep = kSleepSlice;
      {
        std::lock_guard lock(mu_);
        if (leading_) {
          const auto until =
              std::chrono::duration_cast<Duration>(valid_until_ - clock_.steadyNow());
          sleep = std::clamp(until, Duration(1), kSleepSlice);
        }
      }
      checkDeadline();
      clock_.sleepFor(sleep);
    }
  });
  while (!stopped()) {
    const Duration wait = tick();
    sleepUnlessStopped(wait);
  }
  watchdog.join();
  if (config_.release_on_cancel) {
    Status released = release();
    if (!released) {
      logger().warn("lease release failed",
                    log::kv("lease", store_.describe(), "error", released.error().toString()));
    }
  } else {
    std::lock_guard lock(mu_);
    stepDownLocked("stopped");
  }
  fireCallbacks();
}

bool LeaderElector::isLeader() const {
  std::lock_guard lock(mu_);
  return leading_ && clock_.steadyNow() < valid_until_;
}

std::string LeaderElector::observedLeader() const {
  std::lock_guard lock(mu_);
  return observed_.has_value() ? observed_->holder_identity : std::string();
}

}  // namespace opsy::kube

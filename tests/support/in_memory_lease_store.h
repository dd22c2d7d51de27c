// File: in_memory_lease_store.h
//
// An in-memory Lease for leader-election tests. InMemoryLease is the "API server": one record
// with a resourceVersion bumped on every write and 409s on stale updates. Each candidate talks to
// it through its own InMemoryLeaseStore, whose faults are injected per candidate: scripted errors
// (optionally after the write was applied, like a timeout on a committed request), a partition
// (every call fails), and stalls (a call sleeps on the clock before it runs).
//
//   auto lease = std::make_shared<InMemoryLease>();
//   InMemoryLeaseStore a(lease, clock), b(lease, clock);
//   b.failNext(Error(ErrorCode::Unavailable, "timeout"), /*apply_anyway=*/true);
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "opsy/core/clock.h"
#include "opsy/kube/leader_election.h"

namespace opsy::kube {

class InMemoryLease {
 public:
  Result<LeaseRecord> get();
  Result<LeaseRecord> create(const LeaseRecord& record);
  Result<LeaseRecord> update(const LeaseRecord& record);
  // The stored record, for assertions.
  std::optional<LeaseRecord> peek() const;
  // Puts a record in place, as another writer would (bumps the version).
  LeaseRecord put(LeaseRecord record);
  int writes() const;

 private:
  mutable std::mutex mu_;
  std::optional<LeaseRecord> record_;
  long version_ = 0;
  int writes_ = 0;
};

class InMemoryLeaseStore : public LeaseStore {
 public:
  InMemoryLeaseStore(std::shared_ptr<InMemoryLease> lease, Clock& clock);

  Result<LeaseRecord> get() override;
  Result<LeaseRecord> create(const LeaseRecord& record) override;
  Result<LeaseRecord> update(const LeaseRecord& record) override;
  std::string describe() const override { return "test/lease"; }

  // The next call fails with `error`; with apply_anyway a write still reaches the lease.
  void failNext(Error error, bool apply_anyway = false);
  // While partitioned every call fails with Unavailable and nothing is applied.
  void setPartitioned(bool partitioned);
  // Every call first sleeps this long on the clock (a slow or stalled network).
  void setStall(Duration stall);
  int calls() const;
  int pendingFaults() const;
  void clearFaults();

 private:
  struct Fault {
    Error error;
    bool apply_anyway = false;
  };
  template <class Fn>
  Result<LeaseRecord> call(bool is_write, Fn&& fn);

  std::shared_ptr<InMemoryLease> lease_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::deque<Fault> faults_;
  bool partitioned_ = false;
  Duration stall_{0};
  int calls_ = 0;
};

}  // namespace opsy::kube

#include "support/in_memory_lease_store.h"

#include <string>

namespace opsy::kube {

Result<LeaseRecord> InMemoryLease::get() {
  std::lock_guard lock(mu_);
  if (!record_.has_value()) {
    return fail(ErrorCode::NotFound, "lease not found");
  }
  return *record_;
}

Result<LeaseRecord> InMemoryLease::create(const LeaseRecord& record) {
  std::lock_guard lock(mu_);
  if (record_.has_value()) {
    return fail(Error(ErrorCode::AlreadyExists, "lease already exists").withHttpStatus(409));
  }
  record_ = record;
  record_->resource_version = std::to_string(++version_);
  ++writes_;
  return *record_;
}

Result<LeaseRecord> InMemoryLease::update(const LeaseRecord& record) {
  std::lock_guard lock(mu_);
  if (!record_.has_value()) {
    return fail(ErrorCode::NotFound, "lease not found");
  }
  if (record.resource_version != record_->resource_version) {
    return fail(Error(ErrorCode::Conflict, "lease modified").withHttpStatus(409));
  }
  record_ = record;
  record_->resource_version = std::to_string(++version_);
  ++writes_;
  return *record_;
}

std::optional<LeaseRecord> InMemoryLease::peek() const {
  std::lock_guard lock(mu_);
  return record_;
}

LeaseRecord InMemoryLease::put(LeaseRecord record) {
  std::lock_guard lock(mu_);
  record.resource_version = std::to_string(++version_);
  record_ = record;
  ++writes_;
  return record;
}

int InMemoryLease::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

InMemoryLeaseStore::InMemoryLeaseStore(std::shared_ptr<InMemoryLease> lease, Clock& clock)
    : lease_(std::move(lease)), clock_(clock) {}

template <class Fn>
Result<LeaseRecord> InMemoryLeaseStore::call(bool is_write, Fn&& fn) {
  std::optional<Fault> fault;
  Duration stall{0};
  {
    std::lock_guard lock(mu_);
    ++calls_;
    stall = stall_;
    if (partitioned_) {
      fault = Fault{Error(ErrorCode::Unavailable, "network partition"), false};
    } else if (!faults_.empty()) {
      fault = faults_.front();
      faults_.pop_front();
    }
  }
  if (stall > Duration::zero()) {
    clock_.sleepFor(stall);
  }
  if (!fault.has_value()) {
    return fn();
  }
  if (fault->apply_anyway && is_write) {
    (void)fn();  // the write lands, yet the caller sees the fault (a lost response)
  }
  return tl::unexpected(fault->error);
}

Result<LeaseRecord> InMemoryLeaseStore::get() {
  return call(false, [&] { return lease_->get(); });
}

Result<LeaseRecord> InMemoryLeaseStore::create(const LeaseRecord& record) {
  return call(true, [&] { return lease_->create(record); });
}

Result<LeaseRecord> InMemoryLeaseStore::update(const LeaseRecord& record) {
  return call(true, [&] { return lease_->update(record); });
}

void InMemoryLeaseStore::failNext(Error error, bool apply_anyway) {
  std::lock_guard lock(mu_);
  faults_.push_back(Fault{std::move(error), apply_anyway});
}

void InMemoryLeaseStore::setPartitioned(bool partitioned) {
  std::lock_guard lock(mu_);
  partitioned_ = partitioned;
}

void InMemoryLeaseStore::setStall(Duration stall) {
  std::lock_guard lock(mu_);
  stall_ = stall;
}

int InMemoryLeaseStore::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

int InMemoryLeaseStore::pendingFaults() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(faults_.size());
}

void InMemoryLeaseStore::clearFaults() {
  std::lock_guard lock(mu_);
  faults_.clear();
}

}  // namespace opsy::kube

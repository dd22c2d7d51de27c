#include "opsy/kube/lease_store.h"

namespace opsy::kube {

LeaseRecord leaseRecordOf(const Lease& lease) {
  LeaseRecord r;
  r.holder_identity = lease.holder_identity.value_or("");
  r.lease_duration_seconds = lease.lease_duration_seconds.value_or(0);
  r.acquire_time = lease.acquire_time;
  r.renew_time = lease.renew_time;
  r.lease_transitions = lease.lease_transitions.value_or(0);
  r.resource_version = lease.metadata.resource_version;
  return r;
}

ClientLeaseStore::ClientLeaseStore(ClientPtr client, std::string ns, std::string name)
    : client_(std::move(client)), ns_(std::move(ns)), name_(std::move(name)) {}

Lease ClientLeaseStore::toLease(const LeaseRecord& record, bool for_update) {
  Lease lease;
  {
    std::lock_guard lock(mu_);
    if (for_update && last_.has_value()) {
      lease = *last_;
    }
  }
  lease.metadata.name = name_;
  lease.metadata.ns = ns_;
  lease.metadata.resource_version = for_update ? record.resource_version : "";
  // An empty holder is written as "" (a released lease), as client-go does.
  lease.holder_identity = record.holder_identity;
  lease.lease_duration_seconds = record.lease_duration_seconds;
  lease.acquire_time = record.acquire_time;
  lease.renew_time = record.renew_time;
  lease.lease_transitions = record.lease_transitions;
  return lease;
}

Result<LeaseRecord> ClientLeaseStore::remember(const Result<Object>& stored,
                                               std::string_view verb) {
  if (!stored) {
    return fail(Error(stored.error()));
  }
  auto lease = Lease::fromObject(*stored);
  if (!lease) {
    return fail(std::move(lease).error().context(std::string(verb) + " lease " + describe()));
  }
  LeaseRecord record = leaseRecordOf(*lease);
  std::lock_guard lock(mu_);
  last_ = std::move(*lease);
  return record;
}

Result<LeaseRecord> ClientLeaseStore::get() {
  return remember(client_->get(Lease::resource(), ns_, name_), "get");
}

Result<LeaseRecord> ClientLeaseStore::create(const LeaseRecord& record) {
  auto stored = client_->create(Lease::resource(), toLease(record, false).toObject(), {});
  if (!stored && stored.error().code == ErrorCode::Conflict) {
    // Some servers answer a lost create race with a bare 409; the elector wants AlreadyExists.
    Error e = stored.error();
    e.code = ErrorCode::AlreadyExists;
    return fail(std::move(e));
  }
  return remember(stored, "create");
}

Result<LeaseRecord> ClientLeaseStore::update(const LeaseRecord& record) {
  return remember(client_->update(Lease::resource(), toLease(record, true).toObject(), {}),
                  "update");
}

}  // namespace opsy::kube

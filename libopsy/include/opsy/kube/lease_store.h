// File: lease_store.h
//
// The LeaseStore leader election competes for (leader_election.h), over the Kubernetes REST
// client: GET, POST and PUT on coordination.k8s.io/v1 .../namespaces/{ns}/leases/{name}. The
// server's answers map onto what the elector expects: 404 -> NotFound, a create that lost the
// race -> AlreadyExists, a stale resourceVersion -> Conflict. Updates start from the Lease as last
// read, so labels, annotations and spec fields this code does not model survive.
//
//   kube::ClientLeaseStore store(client, "opsy-system", "packer-builder-controller");
//   auto elector = kube::LeaderElector::create(config, store, clock, callbacks);
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "opsy/kube/client.h"
#include "opsy/kube/leader_election.h"
#include "opsy/kube/objects.h"

namespace opsy::kube {

class ClientLeaseStore : public LeaseStore {
 public:
  ClientLeaseStore(ClientPtr client, std::string ns, std::string name);

  Result<LeaseRecord> get() override;
  Result<LeaseRecord> create(const LeaseRecord& record) override;
  Result<LeaseRecord> update(const LeaseRecord& record) override;
  std::string describe() const override { return ns_ + "/" + name_; }

 private:
  Lease toLease(const LeaseRecord& record, bool for_update);
  Result<LeaseRecord> remember(const Result<Object>& stored, std::string_view verb);

  ClientPtr client_;
  std::string ns_;
  std::string name_;
  std::mutex mu_;
  // The Lease as last read or written, the base of the next update.
  std::optional<Lease> last_;
};

// The fields leader election uses, read from a Lease.
LeaseRecord leaseRecordOf(const Lease& lease);

}  // namespace opsy::kube

// File: event_sink.h
//
// The EventSink the events recorder writes through (events.h), over the Kubernetes REST client:
// a new event is a POST of an events.k8s.io/v1 Event, a repeat is a merge patch of its series.
// Failures come back as the client's errors; the recorder counts and logs them.
//
//   kube::ClientEventSink sink(client);
//   kube::EventRecorderImpl recorder(sink, clock, {.reporting_controller = "ami.refresh.ops/x"});
#pragma once

#include <string>

#include "opsy/kube/client.h"
#include "opsy/kube/events.h"
#include "opsy/kube/objects.h"

namespace opsy::kube {

class ClientEventSink : public EventSink {
 public:
  explicit ClientEventSink(ClientPtr client) : client_(std::move(client)) {}

  Status create(const EventRecord& event) override;
  Status patch(const std::string& name, const std::string& ns,
               const EventRecordSeries& series) override;

 private:
  ClientPtr client_;
};

// The typed Event for a record (what create() posts).
Event eventOf(const EventRecord& record);

}  // namespace opsy::kube

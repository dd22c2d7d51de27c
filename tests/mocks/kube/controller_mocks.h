// File: controller_mocks.h
//
// gmock classes for the controller-machinery seams of opsy::kube: the event recorder a reconciler
// depends on, and the sinks and stores the runtime adapts the API client to.
// Use them as StrictMock unless the mock is not the point of the test.
//
//   testing::StrictMock<MockEventRecorder> events;
//   EXPECT_CALL(events, record(_, EventType::Warning, "BuildFailed", "Build", _));
#pragma once

#include <gmock/gmock.h>

#include "opsy/kube/events.h"
#include "opsy/kube/leader_election.h"

namespace opsy::kube {

class MockEventRecorder : public EventRecorder {
 public:
  MOCK_METHOD(void, record,
              (const EventObjectRef& regarding, EventType type, std::string_view reason,
               std::string_view action, std::string_view note),
              (override));
};

class MockEventSink : public EventSink {
 public:
  MOCK_METHOD(Status, create, (const EventRecord& event), (override));
  MOCK_METHOD(Status, patch,
              (const std::string& name, const std::string& ns, const EventRecordSeries& series),
              (override));
};

class MockLeaseStore : public LeaseStore {
 public:
  MOCK_METHOD(Result<LeaseRecord>, get, (), (override));
  MOCK_METHOD(Result<LeaseRecord>, create, (const LeaseRecord& record), (override));
  MOCK_METHOD(Result<LeaseRecord>, update, (const LeaseRecord& record), (override));
  MOCK_METHOD(std::string, describe, (), (const, override));
};

}  // namespace opsy::kube

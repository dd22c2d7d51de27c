// File: kube_client_mock.h
//
// gmock doubles for the Kubernetes client roles, so a reconciler test mocks exactly the role it
// depends on (ObjectReader, ObjectWriter, StatusWriter, PodLogReader).
//
//   StrictMock<MockObjectReader> reader;
//   EXPECT_CALL(reader, get(_, "ci", "build-1")).WillOnce(Return(jobObject));
#pragma once

#include <gmock/gmock.h>

#include "opsy/kube/client.h"

namespace opsy::kube {

class MockObjectReader : public ObjectReader {
 public:
  MOCK_METHOD(Result<Object>, get,
              (const Resource& resource, std::string_view ns, std::string_view name), (override));
  MOCK_METHOD(Result<ObjectList>, list,
              (const Resource& resource, std::string_view ns, const ListOptions& options),
              (override));
};

class MockObjectWriter : public ObjectWriter {
 public:
  MOCK_METHOD(Result<Object>, create,
              (const Resource& resource, const Object& obj, const WriteOptions& options),
              (override));
  MOCK_METHOD(Result<Object>, update,
              (const Resource& resource, const Object& obj, const WriteOptions& options),
              (override));
  MOCK_METHOD(Result<Object>, patch,
              (const Resource& resource, std::string_view ns, std::string_view name, PatchType type,
               std::string_view body, const PatchOptions& options),
              (override));
  MOCK_METHOD(Status, remove,
              (const Resource& resource, std::string_view ns, std::string_view name,
               const DeleteOptions& options),
              (override));
};

class MockStatusWriter : public StatusWriter {
 public:
  MOCK_METHOD(Result<Object>, updateStatus,
              (const Resource& resource, const Object& obj, const WriteOptions& options),
              (override));
  MOCK_METHOD(Result<Object>, patchStatus,
              (const Resource& resource, std::string_view ns, std::string_view name, PatchType type,
               std::string_view body, const PatchOptions& options),
              (override));
};

class MockPodLogReader : public PodLogReader {
 public:
  MOCK_METHOD(Result<std::string>, podLog,
              (std::string_view ns, std::string_view pod, const PodLogOptions& options),
              (override));
};

}  // namespace opsy::kube

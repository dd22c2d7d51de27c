// File: fake_kube_capture.h
//
// Records the built-in objects that clients write to a FakeKube, so that tests/conformance can
// check them against the upstream Kubernetes schemas: the fake validates only the rules the
// project's writes are known to break, and an object it accepts may still be one a real API
// server refuses. Enabled by the environment variable OPSY_FAKE_KUBE_CAPTURE_DIR.
//
//   auto capture = WriteCapture::fromEnvironment();  // nullptr when the variable is unset
//   if (capture) capture->record("create", req.path, stored_object);
#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "support/fake_kube_json.h"

namespace opsy::testing {

inline constexpr const char* kCaptureDirVariable = "OPSY_FAKE_KUBE_CAPTURE_DIR";
// Objects larger than this are written as a `skipped` line instead (the validator lists them).
inline constexpr size_t kMaxCapturedObjectBytes = 1 << 20;

class WriteCapture {
 public:
  // A capture into a new file under $OPSY_FAKE_KUBE_CAPTURE_DIR, named fake-kube-<pid>-<n>.jsonl
  // (n counts the captures of this process), or nullptr when the variable is unset or empty.
  static std::unique_ptr<WriteCapture> fromEnvironment();

  explicit WriteCapture(std::string path);
  ~WriteCapture();
  WriteCapture(const WriteCapture&) = delete;
  WriteCapture& operator=(const WriteCapture&) = delete;

  // Appends {"verb":..., "path":..., "object":{...}} as one line and flushes it, so a test
  // process that dies later loses nothing. The file is created on the first record.
  void record(std::string_view verb, std::string_view path, const JsonValue& object);
  const std::string& path() const { return path_; }

 private:
  std::mutex mu_;
  const std::string path_;
  std::FILE* file_ = nullptr;  // guarded by mu_
  bool failed_ = false;        // guarded by mu_; the open failed and was reported once
};

}  // namespace opsy::testing

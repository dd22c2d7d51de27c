// Capture of client writes for the conformance check (see fake_kube_capture.h).
#include "support/fake_kube_capture.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace opsy::testing {

std::unique_ptr<WriteCapture> WriteCapture::fromEnvironment() {
  const char* dir = std::getenv(kCaptureDirVariable);
  if (dir == nullptr || *dir == '\0') {
    return nullptr;
  }
  // Several fakes may run in one test process, and several test processes at once (ctest -j):
  // pid and counter keep every file apart without any coordination between them.
  static std::atomic<unsigned> counter{0};
  return std::make_unique<WriteCapture>(
      fmt::format("{}/fake-kube-{}-{}.jsonl", dir, ::getpid(), counter.fetch_add(1) + 1));
}

WriteCapture::WriteCapture(std::string path) : path_(std::move(path)) {}

WriteCapture::~WriteCapture() {
  if (file_ != nullptr) {
    std::fclose(file_);
  }
}

void WriteCapture::record(std::string_view verb, std::string_view path, const JsonValue& object) {
  const std::string body = toJson(object);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> line(buffer);
  line.StartObject();
  line.Key("verb");
  line.String(verb.data(), static_cast<rapidjson::SizeType>(verb.size()));
  line.Key("path");
  line.String(path.data(), static_cast<rapidjson::SizeType>(path.size()));
  if (body.size() > kMaxCapturedObjectBytes) {
    // Named, so that the validator reports it as skipped rather than losing it silently.
    line.Key("skipped");
    line.String("object over 1 MiB");
    line.Key("bytes");
    line.Uint64(body.size());
    for (const char* field : {"apiVersion", "kind"}) {
      line.Key(field);
      const std::string value = stringAt(object, {field});
      line.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    }
    line.Key("name");
    const std::string name = stringAt(object, {"metadata", "name"});
    line.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  } else {
    line.Key("object");
    line.RawValue(body.data(), body.size(), rapidjson::kObjectType);
  }
  line.EndObject();

  std::lock_guard lock(mu_);
  if (file_ == nullptr && !failed_) {
    file_ = std::fopen(path_.c_str(), "a");
    if (file_ == nullptr) {
      failed_ = true;
      fmt::print(stderr, "fake-kube: cannot write the capture {}: {}\n", path_,
                 std::strerror(errno));
    }
  }
  if (file_ != nullptr) {
    std::fwrite(buffer.GetString(), 1, buffer.GetSize(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }
}

}  // namespace opsy::testing

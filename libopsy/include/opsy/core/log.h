// File: log.h
//
// Structured logging on spdlog, one named logger per component ("aws", "kube.informer",
// "controller.packer-builder"). A log call passes a constant, lower-case message and its key/value
// fields as separate data, down to the formatter: text output prints `message k=v k2="a b"`, JSON
// output writes each field as a member of the line's object. The message is never a format string,
// so a field cannot be dropped by a message that lacks a "{}". Every line passes through a scrubber
// that masks credentials (Authorization headers, SigV4 signatures, session tokens, bearer and Slack
// tokens, and every value registered with registerSecret()), so a secret cannot reach a log line
// even by mistake.
//
//   log::get("aws").info("request sent", log::kv("operation", "DescribeImages", "code", 200));
//   log::registerSecret(credentials.secret_access_key);
#pragma once

#include <fmt/format.h>
#include <spdlog/common.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "opsy/core/result.h"

namespace opsy::log {

enum class Format { Text, Json };

struct Options {
  Format format = Format::Text;
  spdlog::level::level_enum level = spdlog::level::info;
};

[[nodiscard]] Result<Format> parseFormat(std::string_view text);
[[nodiscard]] Result<spdlog::level::level_enum> parseLevel(std::string_view text);

// (Re)configures every logger: existing and future ones write to stderr in the given format.
void setup(const Options& options);

// Test hook: routes every logger to `sink` (in addition to nothing else) until reset.
void setSinkForTest(spdlog::sink_ptr sink);

// Flushes every logger's sink; called before an abrupt exit so the last lines are not lost.
void flush();

// Adds a value that must never appear in output (secret keys, session and bearer tokens), with
// the spellings it takes inside URLs and JSON strings (percent-encoded, JSON-escaped). Values
// shorter than 6 characters are ignored: masking them would mangle ordinary text.
void registerSecret(std::string_view value);

// Masks every known credential pattern and every registered secret in `text`.
std::string scrub(std::string_view text);

// scrub(), then cut to at most `max_bytes` on a UTF-8 boundary, the cut marked
// "...[truncated N bytes]" within the limit: for text that leaves the process (log values,
// Events, status messages, notifications), which may hold a remote service's error body.
std::string scrubBounded(std::string_view text, std::size_t max_bytes);

// A value that prints as "[redacted]"; wrap anything secret that might end up in a field.
struct Secret {
  std::string value;
};

namespace detail {
template <class T>
std::string fieldValue(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, Secret>) {
    return "[redacted]";
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return std::string(std::string_view(v));
  } else {
    return fmt::format("{}", v);
  }
}
}  // namespace detail

// One key/value pair of a log line. The value is kept as plain text; each formatter quotes or
// escapes it for its own output.
struct Field {
  template <class V>
  Field(std::string_view k, const V& v) : key(k), value(detail::fieldValue(v)) {}

  bool operator==(const Field&) const = default;

  std::string key;
  std::string value;
};
using Fields = std::vector<Field>;

namespace detail {
inline void kvAppend(Fields&) {}
template <class V, class... Rest>
void kvAppend(Fields& out, std::string_view key, const V& value, const Rest&... rest) {
  out.emplace_back(key, value);
  kvAppend(out, rest...);
}

class Channel;
}  // namespace detail

// kv("object", "ci/base", "attempt", 2, "ok", true) -> {object: ci/base, attempt: 2, ok: true}.
// Keys are the same everywhere: object, controller, aws_request_id, error.
template <class... Args>
Fields kv(const Args&... args) {
  static_assert(sizeof...(Args) % 2 == 0, "kv() takes key, value pairs");
  Fields out;
  out.reserve(sizeof...(Args) / 2);
  detail::kvAppend(out, args...);
  return out;
}

// A component's logger: a cheap handle, valid for the life of the process.
class Logger {
 public:
  void trace(std::string_view message, const Fields& fields = {}) const;
  void debug(std::string_view message, const Fields& fields = {}) const;
  void info(std::string_view message, const Fields& fields = {}) const;
  void warn(std::string_view message, const Fields& fields = {}) const;
  void error(std::string_view message, const Fields& fields = {}) const;
  void log(spdlog::level::level_enum level, std::string_view message,
           const Fields& fields = {}) const;

  // Whether a line at `level` would be written; lets a caller skip building costly fields.
  [[nodiscard]] bool enabled(spdlog::level::level_enum level) const;
  // Overrides this component's level until the next setup().
  void setLevel(spdlog::level::level_enum level) const;

 private:
  friend Logger get(std::string_view component);
  explicit Logger(detail::Channel* channel) : channel_(channel) {}

  detail::Channel* channel_;  // owned by the process-wide registry, never destroyed
};

// The logger for a component, created on first use with the current sinks and level.
Logger get(std::string_view component);

}  // namespace opsy::log

template <>
struct fmt::formatter<opsy::log::Secret> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const opsy::log::Secret&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("[redacted]", ctx);
  }
};

// File: log.h
//
// Logging on spdlog, one named logger per component ("aws", "kube.informer",
// "controller.packer-builder"). Messages are constant, lower-case text followed by key=value pairs
// built with kv(); text output prints them as they are, JSON output turns each pair into a field.
// Every line passes through a scrubber that masks credentials (Authorization headers, SigV4
// signatures, session tokens, bearer and Slack tokens, and every value registered with
// registerSecret()), so a secret cannot reach a log line even by mistake.
//
//   log::get("aws")->info("request sent {}", log::kv("operation", "DescribeImages", "code", 200));
//   log::registerSecret(credentials.secret_access_key);
#pragma once

#include <fmt/format.h>
#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

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

// The logger for a component, created on first use with the current sinks and level.
std::shared_ptr<spdlog::logger> get(std::string_view component);

// Test hook: routes every logger to `sink` (in addition to nothing else) until reset.
void setSinkForTest(spdlog::sink_ptr sink);

// Adds a value that must never appear in output (secret keys, session and bearer tokens).
// Values shorter than 6 characters are ignored: masking them would mangle ordinary text.
void registerSecret(std::string_view value);

// Masks every known credential pattern and every registered secret in `text`.
std::string scrub(std::string_view text);

// A value that formats as "[redacted]"; wrap anything secret that might end up in a message.
struct Secret {
  std::string value;
};

namespace detail {
std::string quoteIfNeeded(std::string_view value);
template <class T>
std::string kvValue(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else {
    return quoteIfNeeded(fmt::format("{}", v));
  }
}
inline void kvAppend(std::string&) {}
template <class V, class... Rest>
void kvAppend(std::string& out, std::string_view key, const V& value, const Rest&... rest) {
  if (!out.empty()) {
    out.push_back(' ');
  }
  out.append(key);
  out.push_back('=');
  out.append(kvValue(value));
  kvAppend(out, rest...);
}
}  // namespace detail

// kv("object", "ci/base", "attempt", 2) -> `object=ci/base attempt=2`; values with spaces, quotes
// or '=' are double-quoted with escapes.
template <class... Args>
std::string kv(const Args&... args) {
  static_assert(sizeof...(Args) % 2 == 0, "kv() takes key, value pairs");
  std::string out;
  detail::kvAppend(out, args...);
  return out;
}

}  // namespace opsy::log

template <>
struct fmt::formatter<opsy::log::Secret> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const opsy::log::Secret&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("[redacted]", ctx);
  }
};

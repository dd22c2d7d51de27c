#include "opsy/core/log.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <regex>
#include <set>
#include <shared_mutex>

#include "opsy/core/time_format.h"

namespace opsy::log {
namespace {

constexpr std::string_view kMask = "[redacted]";

// Longest first, so a secret that contains another is masked whole.
struct LongestFirst {
  bool operator()(const std::string& a, const std::string& b) const {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  }
};

struct Registry {
  std::mutex mu;
  Options options;
  spdlog::sink_ptr sink;
  std::shared_mutex secrets_mu;
  std::set<std::string, LongestFirst> secrets;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: loggers may log during static teardown
  return *r;
}

// Credential shapes that must never be printed, whatever the caller did.
const std::vector<std::pair<std::regex, std::string>>& patterns() {
  static const auto* list = new std::vector<std::pair<std::regex, std::string>>{
      // Authorization / x-amz-security-token / x-aws-ec2-metadata-token headers, any case.
      {std::regex(R"(((?:authorization|x-amz-security-token|x-aws-ec2-metadata-token|)"
                  R"(x-amz-content-sha256-secret|cookie)\s*[:=]\s*)[^\r\n]*)",
                  std::regex::icase),
       "$1[redacted]"},
      // SigV4 signatures, in headers and presigned URLs.
      {std::regex(R"((Signature\s*=\s*)[0-9a-fA-F]{16,})", std::regex::icase), "$1[redacted]"},
      {std::regex(R"((X-Amz-Security-Token=)[^&\s"']+)", std::regex::icase), "$1[redacted]"},
      {std::regex(R"((X-Amz-Credential=)[^&\s"']+)", std::regex::icase), "$1[redacted]"},
      // key=value or "key":"value" forms of secret-bearing fields.
      {std::regex(R"(((?:secret_?access_?key|session_?token|secret|password|passwd|token|)"
                  R"(aws_secret_access_key|aws_session_token|client-key-data|api_?key))"
                  R"(["']?\s*[:=]\s*["']?)[^"'\s,&}]+)",
                  std::regex::icase),
       "$1[redacted]"},
      {std::regex(R"((Bearer\s+)[A-Za-z0-9._~+/=-]+)", std::regex::icase), "$1[redacted]"},
      // Slack tokens and EKS bearer tokens, wherever they appear.
      {std::regex(R"(xox[abposr]-[A-Za-z0-9-]+)"), "[redacted]"},
      {std::regex(R"(k8s-aws-v1\.[A-Za-z0-9_-]+)"), "[redacted]"},
      // PEM private keys.
      {std::regex(R"(-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)"),
       "[redacted]"},
  };
  return *list;
}

void escapeJson(std::string_view in, std::string& out) {
  for (char c : in) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(static_cast<unsigned char>(c)));
        } else {
          out.push_back(c);
        }
    }
  }
}

bool isKeyStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool isKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// Splits "constant text k=v k2="a b"" into the text and the pairs (values unquoted).
void splitMessage(std::string_view msg, std::string& text,
                  std::vector<std::pair<std::string, std::string>>& pairs) {
  size_t i = 0;
  while (i < msg.size()) {
    while (i < msg.size() && msg[i] == ' ') {
      ++i;
    }
    size_t start = i;
    size_t eq = std::string_view::npos;
    if (i < msg.size() && isKeyStart(msg[i])) {
      size_t j = i;
      while (j < msg.size() && isKeyChar(msg[j])) {
        ++j;
      }
      if (j < msg.size() && msg[j] == '=') {
        eq = j;
      }
    }
    if (eq == std::string_view::npos) {
      // A plain word: part of the message text.
      while (i < msg.size() && msg[i] != ' ') {
        ++i;
      }
      if (!text.empty()) {
        text.push_back(' ');
      }
      text.append(msg.substr(start, i - start));
      continue;
    }
    std::string key(msg.substr(start, eq - start));
    std::string value;
    i = eq + 1;
    if (i < msg.size() && msg[i] == '"') {
      ++i;
      while (i < msg.size() && msg[i] != '"') {
        if (msg[i] == '\\' && i + 1 < msg.size()) {
          char n = msg[++i];
          value.push_back(n == 'n' ? '\n' : n);
        } else {
          value.push_back(msg[i]);
        }
        ++i;
      }
      ++i;
    } else {
      while (i < msg.size() && msg[i] != ' ') {
        value.push_back(msg[i++]);
      }
    }
    pairs.emplace_back(std::move(key), std::move(value));
  }
}

class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string text;
    std::vector<std::pair<std::string, std::string>> pairs;
    splitMessage(std::string_view(msg.payload.data(), msg.payload.size()), text, pairs);
    std::string out = "{\"ts\":\"";
    out += formatRfc3339Millis(std::chrono::time_point_cast<std::chrono::microseconds>(msg.time));
    out += "\",\"level\":\"";
    auto level = spdlog::level::to_string_view(msg.level);
    out.append(level.data(), level.size());
    out += "\",\"logger\":\"";
    escapeJson(std::string_view(msg.logger_name.data(), msg.logger_name.size()), out);
    out += "\",\"msg\":\"";
    escapeJson(text, out);
    out += "\"";
    for (const auto& [k, v] : pairs) {
      if (k == "ts" || k == "level" || k == "logger" || k == "msg") {
        continue;
      }
      out += ",\"";
      escapeJson(k, out);
      out += "\":\"";
      escapeJson(v, out);
      out += "\"";
    }
    out += "}\n";
    std::string clean = scrub(out);
    dest.append(clean.data(), clean.data() + clean.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

class ScrubbingTextFormatter : public spdlog::formatter {
 public:
  ScrubbingTextFormatter()
      : inner_("%Y-%m-%dT%H:%M:%S.%eZ %l %n %v", spdlog::pattern_time_type::utc) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    spdlog::memory_buf_t raw;
    inner_.format(msg, raw);
    std::string clean = scrub(std::string_view(raw.data(), raw.size()));
    dest.append(clean.data(), clean.data() + clean.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<ScrubbingTextFormatter>();
  }

 private:
  spdlog::pattern_formatter inner_;
};

std::unique_ptr<spdlog::formatter> makeFormatter(Format f) {
  if (f == Format::Json) {
    return std::make_unique<JsonFormatter>();
  }
  return std::make_unique<ScrubbingTextFormatter>();
}

spdlog::sink_ptr defaultSink() {
  static spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return sink;
}

void applyLocked(Registry& r) {
  spdlog::sink_ptr sink = r.sink ? r.sink : defaultSink();
  sink->set_formatter(makeFormatter(r.options.format));
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
    l->sinks().clear();
    l->sinks().push_back(sink);
    l->set_level(r.options.level);
  });
}

}  // namespace

Result<Format> parseFormat(std::string_view text) {
  if (text == "text") {
    return Format::Text;
  }
  if (text == "json") {
    return Format::Json;
  }
  return fail(ErrorCode::InvalidArgument,
              fmt::format("invalid log format \"{}\": expected text or json", text));
}

Result<spdlog::level::level_enum> parseLevel(std::string_view text) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace},  {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},    {"warn", spdlog::level::warn},
      {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
      {"off", spdlog::level::off}};
  for (const auto& [name, level] : kLevels) {
    if (name == text) {
      return level;
    }
  }
  return fail(
      ErrorCode::InvalidArgument,
      fmt::format("invalid log level \"{}\": expected trace, debug, info, warn, error or off",
                  text));
}

void setup(const Options& options) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.options = options;
  applyLocked(r);
}

void setSinkForTest(spdlog::sink_ptr sink) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.sink = std::move(sink);
  applyLocked(r);
}

std::shared_ptr<spdlog::logger> get(std::string_view component) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::string name(component);
  if (auto existing = spdlog::get(name)) {
    return existing;
  }
  spdlog::sink_ptr sink = r.sink ? r.sink : defaultSink();
  if (!r.sink) {
    sink->set_formatter(makeFormatter(r.options.format));
  }
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  logger->set_level(r.options.level);
  spdlog::register_logger(logger);
  return logger;
}

void registerSecret(std::string_view value) {
  if (value.size() < 6) {
    return;
  }
  Registry& r = registry();
  std::unique_lock lock(r.secrets_mu);
  r.secrets.emplace(value);
}

std::string scrub(std::string_view text) {
  std::string out(text);
  {
    Registry& r = registry();
    std::shared_lock lock(r.secrets_mu);
    for (const std::string& secret : r.secrets) {
      size_t pos = 0;
      while ((pos = out.find(secret, pos)) != std::string::npos) {
        out.replace(pos, secret.size(), kMask);
        pos += kMask.size();
      }
    }
  }
  for (const auto& [re, replacement] : patterns()) {
    out = std::regex_replace(out, re, replacement);
  }
  return out;
}

namespace detail {

std::string quoteIfNeeded(std::string_view value) {
  bool needs = value.empty() || value.find_first_of(" \"=\n\t\\") != std::string_view::npos;
  if (!needs) {
    return std::string(value);
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace detail
}  // namespace opsy::log

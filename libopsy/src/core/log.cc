#include "opsy/core/log.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <vector>

#include "core/scrub.h"
#include "opsy/core/time_format.h"

namespace opsy::log {
namespace detail {

// An spdlog logger that hands the sinks a Record (message plus fields) instead of bare text.
class Channel final : public spdlog::logger {
 public:
  using spdlog::logger::logger;
  void write(const spdlog::details::log_msg& record) {
    // Never into the backtrace buffer: it copies log_msg and would drop the fields.
    log_it_(record, should_log(record.level), false);
  }
};

}  // namespace detail
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
  std::map<std::string, std::unique_ptr<detail::Channel>, std::less<>> channels;
  std::shared_mutex secrets_mu;
  std::set<std::string, LongestFirst> secrets;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: loggers may log during static teardown
  return *r;
}

// The most of one message or field value a line carries: an error body can be megabytes, and a
// log line that size helps nobody and costs memory in every sink on the way.
constexpr size_t kMaxValueBytes = 8 * 1024;

// A whole line: what the values of one line share. A line over it (many large fields, or escaping
// that grew them) is written again with every value cut short.
constexpr size_t kMaxLineBytes = 16 * 1024;
constexpr size_t kShortValueBytes = 256;

// Values of one line, each within kMaxValueBytes and all within what is left of the line.
class LineBudget {
 public:
  explicit LineBudget(size_t per_value) : per_value_(per_value) {}
  std::string take(std::string_view value, size_t used) {
    const size_t left = used < kMaxLineBytes ? kMaxLineBytes - used : 0;
    return scrubBounded(value, std::min(per_value_, left > 128 ? left - 128 : 0));
  }

 private:
  size_t per_value_;
};

// The spellings of `value` that text may carry: raw, percent-encoded (either hex case, as
// query strings and form bodies carry tokens) and JSON-escaped.
std::vector<std::string> spellings(std::string_view value) {
  std::vector<std::string> out{std::string(value)};
  std::string upper;
  std::string lower;
  std::string json;
  for (unsigned char c : value) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      upper.push_back(static_cast<char>(c));
      lower.push_back(static_cast<char>(c));
    } else {
      upper += fmt::format("%{:02X}", c);
      lower += fmt::format("%{:02x}", c);
    }
    if (c == '"' || c == '\\') {
      json.push_back('\\');
      json.push_back(static_cast<char>(c));
    } else if (c == '/') {
      json.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      json += fmt::format("\\u{:04x}", c);
    } else {
      json.push_back(static_cast<char>(c));
    }
  }
  for (std::string* s : {&upper, &lower, &json}) {
    if (*s != value) {
      out.push_back(std::move(*s));
    }
  }
  return out;
}

constexpr std::string_view kJsonReserved[] = {"ts", "level", "logger", "msg"};

// Marks a log_msg that is a Record, so a formatter can reach its fields without guessing.
constexpr char kRecordMarker[] = "opsy::log::Record";

// A log line as it travels from Logger to the sinks: spdlog's message plus the fields as data.
struct Record : spdlog::details::log_msg {
  Record(std::string_view logger, spdlog::level::level_enum lvl, std::string_view message,
         const Fields& f)
      : spdlog::details::log_msg(spdlog::source_loc{nullptr, 0, kRecordMarker}, logger, lvl,
                                 message),
        fields(&f) {}
  const Fields* fields;
};

const Fields* fieldsOf(const spdlog::details::log_msg& msg) {
  if (msg.source.funcname != kRecordMarker) {
    return nullptr;  // a line from spdlog itself, not from a Logger
  }
  return static_cast<const Record&>(msg).fields;
}

// key=value, with the value double-quoted and escaped when it would otherwise be ambiguous.
void appendTextField(const Field& field, std::string& out) {
  out.append(field.key);
  out.push_back('=');
  const std::string_view v = field.value;
  bool needs =
      v.empty() || v.find_first_of(" \"=\\") != std::string_view::npos ||
      std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
  if (!needs) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
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
  out.push_back('"');
}

void writeString(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = render(msg, kMaxValueBytes);
    if (line.size() > kMaxLineBytes) {
      line = render(msg, kShortValueBytes);
    }
    std::string clean = scrub(line);
    dest.append(clean.data(), clean.data() + clean.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  static std::string render(const spdlog::details::log_msg& msg, size_t per_value) {
    LineBudget budget(per_value);
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("ts");
    writeString(
        w, formatRfc3339Millis(std::chrono::time_point_cast<std::chrono::microseconds>(msg.time)));
    w.Key("level");
    auto level = spdlog::level::to_string_view(msg.level);
    writeString(w, std::string_view(level.data(), level.size()));
    w.Key("logger");
    writeString(w, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    w.Key("msg");
    writeString(
        w, budget.take(std::string_view(msg.payload.data(), msg.payload.size()), buf.GetSize()));
    if (const Fields* fields = fieldsOf(msg)) {
      for (const Field& f : *fields) {
        // A field named like a fixed member keeps its value under a prefixed name.
        bool reserved = std::find(std::begin(kJsonReserved), std::end(kJsonReserved), f.key) !=
                        std::end(kJsonReserved);
        writeString(w, reserved ? "field." + f.key : f.key);
        writeString(w, budget.take(f.value, buf.GetSize()));
      }
    }
    w.EndObject();
    std::string line(buf.GetString(), buf.GetSize());
    line.push_back('\n');
    return line;
  }
};

class ScrubbingTextFormatter : public spdlog::formatter {
 public:
  ScrubbingTextFormatter()
      : inner_("%Y-%m-%dT%H:%M:%S.%eZ %l %n %v", spdlog::pattern_time_type::utc) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = render(msg, kMaxValueBytes);
    if (line.size() > kMaxLineBytes) {
      line = render(msg, kShortValueBytes);
    }
    spdlog::details::log_msg with_fields = msg;  // a plain copy: not a Record any more
    with_fields.source = spdlog::source_loc{};
    with_fields.payload = line;
    spdlog::memory_buf_t raw;
    inner_.format(with_fields, raw);
    std::string clean = scrub(std::string_view(raw.data(), raw.size()));
    dest.append(clean.data(), clean.data() + clean.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<ScrubbingTextFormatter>();
  }

 private:
  static std::string render(const spdlog::details::log_msg& msg, size_t per_value) {
    LineBudget budget(per_value);
    std::string line = budget.take(std::string_view(msg.payload.data(), msg.payload.size()), 0);
    if (const Fields* fields = fieldsOf(msg)) {
      for (const Field& f : *fields) {
        line.push_back(' ');
        appendTextField(Field(f.key, budget.take(f.value, line.size())), line);
      }
    }
    return line;
  }

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
  for (auto& [name, channel] : r.channels) {
    channel->sinks().clear();
    channel->sinks().push_back(sink);
    channel->set_level(r.options.level);
  }
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

void flush() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (auto& [name, channel] : r.channels) {
    channel->flush();
  }
}

Logger get(std::string_view component) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  if (auto it = r.channels.find(component); it != r.channels.end()) {
    return Logger(it->second.get());
  }
  spdlog::sink_ptr sink = r.sink ? r.sink : defaultSink();
  if (!r.sink) {
    sink->set_formatter(makeFormatter(r.options.format));
  }
  auto channel = std::make_unique<detail::Channel>(std::string(component), sink);
  channel->set_level(r.options.level);
  detail::Channel* raw = channel.get();
  r.channels.emplace(std::string(component), std::move(channel));
  return Logger(raw);
}

void Logger::log(spdlog::level::level_enum level, std::string_view message,
                 const Fields& fields) const {
  if (!channel_->should_log(level)) {
    return;
  }
  channel_->write(Record(channel_->name(), level, message, fields));
}

void Logger::trace(std::string_view message, const Fields& fields) const {
  log(spdlog::level::trace, message, fields);
}
void Logger::debug(std::string_view message, const Fields& fields) const {
  log(spdlog::level::debug, message, fields);
}
void Logger::info(std::string_view message, const Fields& fields) const {
  log(spdlog::level::info, message, fields);
}
void Logger::warn(std::string_view message, const Fields& fields) const {
  log(spdlog::level::warn, message, fields);
}
void Logger::error(std::string_view message, const Fields& fields) const {
  log(spdlog::level::err, message, fields);
}

bool Logger::enabled(spdlog::level::level_enum level) const {
  return channel_->should_log(level);
}

void Logger::setLevel(spdlog::level::level_enum level) const {
  channel_->set_level(level);
}

void registerSecret(std::string_view value) {
  if (value.size() < 6) {
    return;
  }
  Registry& r = registry();
  {
    // Callers register per use (a token per request): the common case is a value already known.
    std::shared_lock lock(r.secrets_mu);
    if (r.secrets.find(std::string(value)) != r.secrets.end()) {
      return;
    }
  }
  std::unique_lock lock(r.secrets_mu);
  for (std::string& s : spellings(value)) {
    r.secrets.emplace(std::move(s));
  }
}

std::string scrubBounded(std::string_view text, std::size_t max_bytes) {
  // Scrubbed before it is cut, so no part of a secret survives a cut.
  std::string out = scrub(text);
  if (out.size() <= max_bytes) {
    return out;
  }
  const std::string marker_template = "...[truncated " + std::to_string(out.size()) + " bytes]";
  size_t cut = max_bytes > marker_template.size() ? max_bytes - marker_template.size() : 0;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) {
    --cut;  // not inside a UTF-8 sequence
  }
  const size_t dropped = out.size() - cut;
  out.resize(cut);
  out += "...[truncated " + std::to_string(dropped) + " bytes]";
  if (out.size() > max_bytes) {
    out.resize(max_bytes);  // a limit too small for the marker
  }
  return out;
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
  return detail::scrubPatterns(out);
}

}  // namespace opsy::log

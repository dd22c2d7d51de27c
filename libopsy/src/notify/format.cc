#include "opsy/notify/format.h"

#include <fmt/format.h>

#include "opsy/core/time_format.h"

namespace opsy::notify {

std::string_view toString(Severity s) {
  switch (s) {
    case Severity::Info: return "info";
    case Severity::Success: return "success";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
  }
  return "info";
}

std::string subjectLine(const Notification& n, size_t max_chars) {
  std::string line = n.object.empty() ? n.title : fmt::format("{}: {}", n.title, n.object);
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = ' ';
    }
  }
  if (line.size() > max_chars) {
    line.resize(max_chars > 3 ? max_chars - 3 : 0);
    line += "...";
  }
  return line;
}

std::string plainTextBody(const Notification& n) {
  std::string out = n.title + "\n\n";
  if (!n.kind.empty() || !n.object.empty()) {
    out += fmt::format("{}: {}\n", n.kind.empty() ? "Resource" : n.kind, n.object);
  }
  if (!n.state.empty()) {
    out += fmt::format("State: {}\n", n.state);
  }
  for (const auto& [name, value] : n.fields) {
    out += fmt::format("{}: {}\n", name, value.empty() ? "-" : value);
  }
  if (n.time) {
    out += fmt::format("Time: {}\n", formatRfc3339(*n.time));
  }
  if (!n.message.empty()) {
    out += "\n" + n.message + "\n";
  }
  return out;
}

}  // namespace opsy::notify

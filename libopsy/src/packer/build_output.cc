#include "opsy/packer/build_output.h"

#include <algorithm>
#include <regex>

#include "opsy/core/log.h"

namespace opsy::packer {
namespace {

std::vector<std::string> splitFields(std::string_view line) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    fields.emplace_back(
        line.substr(start, comma == std::string_view::npos ? line.npos : comma - start));
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return fields;
}

// Machine-readable data escapes commas and newlines.
std::string unescape(std::string_view data) {
  std::string out;
  constexpr std::string_view kComma = "%!(PACKER_COMMA)";
  for (size_t i = 0; i < data.size();) {
    if (data.substr(i, kComma.size()) == kComma) {
      out.push_back(',');
      i += kComma.size();
    } else if (data.substr(i, 2) == "\\n") {
      out.push_back('\n');
      i += 2;
    } else if (data.substr(i, 2) == "\\r") {
      i += 2;
    } else {
      out.push_back(data[i++]);
    }
  }
  return out;
}

bool isTimestamp(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void addUnique(std::vector<std::string>& list, std::string value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) {
    list.push_back(std::move(value));
  }
}

// The longest line the std::regex scans look at: the facts they find sit on short lines, and
// the recursion of libstdc++'s matcher overflows the stack on long runs (a megabyte of output
// with no newline is a crash otherwise).
constexpr std::size_t kMaxScannedLine = 16 * 1024;
// The most of Packer's last error kept for the status.
constexpr std::size_t kMaxErrorBytes = 2048;

void addArtifacts(BuildOutput& out, const std::string& builder, std::string_view ids) {
  if (ids.size() > kMaxScannedLine) {
    return;
  }
  static const std::regex kPair(
      R"(([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-[0-9]+):\s*(ami-[0-9a-f]+))");
  std::string text(ids);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kPair);
       it != std::sregex_iterator(); ++it) {
    Artifact a{builder, (*it)[1].str(), (*it)[2].str()};
    bool seen = std::any_of(out.artifacts.begin(), out.artifacts.end(), [&](const Artifact& x) {
      return x.region == a.region && x.image_id == a.image_id;
    });
    if (!seen) {
      out.artifacts.push_back(std::move(a));
    }
  }
}

// Facts Packer's Amazon builders print in human text (also inside machine-readable ui lines).
void scanText(BuildOutput& out, std::string_view text) {
  if (text.size() > kMaxScannedLine) {
    return;
  }
  static const std::regex kKeyPair(R"(Creating temporary keypair: (\S+))");
  static const std::regex kGroupName(
      R"(Creating temporary security group for this instance: (\S+))");
  static const std::regex kGroupId(
      R"((?:Temporary security group ID|Found security group):? (sg-[0-9a-f]+))");
  std::string s(text);
  std::smatch m;
  if (std::regex_search(s, m, kKeyPair)) {
    addUnique(out.temporary_key_pairs, m[1].str());
  }
  if (std::regex_search(s, m, kGroupName)) {
    addUnique(out.temporary_security_groups, m[1].str());
  }
  if (std::regex_search(s, m, kGroupId)) {
    addUnique(out.temporary_security_group_ids, m[1].str());
  }
}

// The builder of a "--> NAME: AMIs were created:" line, matched by hand: a log line can be
// megabytes, which std::regex's recursion does not survive.
std::optional<std::string> createdHeader(std::string_view line) {
  constexpr std::string_view kArrow = "--> ";
  constexpr std::string_view kCreated = ": AMIs were created:";
  if (line.substr(0, kArrow.size()) != kArrow) {
    return std::nullopt;
  }
  std::string_view rest = line.substr(kArrow.size());
  // The name is a run of non-space characters; the suffix's ':' ends that run.
  const std::size_t colon = rest.find_first_of(" \t");
  if (colon == std::string_view::npos || colon < 2 ||
      rest.substr(colon - 1, kCreated.size()) != kCreated) {
    return std::nullopt;
  }
  return std::string(rest.substr(0, colon - 1));
}

}  // namespace

std::optional<std::string> BuildOutput::imageIn(std::string_view region) const {
  for (const Artifact& a : artifacts) {
    if (a.region == region) {
      return a.image_id;
    }
  }
  if (!artifacts.empty()) {
    return artifacts.front().image_id;
  }
  return std::nullopt;
}

BuildOutput parseBuildOutput(std::string_view log) {
  BuildOutput out;
  bool in_human_artifacts = false;
  std::string human_builder;
  size_t pos = 0;
  while (pos <= log.size()) {
    size_t nl = log.find('\n', pos);
    std::string_view line = log.substr(pos, nl == std::string_view::npos ? log.npos : nl - pos);
    pos = nl == std::string_view::npos ? log.size() + 1 : nl + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    std::vector<std::string> f = splitFields(line);
    if (f.size() >= 4 && isTimestamp(f[0])) {
      const std::string& target = f[1];
      const std::string& type = f[2];
      if (type == "artifact" && f.size() >= 6 && f[4] == "id") {
        addArtifacts(out, target, unescape(f[5]));
      } else if (type == "ui") {
        std::string text = unescape(f.size() >= 5 ? f[4] : "");
        scanText(out, text);
        if (f[3] == "error") {
          out.last_error = text;
        }
      } else if (type == "error" && f.size() >= 4) {
        out.last_error = unescape(f[3]);
      }
      continue;
    }
    // Human-readable output.
    scanText(out, line);
    if (auto builder = createdHeader(line)) {
      in_human_artifacts = true;
      human_builder = std::move(*builder);
      continue;
    }
    if (in_human_artifacts) {
      size_t before = out.artifacts.size();
      addArtifacts(out, human_builder, line);
      if (out.artifacts.size() == before && !line.empty()) {
        in_human_artifacts = false;
      }
    }
    if (line.rfind("Build '", 0) == 0 && line.find("errored") != std::string_view::npos) {
      out.last_error = std::string(line);
    }
  }
  if (out.last_error) {
    // Packer echoes what failed, variables and credentials included: masked and a few lines.
    *out.last_error = log::scrubBounded(*out.last_error, kMaxErrorBytes);
  }
  return out;
}

}  // namespace opsy::packer

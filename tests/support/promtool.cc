#include "support/promtool.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace opsy::testing {
namespace {

std::string tempDir() {
  const char* dir = std::getenv("TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

}  // namespace

std::vector<std::string> PromtoolResult::problems() const {
  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

bool promtoolAvailable() {
  return std::system("command -v promtool >/dev/null 2>&1") == 0;
}

PromtoolResult promtoolCheckMetrics(std::string_view exposition) {
  PromtoolResult result;
  std::string path = tempDir() + "/opsy-metrics-XXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0) {
    result.output = "cannot create a temporary file in " + tempDir();
    return result;
  }
  size_t written = 0;
  while (written < exposition.size()) {
    ssize_t n = write(fd, exposition.data() + written, exposition.size() - written);
    if (n <= 0) {
      break;
    }
    written += static_cast<size_t>(n);
  }
  close(fd);
  if (written != exposition.size()) {
    unlink(path.c_str());
    result.output = "cannot write " + path;
    return result;
  }
  std::string command = "promtool check metrics < '" + path + "' 2>&1";
  if (std::FILE* pipe = popen(command.c_str(), "r")) {
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) {
      result.output.append(buf, n);
    }
    int status = pclose(pipe);
    result.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else {
    result.output = "cannot run promtool";
  }
  unlink(path.c_str());
  return result;
}

double sampleSum(std::string_view exposition, std::string_view name, std::string_view label_part) {
  double sum = 0;
  bool found = false;
  size_t pos = 0;
  while (pos < exposition.size()) {
    size_t end = exposition.find('\n', pos);
    if (end == std::string_view::npos) {
      end = exposition.size();
    }
    std::string_view line = exposition.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.front() == '#' || line.substr(0, name.size()) != name) {
      continue;
    }
    std::string_view rest = line.substr(name.size());
    std::string_view labels;
    if (!rest.empty() && rest.front() == '{') {
      size_t close = rest.rfind('}');
      if (close == std::string_view::npos) {
        continue;
      }
      labels = rest.substr(1, close - 1);
      rest = rest.substr(close + 1);
    }
    if (rest.empty() || rest.front() != ' ' || labels.find(label_part) == std::string_view::npos) {
      continue;
    }
    std::string value(rest.substr(1, rest.find(' ', 1) - 1));
    char* parsed_end = nullptr;
    double v = std::strtod(value.c_str(), &parsed_end);
    if (parsed_end != value.c_str()) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : -1;
}

std::vector<std::string> uncounted(std::string_view exposition,
                                   const std::vector<MetricSelector>& wanted) {
  std::vector<std::string> out;
  for (const MetricSelector& m : wanted) {
    if (sampleSum(exposition, m.name, m.label_part) <= 0) {
      out.push_back(std::string(m.name) + "{" + std::string(m.label_part) + "}");
    }
  }
  return out;
}

}  // namespace opsy::testing

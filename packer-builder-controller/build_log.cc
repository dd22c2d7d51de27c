#include "packer-builder-controller/build_log.h"

#include <algorithm>

#include "opsy/packer/job.h"

namespace opsy::packer_builder {
namespace {

std::int64_t lineCount(std::string_view text) {
  auto lines = static_cast<std::int64_t>(std::count(text.begin(), text.end(), '\n'));
  return !text.empty() && text.back() != '\n' ? lines + 1 : lines;
}

}  // namespace

Result<std::string> readBuildLog(kube::PodLogReader& logs, std::string_view ns,
                                 std::string_view pod) {
  const std::string container(packer::kBuildContainer);
  OPSY_ASSIGN_OR_RETURN(std::string tail, logs.podLog(ns, pod,
                                                      {.container = container,
                                                       .tail_lines = kBuildLogTailLines,
                                                       .limit_bytes = kBuildLogTailBytes}));
  if (lineCount(tail) < kBuildLogTailLines && std::ssize(tail) < kBuildLogTailBytes) {
    return tail;
  }
  OPSY_ASSIGN_OR_RETURN(
      std::string head,
      logs.podLog(ns, pod, {.container = container, .limit_bytes = kBuildLogHeadBytes}));
  // A line cut by the byte limit could name a resource that does not exist (a truncated key
  // pair name), so the head keeps whole lines only.
  if (std::ssize(head) >= kBuildLogHeadBytes) {
    size_t last_break = head.rfind('\n');
    head.resize(last_break == std::string::npos ? 0 : last_break + 1);
  }
  if (!head.empty() && head.back() != '\n') {
    head.push_back('\n');
  }
  return head + tail;
}

}  // namespace opsy::packer_builder

// File: build_log.h
//
// Reads the log of a finished build's `packer-build` container, bounded in size. What the
// controller needs sits at both ends: the temporary key pair and security group Packer creates
// are printed first, the artifact line and the last error last, and a verbose provisioner can
// print megabytes in between. The API's limitBytes keeps the FIRST bytes (of the tail, when
// tailLines is given), so the end is read with tailLines and the start, only for a longer log,
// with limitBytes.
//
//   OPSY_ASSIGN_OR_RETURN(std::string text, readBuildLog(client, "ci", pod_name));
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "opsy/core/result.h"
#include "opsy/kube/client.h"

namespace opsy::packer_builder {

// The end of the log: Packer's artifact and error lines are within its last few dozen lines.
inline constexpr std::int64_t kBuildLogTailLines = 1000;
// A cap on the tail's size, far above kBuildLogTailLines lines of ordinary length: it cuts the
// END of the tail when reached, so it must not bind in practice.
inline constexpr std::int64_t kBuildLogTailBytes = std::int64_t{4} << 20;
// The start of a log longer than the tail: Packer's setup lines come well within it.
inline constexpr std::int64_t kBuildLogHeadBytes = std::int64_t{256} << 10;

// The whole log when it has fewer than kBuildLogTailLines lines (one request); otherwise its
// start (the whole lines within kBuildLogHeadBytes) followed by its last kBuildLogTailLines lines
// (two requests; where they overlap, packer::parseBuildOutput reads a fact twice to the same
// effect). Errors are the reader's (NotFound: the pod is gone; InvalidArgument: the container
// never started).
[[nodiscard]] Result<std::string> readBuildLog(kube::PodLogReader& logs, std::string_view ns,
                                               std::string_view pod);

}  // namespace opsy::packer_builder

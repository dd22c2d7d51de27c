// File: watch_decoder.h
//
// Turns the body of a watch response, delivered in arbitrary chunks, into events. The server
// writes one JSON object per line; a line may be split across chunks and a chunk may hold many
// lines. A line that does not decode becomes an error for that line only, so one bad object
// cannot end the stream.
//
//   WatchDecoder d; for (auto& e : d.feed(chunk)) { if (e) apply(*e); else log(e.error()); }
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/result.h"
#include "opsy/kube/client.h"

namespace opsy::kube {

class WatchDecoder {
 public:
  // Decodes every complete line in buffer + chunk.
  std::vector<Result<WatchEvent>> feed(std::string_view chunk);
  // Decodes what is left when the stream ends (a last line without a newline).
  std::vector<Result<WatchEvent>> finish();

  // Decodes one event line.
  [[nodiscard]] static Result<WatchEvent> decodeLine(std::string_view line);

 private:
  std::string buffer_;
};

}  // namespace opsy::kube

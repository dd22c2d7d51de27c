// File: watch_decoder.h
//
// Turns the body of a watch response, delivered in arbitrary chunks, into events. The server
// writes one JSON object per line; a line may be split across chunks and a chunk may hold many
// lines. A line that does not decode becomes an error for that line only, so one bad object
// cannot end the stream. A line longer than the limit does end it: the decoder keeps no more
// than the limit of an unfinished line, reports failure() and decodes nothing after it.
//
//   WatchDecoder d(16 << 20);
//   for (auto& e : d.feed(chunk)) { if (e) apply(*e); else log(e.error()); }
//   if (d.failure()) { stop the stream }
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/result.h"
#include "opsy/kube/client.h"

namespace opsy::kube {

class WatchDecoder {
 public:
  // `max_line_bytes`: the longest line (without its line break) accepted; zero: no limit.
  explicit WatchDecoder(size_t max_line_bytes = 0) : max_line_bytes_(max_line_bytes) {}

  // Decodes every complete line in buffer + chunk, up to a line over the limit.
  std::vector<Result<WatchEvent>> feed(std::string_view chunk);
  // Decodes what is left when the stream ends (a last line without a newline).
  std::vector<Result<WatchEvent>> finish();
  // ResourceExhausted ("watch event exceeds N bytes") once a line went over the limit.
  const std::optional<Error>& failure() const { return failure_; }

  // Decodes one event line.
  [[nodiscard]] static Result<WatchEvent> decodeLine(std::string_view line);

 private:
  void append(std::string_view piece);

  size_t max_line_bytes_;
  // The unfinished last line; never longer than max_line_bytes_.
  std::string buffer_;
  std::optional<Error> failure_;
};

}  // namespace opsy::kube

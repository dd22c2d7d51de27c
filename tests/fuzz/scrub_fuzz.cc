// The log scrubber on hostile text: any bytes, stretched to long runs (error bodies are
// megabytes), must neither crash nor leave a registered secret or its encodings in the output,
// and scrubBounded() must respect its limit.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "opsy/core/log.h"

namespace {

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYFUZZKEY";
constexpr std::string_view kSecretEncoded = "wJalrXUtnFEMI%2FK7MDENG%2BbPxRfiCYFUZZKEY";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool registered = [] {
    opsy::log::registerSecret(kSecret);
    return true;
  }();
  (void)registered;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte picks how often the input is repeated (up to ~256x): long runs after a keyword
  // are what broke the regex scrubber; the secret is planted in the middle.
  const size_t repeat = size == 0 ? 1 : 1 + static_cast<unsigned char>(input[0]);
  std::string text;
  for (size_t i = 0; i < repeat; ++i) {
    text.append(input);
    if (i == repeat / 2) {
      text.append(kSecret);
      text.append(kSecretEncoded);
    }
  }
  const std::string clean = opsy::log::scrub(text);
  if (clean.find(kSecret) != std::string::npos || clean.find(kSecretEncoded) != std::string::npos) {
    std::abort();
  }
  const size_t limit = 64 + (size % 4096);
  if (opsy::log::scrubBounded(text, limit).size() > limit) {
    std::abort();
  }
  return 0;
}

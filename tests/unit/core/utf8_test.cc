#include "opsy/core/utf8.h"

#include <gtest/gtest.h>

namespace opsy {
namespace {

// Each length of encoding, at its boundaries: what \u escapes in service replies and CEL string
// literals decode to.
TEST(Utf8, EncodesOneToFourBytesAtTheBoundaries) {
  const std::pair<char32_t, std::string> cases[] = {
      {U'A', "A"},
      {0x7F, "\x7F"},
      {0x80, "\xC2\x80"},
      {U'é', "\xC3\xA9"},
      {0x7FF, "\xDF\xBF"},
      {0x800, "\xE0\xA0\x80"},
      {U'€', "\xE2\x82\xAC"},
      {0xFFFF, "\xEF\xBF\xBF"},
      {0x10000, "\xF0\x90\x80\x80"},
      {0x1F600, "\xF0\x9F\x98\x80"},
      {0x10FFFF, "\xF4\x8F\xBF\xBF"},
  };
  for (const auto& [cp, bytes] : cases) {
    std::string out = "x";
    appendUtf8(out, cp);
    EXPECT_EQ(out, "x" + bytes) << static_cast<uint32_t>(cp);
  }
}

}  // namespace
}  // namespace opsy

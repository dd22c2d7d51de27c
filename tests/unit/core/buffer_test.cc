#include "opsy/core/buffer.h"

#include <gtest/gtest.h>

#include <bit>

namespace opsy {
namespace {

// Filled in odd-sized pieces (as a network delivers them) up to a limit, a buffer never reserves
// past the limit, so what it touches while growing stays within it; std::string's own doubling
// from a 16000-byte start would reach 15.6 MiB for this 10 MiB limit.
TEST(ReserveToAppend, NeverReservesPastTheLimit) {
  constexpr size_t kLimit = (size_t{10} << 20) + 7;
  const std::string piece(16000, 'x');
  std::string buffer;
  while (buffer.size() + piece.size() <= kLimit) {
    reserveToAppend(buffer, piece.size(), kLimit);
    buffer.append(piece);
    ASSERT_LE(buffer.capacity(), kLimit);
  }
  EXPECT_GT(buffer.size(), kLimit - piece.size());
}

// Without a limit (or past it, when the bytes need it) growth is to the next power of two.
TEST(ReserveToAppend, GrowsToPowersOfTwo) {
  std::string buffer;
  reserveToAppend(buffer, 1000, 0);
  EXPECT_EQ(buffer.capacity(), 1024u);
  buffer.append(1000, 'x');
  reserveToAppend(buffer, 100, 0);
  EXPECT_EQ(buffer.capacity(), 2048u);
  reserveToAppend(buffer, 5000, 1500);
  EXPECT_EQ(buffer.capacity(), 6000u);
}

}  // namespace
}  // namespace opsy

// File: buffer.h
//
// Growing a string that collects bytes up to a size limit (a response body, an unfinished watch
// event line). std::string's own doubling starts from whatever capacity it has, so just under a
// limit it may reserve almost twice the limit and copy all of it; growing in powers of two capped
// at the limit keeps the memory touched while growing within the limit.
//
//   reserveToAppend(body, chunk.size(), limit);  body.append(chunk);
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <string>

namespace opsy {

// Makes room in `buffer` for `more` bytes: the next power of two, but no more than `limit` (0: no
// limit) unless the bytes need it.
inline void reserveToAppend(std::string& buffer, size_t more, size_t limit) {
  const size_t needed = buffer.size() + more;
  if (needed <= buffer.capacity()) {
    return;
  }
  size_t target = std::bit_ceil(needed);
  if (limit > 0) {
    target = std::min(target, std::max(limit, needed));
  }
  // reserve() would round a capacity under twice the current one up to twice it; a fresh string
  // takes exactly what it is asked for.
  std::string grown;
  grown.reserve(target);
  grown.append(buffer);
  buffer.swap(grown);
}

}  // namespace opsy

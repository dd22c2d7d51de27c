#include "notify/http_reply.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "aws/url.h"
#include "opsy/core/log.h"
#include "opsy/core/utf8.h"

namespace opsy::notify {
namespace {

constexpr size_t kTokenLength = 16;

// Calls `fn` with each path segment of `url` long enough to be a token.
template <class Fn>
void forEachTokenSegment(std::string_view url, Fn&& fn) {
  aws::UrlParts parts;
  if (!aws::splitUrl(url, &parts)) {
    return;
  }
  std::string_view path = parts.path;
  for (size_t start = 0; start < path.size();) {
    size_t end = std::min(path.find('/', start), path.size());
    if (end - start >= kTokenLength) {
      fn(path.substr(start, end - start));
    }
    start = end + 1;
  }
}

void eraseAll(std::string& text, std::string_view needle) {
  if (needle.empty()) {
    return;
  }
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at)) {
    text.erase(at, needle.size());
  }
}

}  // namespace

bool isHttpUrl(std::string_view url) {
  aws::UrlParts parts;
  if (!aws::splitUrl(url, &parts)) {
    return false;
  }
  for (char c : url) {
    if (std::iscntrl(static_cast<unsigned char>(c)) || c == ' ') {
      return false;
    }
  }
  std::string scheme;
  for (char c : parts.scheme) {
    scheme.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return scheme == "http" || scheme == "https";
}

void registerUrlSecrets(std::string_view url) {
  forEachTokenSegment(url, [](std::string_view token) { log::registerSecret(token); });
}

Error withoutUrl(Error e, std::string_view url, std::string_view what) {
  std::string message = std::move(e.message);
  // Longest first, so the full URL goes before its query-less form and its path.
  eraseAll(message, url);
  eraseAll(message, url.substr(0, url.find_first_of("?#")));
  aws::UrlParts parts;
  if (aws::splitUrl(url, &parts)) {
    if (parts.path != "/") {
      eraseAll(message, parts.path);
    }
    eraseAll(message, parts.query);
  }
  // A token alone (Discord's last path segment) is long; short segments are plain words.
  forEachTokenSegment(url, [&](std::string_view token) { eraseAll(message, token); });
  // The curl transport writes "<METHOD> <url>: <reason>"; drop the now empty prefix.
  for (std::string_view prefix : {"POST : ", "POST: ", "POST "}) {
    if (message.rfind(prefix, 0) == 0) {
      message.erase(0, prefix.size());
      break;
    }
  }
  e.message = std::string(what) + ": " + message;
  return e;
}

}  // namespace opsy::notify

namespace opsy::notify {
namespace {

struct CodePoint {
  char32_t value;
  size_t bytes;  // consumed from the input
};

// Decodes one code point; malformed, overlong or surrogate sequences consume one byte and come
// back as U+FFFD.
CodePoint decode(std::string_view s, size_t i) {
  constexpr CodePoint kBad{0xFFFD, 1};
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) {
    return {c, 1};
  }
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (len == 0 || c > 0xF4 || i + len > s.size()) {
    return kBad;
  }
  char32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) {
      return kBad;
    }
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return kBad;
  }
  return {cp, len};
}

}  // namespace

FittedText fitText(std::string_view text, size_t max_units) {
  constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026, one UTF-16 unit
  FittedText out;
  out.text.reserve(std::min(text.size(), max_units * 4));
  // Where the text stood while it still left room for the ellipsis.
  size_t keep_bytes = 0;
  size_t keep_units = 0;
  for (size_t i = 0; i < text.size();) {
    CodePoint cp = decode(text, i);
    size_t units = cp.value >= 0x10000 ? 2 : 1;
    if (out.units + units > max_units) {
      if (max_units == 0) {
        return {};
      }
      out.text.resize(keep_bytes);
      out.text += kEllipsis;
      out.units = keep_units + 1;
      return out;
    }
    appendUtf8(out.text, cp.value);
    out.units += units;
    if (out.units + 1 <= max_units) {
      keep_bytes = out.text.size();
      keep_units = out.units;
    }
    i += cp.bytes;
  }
  return out;
}

}  // namespace opsy::notify

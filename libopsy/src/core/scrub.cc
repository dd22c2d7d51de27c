// The credential scrubber behind log::scrub(): one left-to-right pass over the text, so its cost
// is linear in the input whatever the input is (a regex engine's backtracking recursion overflowed
// the stack on a 30 KB value after "token="). Each rule looks at the current position only and,
// when it masks, jumps past what it masked.
#include "core/scrub.h"

#include <array>
#include <cctype>

namespace opsy::log::detail {
namespace {

constexpr std::string_view kMask = "[redacted]";

// ASCII only, inline: the keywords are ASCII, and libc's locale-aware tolower() per byte and
// keyword was most of the scrubber's cost.
char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// The bytes a pattern can start at: the first letters of the keywords (either case), "xox",
// "k8s-aws-v1.", "eyJ", "://" and "-----BEGIN". Every other byte is copied without a look.
constexpr std::array<bool, 256> kPatternStarts = [] {
  std::array<bool, 256> t{};
  for (char c : std::string_view("axcsptb")) {
    t[static_cast<unsigned char>(c)] = true;
    t[static_cast<unsigned char>(c - 'a' + 'A')] = true;
  }
  for (char c : std::string_view("ke:-")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}();

bool startsWithNoCase(std::string_view text, size_t at, std::string_view word) {
  if (text.size() - at < word.size()) {
    return false;
  }
  for (size_t k = 0; k < word.size(); ++k) {
    if (lower(text[at + k]) != word[k]) {
      return false;
    }
  }
  return true;
}

bool isSpace(char c) {
  return c == ' ' || c == '\t';
}

bool isAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

bool isHex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

bool isTokenChar(char c) {  // base64, base64url and the JWT separator
  return isAlnum(c) || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=' ||
         c == '-';
}

// Where a value that ends at a delimiter ends, starting at `from`.
size_t valueEnd(std::string_view text, size_t from, std::string_view stops) {
  size_t j = from;
  while (j < text.size() && stops.find(text[j]) == std::string_view::npos) {
    ++j;
  }
  return j;
}

// Header names whose whole value (to the end of the line or a closing quote) is secret.
constexpr std::array<std::string_view, 5> kHeaderKeys = {"authorization", "x-amz-security-token",
                                                         "x-aws-ec2-metadata-token",
                                                         "x-amz-content-sha256-secret", "cookie"};

// Field names whose value (one token) is secret, in key=value, key: value or "key":"value" form.
constexpr std::array<std::string_view, 15> kFieldKeys = {"aws_secret_access_key",
                                                         "aws_session_token",
                                                         "secret_access_key",
                                                         "secretaccesskey",
                                                         "session_token",
                                                         "sessiontoken",
                                                         "client-key-data",
                                                         "api_key",
                                                         "apikey",
                                                         "password",
                                                         "passwd",
                                                         "secret",
                                                         "token",
                                                         "x-amz-credential",
                                                         "x-amz-signature"};

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) { out_.reserve(text.size()); }

  std::string run() {
    while (i_ < text_.size()) {
      if (!kPatternStarts[static_cast<unsigned char>(text_[i_])]) {
        out_.push_back(text_[i_++]);
        continue;
      }
      if (!(pem() || header() || field() || bearer() || signature() || prefixed("xox", 4) ||
            prefixed("k8s-aws-v1.", 0) || jwt() || urlPassword())) {
        out_.push_back(text_[i_++]);
      }
    }
    return std::move(out_);
  }

 private:
  // Copies text_[i_, value_start) and masks text_[value_start, value_end).
  bool mask(size_t value_start, size_t value_end) {
    if (value_end <= value_start) {
      return false;
    }
    out_.append(text_.substr(i_, value_start - i_));
    out_.append(kMask);
    i_ = value_end;
    return true;
  }

  // After `key` at i_: optional quote, spaces, ':' or '=', spaces, optional quote. Returns where
  // the value starts, or npos when this is not a key/value.
  size_t afterSeparator(size_t key_end) const {
    size_t j = key_end;
    if (j < text_.size() && (text_[j] == '"' || text_[j] == '\'')) {
      ++j;
    }
    while (j < text_.size() && isSpace(text_[j])) {
      ++j;
    }
    if (j >= text_.size() || (text_[j] != ':' && text_[j] != '=')) {
      return std::string_view::npos;
    }
    ++j;
    while (j < text_.size() && isSpace(text_[j])) {
      ++j;
    }
    if (j < text_.size() && (text_[j] == '"' || text_[j] == '\'')) {
      ++j;
    }
    return j;
  }

  bool header() {
    for (std::string_view key : kHeaderKeys) {
      if (!startsWithNoCase(text_, i_, key)) {
        continue;
      }
      size_t start = afterSeparator(i_ + key.size());
      if (start == std::string_view::npos) {
        return false;
      }
      // The value runs to the end of the line, or to the quote that closes it in JSON, so the
      // rest of the line (and a JSON line's syntax) is kept.
      return mask(start, valueEnd(text_, start, "\r\n\"\\"));
    }
    return false;
  }

  bool field() {
    for (std::string_view key : kFieldKeys) {
      if (!startsWithNoCase(text_, i_, key)) {
        continue;
      }
      size_t start = afterSeparator(i_ + key.size());
      if (start == std::string_view::npos) {
        continue;  // "secret" may be the start of "secret_access_key"; try the next key
      }
      return mask(start, valueEnd(text_, start, "\"'\\ \t\r\n,&}"));
    }
    return false;
  }

  bool bearer() {
    if (!startsWithNoCase(text_, i_, "bearer")) {
      return false;
    }
    size_t j = i_ + 6;
    if (j >= text_.size() || !isSpace(text_[j])) {
      return false;
    }
    while (j < text_.size() && isSpace(text_[j])) {
      ++j;
    }
    size_t end = j;
    while (end < text_.size() && isTokenChar(text_[end])) {
      ++end;
    }
    return mask(j, end);
  }

  bool signature() {
    if (!startsWithNoCase(text_, i_, "signature")) {
      return false;
    }
    size_t j = i_ + 9;
    while (j < text_.size() && isSpace(text_[j])) {
      ++j;
    }
    if (j >= text_.size() || text_[j] != '=') {
      return false;
    }
    ++j;
    while (j < text_.size() && isSpace(text_[j])) {
      ++j;
    }
    size_t end = j;
    while (end < text_.size() && isHex(text_[end])) {
      ++end;
    }
    return end - j >= 16 && mask(j, end);
  }

  // A token recognised by its prefix (Slack "xox?-", EKS "k8s-aws-v1."), masked whole.
  // `dash_at`: the prefix is followed by one letter then '-' at this offset (Slack), or 0.
  bool prefixed(std::string_view prefix, size_t dash_at) {
    if (text_[i_] != prefix.front() || text_.compare(i_, prefix.size(), prefix) != 0) {
      return false;
    }
    size_t j = i_ + prefix.size();
    if (dash_at != 0) {
      if (j + 1 >= text_.size() || std::string_view("abposr").find(text_[j]) == npos ||
          text_[j + 1] != '-') {
        return false;
      }
      j += 2;
    }
    size_t end = j;
    while (end < text_.size() && (isAlnum(text_[end]) || text_[end] == '-' || text_[end] == '_')) {
      ++end;
    }
    return end > j && mask(i_, end);
  }

  // A JWT (Kubernetes service account and OIDC tokens): three base64url parts, the first "eyJ".
  bool jwt() {
    if (text_[i_] != 'e' || text_.compare(i_, 3, "eyJ") != 0) {
      return false;
    }
    size_t end = i_;
    int dots = 0;
    while (end < text_.size() &&
           (isAlnum(text_[end]) || text_[end] == '-' || text_[end] == '_' || text_[end] == '.')) {
      dots += text_[end] == '.' ? 1 : 0;
      ++end;
    }
    return dots >= 2 && end - i_ >= 20 && mask(i_, end);
  }

  // scheme://user:password@host: the password goes.
  bool urlPassword() {
    if (text_[i_] != ':' || text_.compare(i_, 3, "://") != 0) {
      return false;
    }
    size_t user_end = valueEnd(text_, i_ + 3, ":/@ \t\r\n\"'");
    if (user_end >= text_.size() || text_[user_end] != ':') {
      return false;
    }
    size_t pass_end = valueEnd(text_, user_end + 1, "/@ \t\r\n\"'");
    if (pass_end >= text_.size() || text_[pass_end] != '@') {
      return false;
    }
    return mask(user_end + 1, pass_end);
  }

  bool pem() {
    constexpr std::string_view kBegin = "-----BEGIN ";
    if (text_[i_] != '-' || text_.compare(i_, kBegin.size(), kBegin) != 0) {
      return false;
    }
    size_t header_end = text_.find("-----", i_ + kBegin.size());
    if (header_end == npos ||
        text_.substr(i_, header_end - i_).find("PRIVATE KEY") == std::string_view::npos) {
      return false;
    }
    size_t footer = text_.find("-----END ", header_end + 5);
    size_t footer_end = footer == npos ? npos : text_.find("-----", footer + 9);
    // An unterminated key is masked to the end: better too much than a key in a log.
    return mask(i_, footer_end == npos ? text_.size() : footer_end + 5);
  }

  static constexpr size_t npos = std::string_view::npos;
  std::string_view text_;
  size_t i_ = 0;
  std::string out_;
};

}  // namespace

std::string scrubPatterns(std::string_view text) {
  return Scanner(text).run();
}

}  // namespace opsy::log::detail

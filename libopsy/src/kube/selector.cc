#include "opsy/kube/selector.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace opsy::kube {
namespace {

enum class Token {
  End,
  Identifier,
  Comma,
  OpenPar,
  ClosedPar,
  Not,  // "!"
  Equals,
  DoubleEquals,
  NotEquals,
  GreaterThan,
  LessThan,
  In,
  NotIn,
};

bool special(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

bool space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// The tokenizer of apimachinery's selector lexer: operators, parentheses and commas stand alone,
// anything else up to whitespace or one of those is an identifier (or the keywords in/notin).
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Token next(std::string& literal) {
    while (pos_ < text_.size() && space(text_[pos_])) {
      ++pos_;
    }
    literal.clear();
    if (pos_ >= text_.size()) {
      return Token::End;
    }
    const char c = text_[pos_];
    if (special(c)) {
      const bool two = pos_ + 1 < text_.size() && text_[pos_ + 1] == '=';
      if ((c == '=' || c == '!') && two) {
        literal = text_.substr(pos_, 2);
        pos_ += 2;
        return c == '=' ? Token::DoubleEquals : Token::NotEquals;
      }
      literal = std::string(1, c);
      ++pos_;
      switch (c) {
        case '=': return Token::Equals;
        case '!': return Token::Not;
        case '(': return Token::OpenPar;
        case ')': return Token::ClosedPar;
        case ',': return Token::Comma;
        case '>': return Token::GreaterThan;
        default: return Token::LessThan;
      }
    }
    const size_t start = pos_;
    while (pos_ < text_.size() && !space(text_[pos_]) && !special(text_[pos_])) {
      ++pos_;
    }
    literal = text_.substr(start, pos_ - start);
    if (literal == "in") {
      return Token::In;
    }
    if (literal == "notin") {
      return Token::NotIn;
    }
    return Token::Identifier;
  }

  // In value position (keys and values) the keywords are ordinary identifiers, as on the server.
  Token nextValue(std::string& literal) { return asValue(next(literal)); }
  Token peekValue() { return asValue(peek()); }

  Token peek() {
    const size_t saved = pos_;
    std::string ignored;
    Token t = next(ignored);
    pos_ = saved;
    return t;
  }

 private:
  static Token asValue(Token t) {
    return t == Token::In || t == Token::NotIn ? Token::Identifier : t;
  }

  std::string text_;
  size_t pos_ = 0;
};

bool alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters (a label name or value).
bool validName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A DNS-1123 subdomain: lower-case alphanumerics, '-' and '.', at most 253 characters.
bool validPrefix(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(s.front()) || !lower_alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return lower_alnum(c) || c == '-' || c == '.'; });
}

Status validateKey(std::string_view key) {
  const size_t slash = key.find('/');
  const bool ok_key = slash == std::string_view::npos
                          ? validName(key)
                          : validPrefix(key.substr(0, slash)) && validName(key.substr(slash + 1));
  if (!ok_key) {
    return fail(ErrorCode::InvalidArgument, fmt::format("invalid label key \"{}\"", key));
  }
  return ok();
}

Status validateValue(std::string_view value) {
  if (!value.empty() && !validName(value)) {
    return fail(ErrorCode::InvalidArgument, fmt::format("invalid label value: \"{}\"", value));
  }
  return ok();
}

std::optional<std::int64_t> parseInt(std::string_view s) {
  std::int64_t v = 0;
  auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (err != std::errc() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

Error syntaxError(std::string_view found, std::string_view expected) {
  return Error(
      ErrorCode::InvalidArgument,
      fmt::format("unable to parse requirement: found '{}', expected: {}", found, expected));
}

// One requirement, up to (not including) the following comma or the end.
Result<LabelSelector::Requirement> parseRequirement(Lexer& lexer) {
  using Op = LabelSelector::Op;
  LabelSelector::Requirement r;
  std::string literal;
  Token t = lexer.nextValue(literal);
  const bool negated = t == Token::Not;
  if (negated) {
    t = lexer.nextValue(literal);
  }
  if (t != Token::Identifier) {
    return tl::unexpected(syntaxError(literal, "identifier"));
  }
  r.key = literal;
  OPSY_RETURN_IF_ERROR(validateKey(r.key));
  const Token after_key = lexer.peekValue();
  if (negated || after_key == Token::End || after_key == Token::Comma) {
    r.op = negated ? Op::DoesNotExist : Op::Exists;
    return r;
  }
  t = lexer.next(literal);
  switch (t) {
    case Token::Equals:
    case Token::DoubleEquals: r.op = Op::Equals; break;
    case Token::NotEquals: r.op = Op::NotEquals; break;
    case Token::GreaterThan: r.op = Op::GreaterThan; break;
    case Token::LessThan: r.op = Op::LessThan; break;
    case Token::In: r.op = Op::In; break;
    case Token::NotIn: r.op = Op::NotIn; break;
    default: return tl::unexpected(syntaxError(literal, "operator"));
  }
  if (r.op == Op::In || r.op == Op::NotIn) {
    if (lexer.next(literal) != Token::OpenPar) {
      return tl::unexpected(syntaxError(literal, "'('"));
    }
    // Values separated by commas; an empty position is the empty value, as on the server (so
    // "()" is the set {""}).
    bool expect_value = true;
    for (;;) {
      t = lexer.nextValue(literal);
      if (t == Token::ClosedPar) {
        if (expect_value) {
          r.values.emplace_back();
        }
        break;
      }
      if (t == Token::Comma) {
        if (expect_value) {
          r.values.emplace_back();
        }
        expect_value = true;
        continue;
      }
      if (t != Token::Identifier || !expect_value) {
        return tl::unexpected(syntaxError(literal, "',' or ')'"));
      }
      r.values.push_back(literal);
      expect_value = false;
    }
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
  } else {
    const Token v = lexer.peekValue();
    if (v == Token::End || v == Token::Comma) {
      r.values.emplace_back();
    } else if (lexer.nextValue(literal) == Token::Identifier) {
      r.values.push_back(literal);
    } else {
      return tl::unexpected(syntaxError(literal, "identifier"));
    }
  }
  for (const auto& value : r.values) {
    OPSY_RETURN_IF_ERROR(validateValue(value));
  }
  if ((r.op == Op::GreaterThan || r.op == Op::LessThan) && !parseInt(r.values[0]).has_value()) {
    return fail(
        ErrorCode::InvalidArgument,
        fmt::format("for 'Gt', 'Lt' operators, the value must be an integer: \"{}\"", r.values[0]));
  }
  return r;
}

}  // namespace

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelSelector selector;
  Lexer lexer(text);
  if (lexer.peek() == Token::End) {
    return selector;
  }
  for (;;) {
    auto r = parseRequirement(lexer);
    if (!r) {
      return fail(std::move(r).error().context(fmt::format("label selector \"{}\"", text)));
    }
    selector.requirements_.push_back(std::move(*r));
    std::string literal;
    const Token t = lexer.next(literal);
    if (t == Token::End) {
      return selector;
    }
    if (t != Token::Comma) {
      return fail(syntaxError(literal, "',' or end of string")
                      .context(fmt::format("label selector \"{}\"", text)));
    }
  }
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& r : requirements_) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    const auto in_values = [&] {
      return has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    };
    bool ok = false;
    switch (r.op) {
      case Op::Equals:
      case Op::In: ok = in_values(); break;
      case Op::NotEquals:
      case Op::NotIn: ok = !in_values(); break;
      case Op::Exists: ok = has; break;
      case Op::DoesNotExist: ok = !has; break;
      case Op::GreaterThan:
      case Op::LessThan: {
        auto have = has ? parseInt(it->second) : std::nullopt;
        auto want = parseInt(r.values[0]);
        ok = have.has_value() && want.has_value() &&
             (r.op == Op::GreaterThan ? *have > *want : *have < *want);
        break;
      }
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool LabelSelector::implies(const LabelSelector& other) const {
  return std::all_of(other.requirements_.begin(), other.requirements_.end(), [&](const auto& r) {
    return std::find(requirements_.begin(), requirements_.end(), r) != requirements_.end();
  });
}

std::optional<std::string> LabelSelector::requiredValue(std::string_view key) const {
  for (const auto& r : requirements_) {
    if (r.key == key && (r.op == Op::Equals || (r.op == Op::In && r.values.size() == 1))) {
      return r.values[0];
    }
  }
  return std::nullopt;
}

}  // namespace opsy::kube

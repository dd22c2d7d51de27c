// CEL subset: lexer and recursive-descent parser. Macros (has, all, exists, exists_one, map,
// filter) and the supported functions are resolved here, so anything else is refused before
// a rule is ever evaluated.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

#include "opsy/core/utf8.h"
#include "support/fake_kube_cel_internal.h"

namespace opsy::testing::cel {

namespace {

struct Failure {
  SourceError error;
};

[[noreturn]] void fail(size_t pos, std::string message, bool unsupported = false) {
  throw Failure{SourceError{pos, std::move(message), unsupported}};
}

[[noreturn]] void unsupported(size_t pos, const std::string& what) {
  fail(pos, what + " is not supported by fake-kube's CEL subset", true);
}

struct Token {
  enum class Kind { End, Ident, Int, Uint, Double, String, Bytes, Punct };
  Kind kind = Kind::End;
  size_t pos = 0;
  std::string text;  // identifier, punctuation, a number's digits, a string's value
  bool hex = false;
};

bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Token> tokens() {
    std::vector<Token> out;
    for (;;) {
      Token t = next();
      out.push_back(t);
      if (t.kind == Token::Kind::End) {
        return out;
      }
    }
  }

 private:
  char at(size_t i) const { return i < src_.size() ? src_[i] : '\0'; }

  void skipSpace() {
    while (i_ < src_.size()) {
      const char c = src_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        ++i_;
      } else if (c == '/' && at(i_ + 1) == '/') {
        while (i_ < src_.size() && src_[i_] != '\n') {
          ++i_;
        }
      } else {
        return;
      }
    }
  }

  Token next() {
    skipSpace();
    Token t;
    t.pos = i_;
    if (i_ >= src_.size()) {
      return t;
    }
    const char c = src_[i_];
    // String prefixes: r (raw), b (bytes), in either order and case.
    size_t q = i_;
    bool raw = false;
    bool bytes = false;
    while (q < src_.size() && q < i_ + 2 && src_[q] != '\0' &&
           std::strchr("rRbB", src_[q]) != nullptr) {
      (src_[q] == 'r' || src_[q] == 'R' ? raw : bytes) = true;
      ++q;
    }
    if (q < src_.size() && (src_[q] == '"' || src_[q] == '\'')) {
      i_ = q;
      t.kind = bytes ? Token::Kind::Bytes : Token::Kind::String;
      t.text = stringLiteral(raw, t.pos);
      return t;
    }
    if (isIdentStart(c)) {
      while (i_ < src_.size() && (isIdentStart(src_[i_]) || isDigit(src_[i_]))) {
        ++i_;
      }
      t.kind = Token::Kind::Ident;
      t.text = std::string(src_.substr(t.pos, i_ - t.pos));
      return t;
    }
    if (isDigit(c) || (c == '.' && isDigit(at(i_ + 1)))) {
      return number(t);
    }
    static const char* two[] = {"==", "!=", "<=", ">=", "&&", "||"};
    for (const char* p : two) {
      if (c == p[0] && at(i_ + 1) == p[1]) {
        i_ += 2;
        t.kind = Token::Kind::Punct;
        t.text = p;
        return t;
      }
    }
    if (c != '\0' && std::strchr("()[]{}.,?:!-+*/%<>", c) != nullptr) {
      ++i_;
      t.kind = Token::Kind::Punct;
      t.text = std::string(1, c);
      return t;
    }
    fail(i_, std::string("Syntax error: token recognition error at: '") + c + "'");
  }

  Token number(Token t) {
    if (src_[i_] == '0' && (at(i_ + 1) == 'x' || at(i_ + 1) == 'X')) {
      i_ += 2;
      const size_t start = i_;
      while (isHex(at(i_))) {
        ++i_;
      }
      if (i_ == start) {
        fail(t.pos, "Syntax error: malformed hexadecimal literal");
      }
      t.text = std::string(src_.substr(start, i_ - start));
      t.hex = true;
      t.kind = Token::Kind::Int;
    } else {
      bool is_double = false;
      while (isDigit(at(i_))) {
        ++i_;
      }
      if (at(i_) == '.' && isDigit(at(i_ + 1))) {
        is_double = true;
        ++i_;
        while (isDigit(at(i_))) {
          ++i_;
        }
      }
      if (at(i_) == 'e' || at(i_) == 'E') {
        size_t e = i_ + 1;
        if (at(e) == '+' || at(e) == '-') {
          ++e;
        }
        if (isDigit(at(e))) {
          is_double = true;
          i_ = e;
          while (isDigit(at(i_))) {
            ++i_;
          }
        }
      }
      t.text = std::string(src_.substr(t.pos, i_ - t.pos));
      t.kind = is_double ? Token::Kind::Double : Token::Kind::Int;
    }
    if (t.kind == Token::Kind::Int && (at(i_) == 'u' || at(i_) == 'U')) {
      ++i_;
      t.kind = Token::Kind::Uint;
    }
    return t;
  }

  uint32_t hexDigits(size_t count, size_t pos) {
    uint32_t v = 0;
    for (size_t k = 0; k < count; ++k) {
      const char h = at(i_);
      if (!isHex(h)) {
        fail(pos, "Syntax error: invalid escape sequence");
      }
      v = v * 16 + static_cast<uint32_t>(isDigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
      ++i_;
    }
    return v;
  }

  std::string stringLiteral(bool raw, size_t pos) {
    const char quote = src_[i_];
    const bool triple = at(i_ + 1) == quote && at(i_ + 2) == quote;
    i_ += triple ? 3 : 1;
    std::string out;
    for (;;) {
      if (i_ >= src_.size()) {
        fail(pos, "Syntax error: unterminated string literal");
      }
      const char c = src_[i_];
      if (c == quote && (!triple || (at(i_ + 1) == quote && at(i_ + 2) == quote))) {
        i_ += triple ? 3 : 1;
        return out;
      }
      if (!triple && (c == '\n' || c == '\r')) {
        fail(pos, "Syntax error: unterminated string literal");
      }
      if (c != '\\' || raw) {
        out.push_back(c);
        ++i_;
        continue;
      }
      const size_t esc = i_;
      ++i_;
      const char e = at(i_++);
      switch (e) {
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        case '\\':
        case '\'':
        case '"':
        case '`':
        case '?': out.push_back(e); break;
        case 'x':
        case 'X': appendUtf8(out, hexDigits(2, esc)); break;
        case 'u':
        case 'U': {
          const uint32_t cp = hexDigits(e == 'u' ? 4 : 8, esc);
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            fail(esc, "Syntax error: invalid unicode code point");
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '3' && at(i_) >= '0' && at(i_) <= '7' && at(i_ + 1) >= '0' &&
              at(i_ + 1) <= '7') {
            appendUtf8(out, static_cast<uint32_t>((e - '0') * 64 + (at(i_) - '0') * 8 +
                                                  (at(i_ + 1) - '0')));
            i_ += 2;
            break;
          }
          fail(esc, "Syntax error: invalid escape sequence");
      }
    }
  }

  std::string_view src_;
  size_t i_ = 0;
};

const std::unordered_map<std::string, Fn>& globalFunctions() {
  static const std::unordered_map<std::string, Fn> fns = {
      {"size", Fn::Size},       {"matches", Fn::Matches}, {"int", Fn::ToInt}, {"uint", Fn::ToUint},
      {"double", Fn::ToDouble}, {"string", Fn::ToString}, {"dyn", Fn::Dyn}};
  return fns;
}

// Receiver-style functions and how many arguments they take.
const std::unordered_map<std::string, std::pair<Fn, size_t>>& memberFunctions() {
  static const std::unordered_map<std::string, std::pair<Fn, size_t>> fns = {
      {"size", {Fn::Size, 0}},
      {"startsWith", {Fn::StartsWith, 1}},
      {"endsWith", {Fn::EndsWith, 1}},
      {"contains", {Fn::Contains, 1}},
      {"matches", {Fn::Matches, 1}},
      {"lowerAscii", {Fn::LowerAscii, 0}},
      {"upperAscii", {Fn::UpperAscii, 0}}};
  return fns;
}

bool isReserved(const std::string& word) {
  static const char* words[] = {"as",        "break",  "const",  "continue", "else", "for",
                                "function",  "if",     "import", "let",      "loop", "package",
                                "namespace", "return", "var",    "void",     "while"};
  for (const char* w : words) {
    if (word == w) {
      return true;
    }
  }
  return false;
}

// A literal pattern is compiled once, and refused here when std::regex cannot stand in for RE2.
std::shared_ptr<const std::regex> compileLiteralPattern(const std::string& pattern, size_t pos) {
  if (pattern.size() > kMaxRegexPattern) {
    unsupported(pos,
                "a matches() pattern longer than " + std::to_string(kMaxRegexPattern) + " bytes");
  }
  for (size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      const char n = pattern[i + 1];
      if ((n >= '1' && n <= '9') || n == 'p' || n == 'P' || n == 'z' || n == 'A' || n == 'Q' ||
          n == 'C') {
        unsupported(pos, std::string("the RE2 escape \\") + n + " in a matches() pattern");
      }
      ++i;
    } else if (pattern[i] == '(' && pattern[i + 1] == '?' &&
               (i + 2 >= pattern.size() || pattern[i + 2] != ':')) {
      unsupported(pos, "a (? group other than (?: in a matches() pattern");
    }
  }
  try {
    return std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    unsupported(pos, "the matches() pattern \"" + pattern + "\" (std::regex cannot compile it)");
  }
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  NodePtr parseAll() {
    NodePtr e = expr();
    if (peek().kind != Token::Kind::End) {
      fail(peek().pos, "Syntax error: mismatched input '" + peek().text + "' expecting <EOF>");
    }
    return e;
  }

 private:
  const Token& peek(size_t ahead = 0) const {
    return toks_[std::min(k_ + ahead, toks_.size() - 1)];
  }
  bool isPunct(const char* p, size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::Punct && peek(ahead).text == p;
  }
  Token take() {
    Token t = peek();
    if (k_ < toks_.size() - 1) {
      ++k_;
    }
    return t;
  }
  void expect(const char* p) {
    if (!isPunct(p)) {
      const Token& t = peek();
      fail(t.pos, std::string("Syntax error: mismatched input '") +
                      (t.kind == Token::Kind::End ? "<EOF>" : t.text) + "' expecting '" + p + "'");
    }
    take();
  }

  NodePtr make(Node::Kind kind, size_t pos, std::vector<NodePtr> kids = {}) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->pos = pos;
    for (const auto& k : kids) {
      n->depth = std::max(n->depth, k->depth + 1);
    }
    if (n->depth > kMaxDepth) {
      unsupported(pos, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    n->kids = std::move(kids);
    return n;
  }
  NodePtr binary(Node::Kind kind, const std::string& op, size_t pos, NodePtr l, NodePtr r) {
    std::vector<NodePtr> kids;
    kids.push_back(std::move(l));
    kids.push_back(std::move(r));
    NodePtr n = make(kind, pos, std::move(kids));
    n->op = op;
    return n;
  }

  NodePtr expr() {
    if (++nesting_ > kMaxDepth) {
      unsupported(peek().pos, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    NodePtr c = orExpr();
    if (isPunct("?")) {
      const size_t pos = take().pos;
      NodePtr t = orExpr();
      expect(":");
      NodePtr f = expr();
      std::vector<NodePtr> kids;
      kids.push_back(std::move(c));
      kids.push_back(std::move(t));
      kids.push_back(std::move(f));
      c = make(Node::Kind::Cond, pos, std::move(kids));
    }
    --nesting_;
    return c;
  }

  NodePtr orExpr() {
    std::vector<NodePtr> terms;
    std::vector<size_t> ops;
    terms.push_back(andExpr());
    while (isPunct("||")) {
      ops.push_back(take().pos);
      terms.push_back(andExpr());
    }
    return balanced(Node::Kind::Or, "||", terms, ops, 0, terms.size());
  }

  NodePtr andExpr() {
    std::vector<NodePtr> terms;
    std::vector<size_t> ops;
    terms.push_back(relation());
    while (isPunct("&&")) {
      ops.push_back(take().pos);
      terms.push_back(relation());
    }
    return balanced(Node::Kind::And, "&&", terms, ops, 0, terms.size());
  }

  // A chain of && (or ||) as a balanced tree, as cel-go builds it, so long chains stay shallow;
  // ops[i] is the operator between terms[i] and terms[i + 1].
  NodePtr balanced(Node::Kind kind, const char* op, std::vector<NodePtr>& terms,
                   const std::vector<size_t>& ops, size_t begin, size_t end) {
    if (end - begin == 1) {
      return std::move(terms[begin]);
    }
    const size_t mid = begin + (end - begin) / 2;
    NodePtr l = balanced(kind, op, terms, ops, begin, mid);
    NodePtr r = balanced(kind, op, terms, ops, mid, end);
    return binary(kind, op, ops[mid - 1], std::move(l), std::move(r));
  }

  NodePtr relation() {
    NodePtr l = addition();
    for (;;) {
      const Token& t = peek();
      const bool relop =
          (t.kind == Token::Kind::Punct && (t.text == "<" || t.text == "<=" || t.text == ">" ||
                                            t.text == ">=" || t.text == "==" || t.text == "!=")) ||
          (t.kind == Token::Kind::Ident && t.text == "in");
      if (!relop) {
        return l;
      }
      Token op = take();
      l = binary(Node::Kind::Binary, op.text, op.pos, std::move(l), addition());
    }
  }

  NodePtr addition() {
    NodePtr l = multiplication();
    while (isPunct("+") || isPunct("-")) {
      Token op = take();
      l = binary(Node::Kind::Binary, op.text, op.pos, std::move(l), multiplication());
    }
    return l;
  }

  NodePtr multiplication() {
    NodePtr l = unary();
    while (isPunct("*") || isPunct("/") || isPunct("%")) {
      Token op = take();
      l = binary(Node::Kind::Binary, op.text, op.pos, std::move(l), unary());
    }
    return l;
  }

  NodePtr unary() {
    // Prefix operators are collected first, so a long run of them cannot recurse deeply.
    std::vector<Token> ops;
    while (isPunct("!") || isPunct("-")) {
      if (isPunct("-") &&
          (peek(1).kind == Token::Kind::Int || peek(1).kind == Token::Kind::Double)) {
        break;  // a negative number literal
      }
      ops.push_back(take());
    }
    NodePtr operand;
    if (isPunct("-")) {
      const size_t pos = take().pos;
      operand = member(numberLiteral(take(), true, pos));
    } else {
      operand = member(primary());
    }
    for (auto op = ops.rbegin(); op != ops.rend(); ++op) {
      std::vector<NodePtr> kids;
      kids.push_back(std::move(operand));
      operand = make(op->text == "!" ? Node::Kind::Not : Node::Kind::Neg, op->pos, std::move(kids));
    }
    return operand;
  }

  NodePtr numberLiteral(const Token& t, bool negative, size_t pos) {
    NodePtr n = make(Node::Kind::Literal, pos);
    if (t.kind == Token::Kind::Double) {
      const double d = std::strtod(t.text.c_str(), nullptr);
      n->literal = Value::real(negative ? -d : d);
      return n;
    }
    errno = 0;
    const unsigned long long u = std::strtoull(t.text.c_str(), nullptr, t.hex ? 16 : 10);
    const bool overflow = errno == ERANGE;
    if (t.kind == Token::Kind::Uint) {
      if (overflow) {
        fail(t.pos, "invalid uint literal");
      }
      n->literal = Value::unsignedInt(u);
      return n;
    }
    const unsigned long long limit = negative ? 9223372036854775808ULL : 9223372036854775807ULL;
    if (overflow || u > limit) {
      fail(t.pos, "invalid int literal");
    }
    n->literal = Value::integer(negative ? static_cast<int64_t>(0 - u) : static_cast<int64_t>(u));
    return n;
  }

  std::vector<NodePtr> arguments(const char* close) {
    std::vector<NodePtr> args;
    if (isPunct(close)) {
      take();
      return args;
    }
    for (;;) {
      if (isPunct("?")) {
        unsupported(peek().pos, "optional list elements ([?x])");
      }
      args.push_back(expr());
      if (isPunct(",")) {
        take();
        if (std::string_view(close) == "]" && isPunct(close)) {
          take();  // a trailing comma in a list literal
          return args;
        }
        continue;
      }
      expect(close);
      return args;
    }
  }

  NodePtr member(NodePtr operand) {
    for (;;) {
      if (isPunct(".")) {
        const size_t pos = take().pos;
        if (isPunct("?")) {
          unsupported(pos, "optional field selection (.?)");
        }
        if (peek().kind != Token::Kind::Ident) {
          fail(peek().pos, "Syntax error: no viable alternative at input '." + peek().text + "'");
        }
        Token name = take();
        if (name.text == "in" || name.text == "true" || name.text == "false" ||
            name.text == "null" || isReserved(name.text)) {
          fail(name.pos, "reserved identifier: " + name.text);  // written __name__ in CEL
        }
        if (isPunct("(")) {
          const size_t open = take().pos;
          operand = memberCall(std::move(operand), name, open, arguments(")"));
          continue;
        }
        std::vector<NodePtr> kids;
        kids.push_back(std::move(operand));
        operand = make(Node::Kind::Select, pos, std::move(kids));
        operand->name = name.text;
      } else if (isPunct("[")) {
        const size_t pos = take().pos;
        if (isPunct("?")) {
          unsupported(pos, "optional indexing ([?k])");
        }
        std::vector<NodePtr> kids;
        kids.push_back(std::move(operand));
        kids.push_back(expr());
        expect("]");
        operand = make(Node::Kind::Index, pos, std::move(kids));
      } else if (isPunct("{")) {
        unsupported(peek().pos, "message construction (Type{...})");
      } else {
        return operand;
      }
    }
  }

  NodePtr primary() {
    const Token t = take();
    switch (t.kind) {
      case Token::Kind::Int:
      case Token::Kind::Uint:
      case Token::Kind::Double: return numberLiteral(t, false, t.pos);
      case Token::Kind::String: {
        NodePtr n = make(Node::Kind::Literal, t.pos);
        n->literal = Value::string(t.text);
        return n;
      }
      case Token::Kind::Bytes: unsupported(t.pos, "bytes literals");
      case Token::Kind::End: fail(t.pos, "Syntax error: mismatched input '<EOF>'");
      case Token::Kind::Ident: return identifier(t);
      case Token::Kind::Punct: break;
    }
    if (t.text == "(") {
      NodePtr e = expr();
      expect(")");
      return e;
    }
    if (t.text == "[") {
      return make(Node::Kind::List, t.pos, arguments("]"));
    }
    if (t.text == "{") {
      unsupported(t.pos, "map literals ({k: v})");
    }
    if (t.text == ".") {
      unsupported(t.pos, "root-scoped identifiers (.name)");
    }
    fail(t.pos, "Syntax error: mismatched input '" + t.text + "'");
  }

  NodePtr identifier(const Token& t) {
    if (t.text == "true" || t.text == "false") {
      NodePtr n = make(Node::Kind::Literal, t.pos);
      n->literal = Value::boolean(t.text == "true");
      return n;
    }
    if (t.text == "null") {
      return make(Node::Kind::Literal, t.pos);
    }
    if (t.text == "in" || isReserved(t.text)) {
      fail(t.pos, "reserved identifier: " + t.text);
    }
    if (!isPunct("(")) {
      NodePtr n = make(Node::Kind::Ident, t.pos);
      n->name = t.text;
      return n;
    }
    const size_t open = take().pos;  // cel-go places a call at its opening parenthesis
    std::vector<NodePtr> args = arguments(")");
    if (t.text == "has") {
      if (args.size() != 1 || args[0]->kind != Node::Kind::Select) {
        fail(t.pos, "invalid argument to has() macro");
      }
      args[0]->kind = Node::Kind::Has;
      return std::move(args[0]);
    }
    auto it = globalFunctions().find(t.text);
    if (it == globalFunctions().end()) {
      unsupported(t.pos, "the function " + t.text + "()");
    }
    const size_t want = it->second == Fn::Matches ? 2 : 1;
    if (args.size() != want) {
      fail(open, "found no matching overload for '" + t.text + "' applied to " +
                     std::to_string(args.size()) + " arguments");
    }
    NodePtr n = make(Node::Kind::Call, open, std::move(args));
    n->fn = it->second;
    n->name = t.text;
    if (n->fn == Fn::Matches && n->kids[1]->kind == Node::Kind::Literal &&
        n->kids[1]->literal.kind() == Value::Kind::String) {
      n->regex = compileLiteralPattern(n->kids[1]->literal.asString(), n->kids[1]->pos);
    }
    return n;
  }

  NodePtr memberCall(NodePtr target, const Token& name, size_t pos, std::vector<NodePtr> args) {
    static const std::unordered_map<std::string, Macro> macros = {{"all", Macro::All},
                                                                  {"exists", Macro::Exists},
                                                                  {"exists_one", Macro::ExistsOne},
                                                                  {"map", Macro::Map},
                                                                  {"filter", Macro::Filter}};
    auto macro = macros.find(name.text);
    if (macro != macros.end() &&
        (args.size() == 2 || (args.size() == 3 && macro->second == Macro::Map))) {
      if (args[0]->kind != Node::Kind::Ident) {
        fail(args[0]->pos, "argument must be a simple name");
      }
      std::vector<NodePtr> kids;
      kids.push_back(std::move(target));
      for (size_t i = 1; i < args.size(); ++i) {
        kids.push_back(std::move(args[i]));
      }
      NodePtr n = make(Node::Kind::Comprehension, pos, std::move(kids));
      n->macro = args.size() == 3 ? Macro::MapFilter : macro->second;
      n->name = args[0]->name;
      return n;
    }
    if (macro != macros.end() && args.size() == 3) {
      unsupported(pos, "two-variable comprehensions (" + name.text + "(k, v, ...))");
    }
    auto it = memberFunctions().find(name.text);
    if (it == memberFunctions().end()) {
      unsupported(pos, "the function " + name.text + "()");
    }
    if (args.size() != it->second.second) {
      fail(pos, "found no matching overload for '" + name.text + "' applied to " +
                    std::to_string(args.size()) + " arguments");
    }
    std::vector<NodePtr> kids;
    kids.push_back(std::move(target));
    for (auto& a : args) {
      kids.push_back(std::move(a));
    }
    NodePtr n = make(Node::Kind::Call, pos, std::move(kids));
    n->fn = it->second.first;
    n->receiver = true;
    n->name = name.text;
    if (n->fn == Fn::Matches && n->kids[1]->kind == Node::Kind::Literal &&
        n->kids[1]->literal.kind() == Value::Kind::String) {
      n->regex = compileLiteralPattern(n->kids[1]->literal.asString(), n->kids[1]->pos);
    }
    return n;
  }

  std::vector<Token> toks_;
  size_t k_ = 0;
  int nesting_ = 0;
};

}  // namespace

tl::expected<NodePtr, SourceError> parse(std::string_view source) {
  try {
    Lexer lexer(source);
    Parser parser(lexer.tokens());
    return parser.parseAll();
  } catch (const Failure& f) {
    return tl::unexpected(f.error);
  }
}

}  // namespace opsy::testing::cel

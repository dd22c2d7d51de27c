// CEL subset: the evaluator. Errors are values that && and || absorb as CEL specifies (false && x
// is false whatever x is); every node and loop iteration costs a step, and running out of steps
// cancels the whole evaluation.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "support/fake_kube_cel_internal.h"

namespace opsy::testing::cel {

namespace {

using K = Value::Kind;
using Result = Evaluator::Result;

tl::unexpected<std::string> error(std::string message) {
  return tl::unexpected(std::move(message));
}

const char* kNoOverload = "no such overload";

size_t codePoints(const std::string& s) {
  size_t n = 0;
  for (char c : s) {
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  }
  return n;
}

Result arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (a.kind() != b.kind()) {
    return error(kNoOverload);
  }
  switch (a.kind()) {
    case K::Int: {
      const int64_t x = a.asInt();
      const int64_t y = b.asInt();
      int64_t r = 0;
      bool overflow = false;
      if (op == "+") {
        overflow = __builtin_add_overflow(x, y, &r);
      } else if (op == "-") {
        overflow = __builtin_sub_overflow(x, y, &r);
      } else if (op == "*") {
        overflow = __builtin_mul_overflow(x, y, &r);
      } else {
        if (y == 0) {
          return error(op == "/" ? "division by zero" : "modulus by zero");
        }
        overflow = x == std::numeric_limits<int64_t>::min() && y == -1;
        r = overflow ? 0 : (op == "/" ? x / y : x % y);
      }
      return overflow ? Result(error("integer overflow")) : Result(Value::integer(r));
    }
    case K::Uint: {
      const uint64_t x = a.asUint();
      const uint64_t y = b.asUint();
      uint64_t r = 0;
      bool overflow = false;
      if (op == "+") {
        overflow = __builtin_add_overflow(x, y, &r);
      } else if (op == "-") {
        overflow = __builtin_sub_overflow(x, y, &r);
      } else if (op == "*") {
        overflow = __builtin_mul_overflow(x, y, &r);
      } else {
        if (y == 0) {
          return error(op == "/" ? "division by zero" : "modulus by zero");
        }
        r = op == "/" ? x / y : x % y;
      }
      return overflow ? Result(error("unsigned integer overflow")) : Result(Value::unsignedInt(r));
    }
    case K::Double: {
      const double x = a.asDouble();
      const double y = b.asDouble();
      if (op == "+")
        return Value::real(x + y);
      if (op == "-")
        return Value::real(x - y);
      if (op == "*")
        return Value::real(x * y);
      if (op == "/")
        return Value::real(x / y);
      return error(kNoOverload);
    }
    case K::String:
      if (op == "+") {
        return Value::string(a.asString() + b.asString());
      }
      return error(kNoOverload);
    case K::List: {
      if (op != "+") {
        return error(kNoOverload);
      }
      std::vector<Value> items;
      items.reserve(a.size() + b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        items.push_back(a.item(i));
      }
      for (size_t i = 0; i < b.size(); ++i) {
        items.push_back(b.item(i));
      }
      return Value::list(std::move(items));
    }
    default: return error(kNoOverload);
  }
}

Result convert(Fn fn, const Value& v) {
  switch (fn) {
    case Fn::ToInt:
      switch (v.kind()) {
        case K::Int: return v;
        case K::Uint:
          if (v.asUint() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            return error("integer overflow");
          }
          return Value::integer(static_cast<int64_t>(v.asUint()));
        case K::Double:
          if (!(v.asDouble() > -9223372036854775808.0 && v.asDouble() < 9223372036854775808.0)) {
            return error("integer overflow");
          }
          return Value::integer(static_cast<int64_t>(v.asDouble()));
        case K::String: {
          const std::string& s = v.asString();
          int64_t out = 0;
          auto r = std::from_chars(s.data(), s.data() + s.size(), out);
          if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) {
            return error("strconv.ParseInt: parsing \"" + s + "\": invalid syntax");
          }
          return Value::integer(out);
        }
        default: return error(kNoOverload);
      }
    case Fn::ToUint:
      switch (v.kind()) {
        case K::Uint: return v;
        case K::Int:
          if (v.asInt() < 0) {
            return error("unsigned integer overflow");
          }
          return Value::unsignedInt(static_cast<uint64_t>(v.asInt()));
        case K::Double:
          if (!(v.asDouble() > -1.0 && v.asDouble() < 18446744073709551616.0)) {
            return error("unsigned integer overflow");
          }
          return Value::unsignedInt(static_cast<uint64_t>(v.asDouble()));
        case K::String: {
          const std::string& s = v.asString();
          uint64_t out = 0;
          auto r = std::from_chars(s.data(), s.data() + s.size(), out);
          if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) {
            return error("strconv.ParseUint: parsing \"" + s + "\": invalid syntax");
          }
          return Value::unsignedInt(out);
        }
        default: return error(kNoOverload);
      }
    case Fn::ToDouble:
      switch (v.kind()) {
        case K::Double: return v;
        case K::Int: return Value::real(static_cast<double>(v.asInt()));
        case K::Uint: return Value::real(static_cast<double>(v.asUint()));
        case K::String: {
          const std::string& s = v.asString();
          char* end = nullptr;
          const double d = std::strtod(s.c_str(), &end);
          if (s.empty() || end != s.c_str() + s.size()) {
            return error("strconv.ParseFloat: parsing \"" + s + "\": invalid syntax");
          }
          return Value::real(d);
        }
        default: return error(kNoOverload);
      }
    case Fn::ToString:
      switch (v.kind()) {
        case K::String: return v;
        case K::Int: return Value::string(std::to_string(v.asInt()));
        case K::Uint: return Value::string(std::to_string(v.asUint()));
        case K::Double: return Value::string(formatDouble(v.asDouble()));
        case K::Bool: return Value::string(v.asBool() ? "true" : "false");
        default: return error(kNoOverload);
      }
    default: return v;
  }
}

}  // namespace

bool Evaluator::charge(int64_t steps) {
  cost_ += steps;
  if (cost_ > limit_) {
    cancelled_ = true;
  }
  return !cancelled_;
}

Result Evaluator::eval(const Node& n) {
  if (!charge(1)) {
    return error(kCostExceeded);
  }
  switch (n.kind) {
    case Node::Kind::Literal: return n.literal;
    case Node::Kind::List: {
      std::vector<Value> items;
      for (const auto& kid : n.kids) {
        auto v = eval(*kid);
        if (!v) {
          return v;
        }
        items.push_back(std::move(*v));
      }
      return Value::list(std::move(items));
    }
    case Node::Kind::Ident: {
      for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
        if (*it->first == n.name) {
          return it->second;
        }
      }
      if (n.name == "self") {
        return self_;
      }
      if (n.name == "oldSelf" && old_self_) {
        return *old_self_;
      }
      return error("no such attribute: " + n.name);
    }
    case Node::Kind::Select:
    case Node::Kind::Has: {
      auto operand = eval(*n.kids[0]);
      if (!operand) {
        return operand;
      }
      if (operand->kind() != K::Map) {
        return error(n.kind == Node::Kind::Has ? "invalid type for field selection." : kNoOverload);
      }
      auto v = operand->field(n.name);
      if (n.kind == Node::Kind::Has) {
        return Value::boolean(v.has_value());
      }
      return v ? Result(std::move(*v)) : Result(error("no such key: " + n.name));
    }
    case Node::Kind::Index: {
      auto operand = eval(*n.kids[0]);
      if (!operand) {
        return operand;
      }
      auto key = eval(*n.kids[1]);
      if (!key) {
        return key;
      }
      if (operand->kind() == K::List) {
        if (key->kind() != K::Int) {
          return error(kNoOverload);
        }
        const int64_t i = key->asInt();
        if (i < 0 || static_cast<size_t>(i) >= operand->size()) {
          return error("index '" + std::to_string(i) + "' out of range in list size '" +
                       std::to_string(operand->size()) + "'");
        }
        return operand->item(static_cast<size_t>(i));
      }
      if (operand->kind() == K::Map) {
        if (key->kind() != K::String) {
          return error("no such key: " + key->render());
        }
        auto v = operand->field(key->asString());
        return v ? Result(std::move(*v)) : Result(error("no such key: " + key->asString()));
      }
      return error(kNoOverload);
    }
    case Node::Kind::Call: return evalCall(n);
    case Node::Kind::Not: {
      auto v = eval(*n.kids[0]);
      if (!v) {
        return v;
      }
      return v->kind() == K::Bool ? Result(Value::boolean(!v->asBool())) : error(kNoOverload);
    }
    case Node::Kind::Neg: {
      auto v = eval(*n.kids[0]);
      if (!v) {
        return v;
      }
      if (v->kind() == K::Int) {
        if (v->asInt() == std::numeric_limits<int64_t>::min()) {
          return error("integer overflow");
        }
        return Value::integer(-v->asInt());
      }
      return v->kind() == K::Double ? Result(Value::real(-v->asDouble())) : error(kNoOverload);
    }
    case Node::Kind::Binary: return evalBinary(n);
    case Node::Kind::And: return evalAnd(n, true);
    case Node::Kind::Or: return evalAnd(n, false);
    case Node::Kind::Cond: {
      auto c = eval(*n.kids[0]);
      if (!c) {
        return c;
      }
      if (c->kind() != K::Bool) {
        return error(kNoOverload);
      }
      return eval(*n.kids[c->asBool() ? 1 : 2]);
    }
    case Node::Kind::Comprehension: return evalComprehension(n);
  }
  return error(kNoOverload);
}

// && and || are commutative over errors: a deciding operand (false for &&, true for ||) wins
// even when the other side fails; otherwise the first error is the result.
Result Evaluator::evalAnd(const Node& n, bool is_and) {
  auto as_bool = [](const Result& r) -> Result {
    if (r && r->kind() != K::Bool) {
      return error(kNoOverload);
    }
    return r;
  };
  Result l = as_bool(eval(*n.kids[0]));
  if (l && l->asBool() != is_and) {
    return l;
  }
  Result r = as_bool(eval(*n.kids[1]));
  if (cancelled_) {
    return error(kCostExceeded);
  }
  if (r && r->asBool() != is_and) {
    return r;
  }
  return l ? r : l;
}

Result Evaluator::evalBinary(const Node& n) {
  auto a = eval(*n.kids[0]);
  if (!a) {
    return a;
  }
  auto b = eval(*n.kids[1]);
  if (!b) {
    return b;
  }
  const std::string& op = n.op;
  if (op == "==" || op == "!=") {
    if (!charge(static_cast<int64_t>(std::max(a->size(), b->size())))) {
      return error(kCostExceeded);
    }
    return Value::boolean(equals(*a, *b) == (op == "=="));
  }
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    auto c = compare(*a, *b);
    if (!c) {
      return error(kNoOverload);
    }
    const bool r = op == "<" ? *c < 0 : op == "<=" ? *c <= 0 : op == ">" ? *c > 0 : *c >= 0;
    return Value::boolean(r);
  }
  if (op == "in") {
    if (b->kind() == K::List) {
      for (size_t i = 0; i < b->size(); ++i) {
        if (!charge(1)) {
          return error(kCostExceeded);
        }
        if (equals(*a, b->item(i))) {
          return Value::boolean(true);
        }
      }
      return Value::boolean(false);
    }
    if (b->kind() == K::Map) {
      return Value::boolean(a->kind() == K::String && b->field(a->asString()).has_value());
    }
    return error(kNoOverload);
  }
  if (!charge(static_cast<int64_t>(a->size() + b->size()))) {
    return error(kCostExceeded);
  }
  return arithmetic(op, *a, *b);
}

Result Evaluator::evalCall(const Node& n) {
  std::vector<Value> args;
  for (const auto& kid : n.kids) {
    auto v = eval(*kid);
    if (!v) {
      return v;
    }
    args.push_back(std::move(*v));
  }
  const Value& a = args[0];
  switch (n.fn) {
    case Fn::Size:
      if (a.kind() == K::String) {
        return Value::integer(static_cast<int64_t>(codePoints(a.asString())));
      }
      if (a.kind() == K::List || a.kind() == K::Map) {
        return Value::integer(static_cast<int64_t>(a.size()));
      }
      return error(kNoOverload);
    case Fn::StartsWith:
    case Fn::EndsWith:
    case Fn::Contains:
    case Fn::Matches: {
      if (a.kind() != K::String || args[1].kind() != K::String) {
        return error(kNoOverload);
      }
      const std::string& s = a.asString();
      const std::string& p = args[1].asString();
      if (!charge(static_cast<int64_t>(s.size() / 10 + 1))) {
        return error(kCostExceeded);
      }
      if (n.fn == Fn::StartsWith) {
        return Value::boolean(s.compare(0, p.size(), p) == 0 && s.size() >= p.size());
      }
      if (n.fn == Fn::EndsWith) {
        return Value::boolean(s.size() >= p.size() &&
                              s.compare(s.size() - p.size(), p.size(), p) == 0);
      }
      if (n.fn == Fn::Contains) {
        return Value::boolean(s.find(p) != std::string::npos);
      }
      if (s.size() > kMaxRegexInput) {
        return error("fake-kube evaluates matches() only on strings of at most " +
                     std::to_string(kMaxRegexInput) + " bytes (std::regex stands in for RE2)");
      }
      std::shared_ptr<const std::regex> re = n.regex;
      if (re == nullptr) {
        if (p.size() > kMaxRegexPattern) {
          return error("fake-kube evaluates matches() only with patterns of at most " +
                       std::to_string(kMaxRegexPattern) + " bytes");
        }
        try {
          re = std::make_shared<const std::regex>(p, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
          return error("error parsing regexp: " + p);
        }
      }
      return Value::boolean(std::regex_search(s, *re));
    }
    case Fn::LowerAscii:
    case Fn::UpperAscii: {
      if (a.kind() != K::String) {
        return error(kNoOverload);
      }
      std::string s = a.asString();
      for (char& c : s) {
        if (n.fn == Fn::LowerAscii && c >= 'A' && c <= 'Z') {
          c = static_cast<char>(c - 'A' + 'a');
        } else if (n.fn == Fn::UpperAscii && c >= 'a' && c <= 'z') {
          c = static_cast<char>(c - 'a' + 'A');
        }
      }
      return Value::string(std::move(s));
    }
    default: return convert(n.fn, a);
  }
}

Result Evaluator::evalComprehension(const Node& n) {
  auto range = eval(*n.kids[0]);
  if (!range) {
    return range;
  }
  std::vector<Value> elements;
  if (range->kind() == K::List) {
    for (size_t i = 0; i < range->size(); ++i) {
      elements.push_back(range->item(i));
    }
  } else if (range->kind() == K::Map) {
    for (auto& k : range->keys()) {
      elements.push_back(Value::string(std::move(k)));
    }
  } else {
    return error(kNoOverload);
  }
  vars_.emplace_back(&n.name, Value());
  auto run = [&](const Node& body, const Value& element) -> Result {
    vars_.back().second = element;
    if (!charge(1)) {
      return error(kCostExceeded);
    }
    return eval(body);
  };
  auto as_bool = [](Result r) -> Result {
    if (r && r->kind() != K::Bool) {
      return error(kNoOverload);
    }
    return r;
  };
  Result result = Value();
  std::optional<std::string> first_error;
  std::vector<Value> out;
  int64_t count = 0;
  bool decided = false;
  for (const Value& e : elements) {
    if (n.macro == Macro::All || n.macro == Macro::Exists) {
      // Like && and ||: a deciding element wins over an earlier error.
      Result r = as_bool(run(*n.kids[1], e));
      if (cancelled_) {
        break;
      }
      if (!r) {
        if (!first_error) {
          first_error = r.error();
        }
      } else if (r->asBool() == (n.macro == Macro::Exists)) {
        decided = true;
        break;
      }
      continue;
    }
    Result keep = Value::boolean(true);
    if (n.macro != Macro::Map) {
      keep = as_bool(run(*n.kids[1], e));
      if (!keep) {
        result = keep;
        break;
      }
    }
    if (n.macro == Macro::ExistsOne) {
      count += keep->asBool() ? 1 : 0;
    } else if (keep->asBool()) {
      Result v = n.macro == Macro::Filter ? Result(e)
                                          : run(*n.kids[n.macro == Macro::MapFilter ? 2 : 1], e);
      if (!v) {
        result = v;
        break;
      }
      out.push_back(std::move(*v));
    }
  }
  vars_.pop_back();
  if (cancelled_) {
    return error(kCostExceeded);
  }
  if (!result) {
    return result;
  }
  switch (n.macro) {
    case Macro::All:
    case Macro::Exists:
      if (decided) {
        return Value::boolean(n.macro == Macro::Exists);
      }
      if (first_error) {
        return error(*first_error);
      }
      return Value::boolean(n.macro == Macro::All);
    case Macro::ExistsOne: return Value::boolean(count == 1);
    default: return Value::list(std::move(out));
  }
}

}  // namespace opsy::testing::cel

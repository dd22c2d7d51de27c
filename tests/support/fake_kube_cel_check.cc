// CEL subset: the static checker. It types each node from the schema of `self` and refuses what
// cel-go's checker refuses when a real server compiles a rule (undefined fields, undeclared
// names, operators applied to the wrong types, mixed list literals). Where the type is not known
// (dyn) it lets the expression through, and evaluation decides.
#include "support/fake_kube_cel_internal.h"

namespace opsy::testing::cel {

namespace {

using K = Type::Kind;

struct Failure {
  SourceError error;
};

[[noreturn]] void invalid(size_t pos, std::string message) {
  throw Failure{SourceError{pos, std::move(message), false}};
}

[[noreturn]] void noOverload(size_t pos, const std::string& fn, const std::vector<Type>& args,
                             const Type* target = nullptr) {
  std::string list;
  for (size_t i = 0; i < args.size(); ++i) {
    list += (i > 0 ? ", " : "") + args[i].name();
  }
  invalid(pos, "found no matching overload for '" + fn + "' applied to '" +
                   (target != nullptr ? target->name() + "." : "") + "(" + list + ")'");
}

bool numeric(K k) {
  return k == K::Int || k == K::Uint || k == K::Double;
}

bool isOr(const Type& t, std::initializer_list<K> kinds) {
  if (t.kind == K::Dyn) {
    return true;
  }
  for (K k : kinds) {
    if (t.kind == k) {
      return true;
    }
  }
  return false;
}

Type listOf(Type elem) {
  Type t = Type::of(K::List);
  t.elem = std::make_shared<const Type>(std::move(elem));
  return t;
}

Type elemOf(const Type& t) {
  return t.elem ? *t.elem : Type{};
}

class Checker {
 public:
  explicit Checker(CheckEnv& env) : env_(env) {}

  Type check(Node& n) {
    Type t = checkNode(n);
    // Values kept in strings with a format (timestamps, durations, bytes) have their own CEL
    // types, which this subset does not implement; has() on such a field stays possible.
    if (t.kind == K::Timestamp || t.kind == K::Duration || t.kind == K::Bytes) {
      throw Failure{SourceError{n.pos,
                                "values of type " + t.name() +
                                    " (string fields with format date-time, date, duration or "
                                    "byte) are not supported by fake-kube's CEL subset",
                                true}};
    }
    return t;
  }

 private:
  Type checkNode(Node& n) {
    switch (n.kind) {
      case Node::Kind::Literal: return literalType(n.literal);
      case Node::Kind::List: return listLiteral(n);
      case Node::Kind::Ident: return identifier(n);
      case Node::Kind::Select: return field(check(*n.kids[0]), n);
      case Node::Kind::Has: {
        Type operand = check(*n.kids[0]);
        if (operand.kind != K::Object && operand.kind != K::Map && operand.kind != K::Dyn) {
          invalid(n.pos, "invalid type for field selection.");
        }
        (void)field(operand, n);
        return Type::of(K::Bool);
      }
      case Node::Kind::Index: return index(n);
      case Node::Kind::Call: return call(n);
      case Node::Kind::Not: {
        Type t = check(*n.kids[0]);
        if (!isOr(t, {K::Bool})) {
          noOverload(n.pos, "!_", {t});
        }
        return Type::of(K::Bool);
      }
      case Node::Kind::Neg: {
        Type t = check(*n.kids[0]);
        if (!isOr(t, {K::Int, K::Double})) {
          noOverload(n.pos, "-_", {t});
        }
        return t;
      }
      case Node::Kind::Binary: return binary(n);
      case Node::Kind::And:
      case Node::Kind::Or: {
        Type l = check(*n.kids[0]);
        Type r = check(*n.kids[1]);
        if (!isOr(l, {K::Bool}) || !isOr(r, {K::Bool})) {
          noOverload(n.pos, n.kind == Node::Kind::And ? "_&&_" : "_||_", {l, r});
        }
        return Type::of(K::Bool);
      }
      case Node::Kind::Cond: return conditional(n);
      case Node::Kind::Comprehension: return comprehension(n);
    }
    return Type{};
  }

  static Type literalType(const Value& v) {
    switch (v.kind()) {
      case Value::Kind::Null: return Type::of(K::Null);
      case Value::Kind::Bool: return Type::of(K::Bool);
      case Value::Kind::Int: return Type::of(K::Int);
      case Value::Kind::Uint: return Type::of(K::Uint);
      case Value::Kind::Double: return Type::of(K::Double);
      case Value::Kind::String: return Type::of(K::String);
      default: return Type{};
    }
  }

  // List literals are homogeneous in a Kubernetes CEL environment.
  Type listLiteral(Node& n) {
    Type elem;
    for (auto& kid : n.kids) {
      Type t = check(*kid);
      if (t.kind == K::Dyn || t.kind == K::Null) {
        continue;
      }
      if (elem.kind == K::Dyn) {
        elem = t;
      } else if (elem.kind != t.kind) {
        invalid(kid->pos, "expected type '" + elem.name() + "' but found '" + t.name() + "'");
      }
    }
    return listOf(elem);
  }

  Type identifier(Node& n) {
    for (auto it = env_.vars.rbegin(); it != env_.vars.rend(); ++it) {
      if (it->first == n.name) {
        return it->second;
      }
    }
    if (n.name == "self") {
      return env_.self;
    }
    if (n.name == "oldSelf") {
      env_.uses_old_self = true;
      return env_.self;
    }
    invalid(n.pos, "undeclared reference to '" + n.name + "' (in container '')");
  }

  // The type of operand.name; for objects the escaped CEL name is replaced by the property's.
  Type field(const Type& operand, Node& n) {
    switch (operand.kind) {
      case K::Dyn: return Type{};
      case K::Map: return elemOf(operand);
      case K::Object: {
        if (operand.root && (n.name == "apiVersion" || n.name == "kind")) {
          return Type::of(K::String);
        }
        if (operand.root && n.name == "metadata") {
          return typeOfSchema(&rootMetadataSchema(), false);
        }
        const JsonValue* props = member(*operand.schema, "properties");
        if (props != nullptr && props->IsObject()) {
          for (auto it = props->MemberBegin(); it != props->MemberEnd(); ++it) {
            std::string_view prop(it->name.GetString(), it->name.GetStringLength());
            if (escapePropertyName(prop) == n.name) {
              Type t = typeOfSchema(&it->value, false);
              if (t.kind == K::Unexposed) {
                break;  // properties without a type are left out of the CEL declaration
              }
              n.name = std::string(prop);
              return t;
            }
          }
        }
        invalid(n.pos, "undefined field '" + n.name + "'");
      }
      default: invalid(n.pos, "type '" + operand.name() + "' does not support field selection");
    }
  }

  Type index(Node& n) {
    Type operand = check(*n.kids[0]);
    Type key = check(*n.kids[1]);
    if (operand.kind == K::Dyn) {
      return Type{};
    }
    if (operand.kind == K::List && isOr(key, {K::Int})) {
      return elemOf(operand);
    }
    if (operand.kind == K::Map && isOr(key, {K::String})) {
      return elemOf(operand);
    }
    noOverload(n.pos, "_[_]", {operand, key});
  }

  Type call(Node& n) {
    std::vector<Type> args;
    for (auto& kid : n.kids) {
      args.push_back(check(*kid));
    }
    auto refuse = [&]() {
      if (n.receiver) {
        Type target = args[0];
        args.erase(args.begin());
        noOverload(n.pos, n.name, args, &target);
      }
      noOverload(n.pos, n.name, args);
    };
    switch (n.fn) {
      case Fn::Size:
        if (!isOr(args[0], {K::String, K::List, K::Map})) {
          refuse();
        }
        return Type::of(K::Int);
      case Fn::StartsWith:
      case Fn::EndsWith:
      case Fn::Contains:
      case Fn::Matches:
        if (!isOr(args[0], {K::String}) || !isOr(args[1], {K::String})) {
          refuse();
        }
        return Type::of(K::Bool);
      case Fn::LowerAscii:
      case Fn::UpperAscii:
        if (!isOr(args[0], {K::String})) {
          refuse();
        }
        return Type::of(K::String);
      case Fn::ToInt:
      case Fn::ToUint:
      case Fn::ToDouble:
        if (!isOr(args[0], {K::Int, K::Uint, K::Double, K::String})) {
          refuse();
        }
        return Type::of(n.fn == Fn::ToInt ? K::Int : n.fn == Fn::ToUint ? K::Uint : K::Double);
      case Fn::ToString:
        if (!isOr(args[0], {K::Int, K::Uint, K::Double, K::String, K::Bool})) {
          refuse();
        }
        return Type::of(K::String);
      case Fn::Dyn: return Type{};
    }
    return Type{};
  }

  Type binary(Node& n) {
    Type l = check(*n.kids[0]);
    Type r = check(*n.kids[1]);
    const std::string& op = n.op;
    const std::string fn = op == "in" ? "@in" : "_" + op + "_";
    const bool dyn = l.kind == K::Dyn || r.kind == K::Dyn;
    if (op == "==" || op == "!=") {
      if (!dyn && l.kind != K::Null && r.kind != K::Null && l.kind != r.kind &&
          !((l.kind == K::Map || l.kind == K::Object) &&
            (r.kind == K::Map || r.kind == K::Object))) {
        noOverload(n.pos, fn, {l, r});
      }
      return Type::of(K::Bool);
    }
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      const bool ok = dyn || (numeric(l.kind) && numeric(r.kind)) ||
                      (l.kind == r.kind && (l.kind == K::String || l.kind == K::Bool));
      if (!ok) {
        noOverload(n.pos, fn, {l, r});
      }
      return Type::of(K::Bool);
    }
    if (op == "in") {
      const bool ok =
          r.kind == K::Dyn || r.kind == K::List || (r.kind == K::Map && isOr(l, {K::String}));
      if (!ok) {
        noOverload(n.pos, fn, {l, r});
      }
      return Type::of(K::Bool);
    }
    if (dyn) {
      return l.kind == K::Dyn ? r : l;
    }
    bool ok = l.kind == r.kind;
    if (op == "+") {
      ok = ok && (numeric(l.kind) || l.kind == K::String || l.kind == K::List);
    } else if (op == "%") {
      ok = ok && (l.kind == K::Int || l.kind == K::Uint);
    } else {
      ok = ok && numeric(l.kind);
    }
    if (!ok) {
      noOverload(n.pos, fn, {l, r});
    }
    if (l.kind == K::List) {
      const Type a = elemOf(l);
      const Type b = elemOf(r);
      return listOf(a.kind == b.kind ? a : Type{});
    }
    return l;
  }

  Type conditional(Node& n) {
    Type c = check(*n.kids[0]);
    Type t = check(*n.kids[1]);
    Type f = check(*n.kids[2]);
    if (!isOr(c, {K::Bool})) {
      noOverload(n.pos, "_?_:_", {c, t, f});
    }
    if (t.kind == K::Dyn || f.kind == K::Dyn) {
      return Type{};
    }
    if (t.kind == K::Null) {
      return f;
    }
    if (f.kind == K::Null || t.kind == f.kind) {
      return t;
    }
    noOverload(n.pos, "_?_:_", {c, t, f});
  }

  Type comprehension(Node& n) {
    Type range = check(*n.kids[0]);
    Type var;
    if (range.kind == K::List) {
      var = elemOf(range);
    } else if (range.kind == K::Map) {
      var = Type::of(K::String);
    } else if (range.kind != K::Dyn) {
      invalid(n.pos, "expression of type '" + range.name() +
                         "' cannot be range of a comprehension (must be list, map, or dynamic)");
    }
    env_.vars.emplace_back(n.name, var);
    Type result;
    auto predicate = [&](Node& p) {
      Type t = check(p);
      if (!isOr(t, {K::Bool})) {
        noOverload(p.pos, n.macro == Macro::Exists ? "_||_" : "_&&_", {Type::of(K::Bool), t});
      }
    };
    switch (n.macro) {
      case Macro::All:
      case Macro::Exists:
      case Macro::ExistsOne:
        predicate(*n.kids[1]);
        result = Type::of(K::Bool);
        break;
      case Macro::Filter:
        predicate(*n.kids[1]);
        result = listOf(var);
        break;
      case Macro::Map: result = listOf(check(*n.kids[1])); break;
      case Macro::MapFilter:
        predicate(*n.kids[1]);
        result = listOf(check(*n.kids[2]));
        break;
    }
    env_.vars.pop_back();
    return result;
  }

  CheckEnv& env_;
};

}  // namespace

tl::expected<Type, SourceError> check(Node& node, CheckEnv& env) {
  try {
    return Checker(env).check(node);
  } catch (const Failure& f) {
    return tl::unexpected(f.error);
  }
}

}  // namespace opsy::testing::cel

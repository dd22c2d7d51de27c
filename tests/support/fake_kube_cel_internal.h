// File: fake_kube_cel_internal.h
//
// The pieces of the fake API server's CEL subset (internal to fake_kube_cel*.cc): runtime values
// (JSON seen through its schema), static types derived from the schema, the syntax tree, and the
// parse, check and evaluate passes.
//
//   auto tree = cel::parse(source);  cel::check(**tree, env);  cel::Evaluator(self,
//   old).eval(**tree)
#pragma once

#include <tl/expected.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "support/fake_kube_cel.h"
#include "support/fake_kube_json.h"

namespace opsy::testing::cel {

// Nesting deeper than this is refused when parsing, so checking and evaluating recurse boundedly.
inline constexpr int kMaxDepth = 128;
// matches() runs std::regex (backtracking), so it only sees short inputs and patterns.
inline constexpr size_t kMaxRegexInput = 1024;
inline constexpr size_t kMaxRegexPattern = 256;

// A CEL value. Lists and maps read from the request body are views of the JSON document, typed by
// the schema they were declared with; lists built by the expression own their elements.
class Value {
 public:
  enum class Kind : uint8_t { Null, Bool, Int, Uint, Double, String, List, Map };

  Value() = default;
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value unsignedInt(uint64_t u);
  static Value real(double d);
  static Value string(std::string s);
  static Value list(std::vector<Value> items);
  // `schema` (may be null) decides numbers (integer: int, number: double) and which object
  // members are visible; `root` is a resource root (or an embedded resource).
  static Value fromJson(const JsonValue& json, const JsonValue* schema, bool root = false);

  Kind kind() const { return kind_; }
  bool isNumber() const {
    return kind_ == Kind::Int || kind_ == Kind::Uint || kind_ == Kind::Double;
  }
  bool asBool() const { return b_; }
  int64_t asInt() const { return i_; }
  uint64_t asUint() const { return u_; }
  double asDouble() const { return d_; }
  const std::string& asString() const { return s_; }

  size_t size() const;                                     // list elements, map entries
  Value item(size_t i) const;                              // list element
  std::optional<Value> field(std::string_view key) const;  // map entry, if present
  std::vector<std::string> keys() const;                   // map keys, in document order
  std::string render() const;

 private:
  bool visible(std::string_view key) const;
  const JsonValue* memberSchema(std::string_view key) const;

  Kind kind_ = Kind::Null;
  bool b_ = false;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0;
  std::string s_;
  std::shared_ptr<const std::vector<Value>> items_;
  const JsonValue* json_ = nullptr;
  const JsonValue* schema_ = nullptr;
  bool root_ = false;
};

// CEL equality: numbers compare by value across int, uint and double; other kinds must match.
bool equals(const Value& a, const Value& b);
// Ordering of numbers (across kinds), strings and bools: <0, 0, >0; nullopt when not ordered.
std::optional<int> compare(const Value& a, const Value& b);
// Go's %v of a float64, as CEL's string() of a double writes it.
std::string formatDouble(double d);

// The schema of metadata as CEL sees it at a resource root: name and generateName only.
const JsonValue& rootMetadataSchema();
// Whether a schema node is a resource root for CEL (x-kubernetes-embedded-resource).
bool isEmbeddedResource(const JsonValue* schema);

// Static types, from the schema where there is one.
struct Type {
  enum class Kind : uint8_t {
    Dyn,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    List,
    Map,
    Object,
    Timestamp,
    Duration,
    Bytes,
    Unexposed,  // a schema node CEL cannot see (no type, or items/values without one)
  };
  Kind kind = Kind::Dyn;
  const JsonValue* schema = nullptr;  // Object: its schema
  bool root = false;                  // Object: a resource root
  std::shared_ptr<const Type> elem;   // List: element type; Map: value type

  static Type of(Kind k) {
    Type t;
    t.kind = k;
    return t;
  }
  std::string name() const;
};

Type typeOfSchema(const JsonValue* schema, bool root);

enum class Fn : uint8_t {
  Size,
  StartsWith,
  EndsWith,
  Contains,
  Matches,
  LowerAscii,
  UpperAscii,
  ToInt,
  ToUint,
  ToDouble,
  ToString,
  Dyn
};
enum class Macro : uint8_t { All, Exists, ExistsOne, Map, MapFilter, Filter };

struct Node {
  enum class Kind : uint8_t {
    Literal,
    List,
    Ident,
    Select,  // kids[0].name
    Has,     // has(kids[0].name)
    Index,   // kids[0][kids[1]]
    Call,    // fn(kids...); with `receiver`, kids[0] is the target
    Not,
    Neg,
    Binary,  // kids[0] op kids[1]
    And,
    Or,
    Cond,           // kids[0] ? kids[1] : kids[2]
    Comprehension,  // kids[0].macro(name, kids[1] [, kids[2]])
  };
  Kind kind = Kind::Literal;
  size_t pos = 0;  // byte offset in the source, for messages
  int depth = 1;
  Value literal;
  std::string name;  // identifier, field (after checking: the property's real name), loop variable
  std::string op;    // Binary: + - * / % == != < <= > >= in
  Fn fn = Fn::Size;
  bool receiver = false;
  Macro macro = Macro::All;
  std::vector<std::unique_ptr<Node>> kids;
  std::shared_ptr<const std::regex> regex;  // matches() with a literal pattern
};
using NodePtr = std::unique_ptr<Node>;

struct SourceError {
  size_t pos = 0;
  std::string message;
  bool unsupported = false;
};

tl::expected<NodePtr, SourceError> parse(std::string_view source);

struct CheckEnv {
  Type self;
  bool uses_old_self = false;  // set by check
  std::vector<std::pair<std::string, Type>> vars;
};
// Types the tree, resolving escaped property names in place.
tl::expected<Type, SourceError> check(Node& node, CheckEnv& env);

class Evaluator {
 public:
  Evaluator(Value self, std::optional<Value> old_self, int64_t limit)
      : self_(std::move(self)), old_self_(std::move(old_self)), limit_(limit) {}
  using Result = tl::expected<Value, std::string>;
  Result eval(const Node& node);
  int64_t cost() const { return cost_; }
  bool cancelled() const { return cancelled_; }

 private:
  Result evalAnd(const Node& node, bool is_and);
  Result evalBinary(const Node& node);
  Result evalCall(const Node& node);
  Result evalComprehension(const Node& node);
  bool charge(int64_t steps);

  Value self_;
  std::optional<Value> old_self_;
  int64_t limit_;
  int64_t cost_ = 0;
  bool cancelled_ = false;
  std::vector<std::pair<const std::string*, Value>> vars_;
};

inline const char* kCostExceeded = "operation cancelled: actual cost limit exceeded";

}  // namespace opsy::testing::cel

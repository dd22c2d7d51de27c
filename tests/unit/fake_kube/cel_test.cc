// The fake API server's CEL subset on its own: literals, operators, functions and macros with
// CEL's semantics, the errors cel-go reports (at compile time against the schema, and when
// running), and the bounds that keep evaluation small.
#include <gtest/gtest.h>

#include <string>

#include "support/fake_kube_cel.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {
namespace {

// Compiles `expr` with self typed by `schema` (untyped when empty) and evaluates it against
// `self`: the result in CEL syntax, "error: ..." when evaluation fails, "invalid: ...",
// "unsupported: ..." or "type: ..." when compilation does.
std::string run(const std::string& expr, const std::string& self = "{}",
                const std::string& schema = "", bool root = false) {
  Json s;
  if (!schema.empty()) {
    s.Parse(schema.c_str());
  }
  auto program =
      cel::Program::compile(expr, schema.empty() ? nullptr : &s, root, cel::ResultType::Any);
  if (!program) {
    switch (program.error().kind) {
      case cel::CompileError::Kind::Invalid: return "invalid: " + program.error().message;
      case cel::CompileError::Kind::Unsupported: return "unsupported: " + program.error().message;
      case cel::CompileError::Kind::ResultType: return "type: " + program.error().message;
    }
  }
  Json value;
  value.Parse(self.c_str());
  cel::Evaluation e = program->evaluate(value, nullptr);
  return e.error.empty() ? e.rendered : "error: " + e.error;
}

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

const char* kSpecSchema = R"({"type":"object","properties":{
  "ami":{"type":"string"},
  "amiFilters":{"type":"array","items":{"type":"object","properties":{
    "name":{"type":"string"},"values":{"type":"array","items":{"type":"string"}}}}},
  "replicas":{"type":"integer"},
  "ratio":{"type":"number"},
  "paused":{"type":"boolean"},
  "labels":{"type":"object","additionalProperties":{"type":"string"}},
  "port":{"x-kubernetes-int-or-string":true},
  "created":{"type":"string","format":"date-time"},
  "foo-bar":{"type":"string"},
  "namespace":{"type":"string"}}})";

TEST(CelLiterals, IntUintDoubleStringBoolNullAndLists) {
  EXPECT_EQ(run("42"), "42");
  EXPECT_EQ(run("-42"), "-42");
  EXPECT_EQ(run("0x1F"), "31");
  EXPECT_EQ(run("42u"), "42u");
  EXPECT_EQ(run("1.5"), "1.5");
  EXPECT_EQ(run("2.0"), "2.0");
  EXPECT_EQ(run("1e3"), "1000.0");
  EXPECT_EQ(run(".5"), "0.5");
  EXPECT_EQ(run("true"), "true");
  EXPECT_EQ(run("null"), "null");
  EXPECT_EQ(run("[1, 2, 3,]"), "[1, 2, 3]");
  EXPECT_EQ(run("[]"), "[]");
  EXPECT_EQ(run("-9223372036854775808"), "-9223372036854775808");
  EXPECT_TRUE(startsWith(run("9223372036854775808"), "invalid: ERROR: <input>:1:1: invalid int"));
}

TEST(CelLiterals, StringEscapesQuotesAndRawStrings) {
  EXPECT_EQ(run(R"("a\"b")"), R"("a\"b")");
  EXPECT_EQ(run(R"('it\'s')"), R"("it's")");
  EXPECT_EQ(run(R"("tab\tnl\n")"), R"("tab\tnl\n")");
  EXPECT_EQ(run(R"("\x41\u00e9\U0001F600\101")"),
            "\"A\xc3\xa9\xf0\x9f\x98\x80"
            "A\"");
  EXPECT_EQ(run(R"(r"\d+")"), R"("\\d+")");
  EXPECT_EQ(run(R"('''multi
line''')"),
            R"("multi\nline")");
  EXPECT_EQ(run(R"(size("é"))"), "1");  // code points, not bytes
  EXPECT_TRUE(
      startsWith(run(R"("\q")"), "invalid: ERROR: <input>:1:2: Syntax error: invalid escape"));
  EXPECT_TRUE(startsWith(run(R"("open)"), "invalid: "));
  EXPECT_TRUE(startsWith(run(R"(b"bytes")"), "unsupported: bytes literals"));
}

TEST(CelArithmetic, IntegerOperatorsAndTheirErrors) {
  EXPECT_EQ(run("1 + 2 * 3 - 4"), "3");
  EXPECT_EQ(run("(1 + 2) * 3"), "9");
  EXPECT_EQ(run("7 / 2"), "3");
  EXPECT_EQ(run("-7 / 2"), "-3");  // truncates toward zero
  EXPECT_EQ(run("-7 % 3"), "-1");
  EXPECT_EQ(run("-(3)"), "-3");
  EXPECT_EQ(run("1 / 0"), "error: division by zero");
  EXPECT_EQ(run("1 % 0"), "error: modulus by zero");
  EXPECT_EQ(run("9223372036854775807 + 1"), "error: integer overflow");
  EXPECT_EQ(run("-9223372036854775808 - 1"), "error: integer overflow");
  EXPECT_EQ(run("-9223372036854775808 / -1"), "error: integer overflow");
  EXPECT_EQ(run("3000000000 * 4000000000"), "error: integer overflow");
}

TEST(CelArithmetic, UintDoubleStringAndListOperators) {
  EXPECT_EQ(run("5u + 2u"), "7u");
  EXPECT_EQ(run("5u % 2u"), "1u");
  EXPECT_EQ(run("1u - 2u"), "error: unsigned integer overflow");
  EXPECT_EQ(run("1.5 * 2.0"), "3.0");
  EXPECT_EQ(run("1.0 / 0.0"), "+Inf");
  EXPECT_EQ(run("'ab' + 'cd'"), R"("abcd")");
  EXPECT_EQ(run("[1] + [2, 3]"), "[1, 2, 3]");
  // Mixed kinds have no overload: refused by the checker when the types are known...
  EXPECT_TRUE(startsWith(run("1 + 1.0"),
                         "invalid: ERROR: <input>:1:3: found no matching "
                         "overload for '_+_' applied to '(int, double)'"));
  EXPECT_TRUE(startsWith(run("1.5 % 1.0"), "invalid: "));
  // ...and at run time when they are not.
  EXPECT_EQ(run("self.a + self.b", R"({"a":1,"b":"x"})"), "error: no such overload");
}

TEST(CelComparison, EqualityIsHeterogeneousForNumbersAndDeepForAggregates) {
  EXPECT_EQ(run("1 == 1"), "true");
  EXPECT_EQ(run("1 != 2"), "true");
  EXPECT_EQ(run("dyn(1) == 1.0"), "true");
  EXPECT_EQ(run("dyn(1) == 1u"), "true");
  EXPECT_EQ(run("dyn(-1) == 18446744073709551615u"), "false");
  EXPECT_EQ(run("dyn('1') == 1"), "false");
  EXPECT_EQ(run("[[1], [2, 3]] == [[1], [2, 3]]"), "true");
  EXPECT_EQ(run("[[1], [2, 3]] == [[1], [3, 2]]"), "false");
  EXPECT_EQ(run("self.m == self.n", R"({"m":{"a":1,"b":[true]},"n":{"b":[true],"a":1}})"), "true");
  EXPECT_EQ(run("self.m == self.n", R"({"m":{"a":1},"n":{"a":2}})"), "false");
  EXPECT_EQ(run("null == null"), "true");
  EXPECT_EQ(run("self.x == null", R"({"x":null})"), "true");
  EXPECT_TRUE(startsWith(run("1 == 1.0"),
                         "invalid: ERROR: <input>:1:3: found no matching "
                         "overload for '_==_' applied to '(int, double)'"));
  EXPECT_TRUE(startsWith(run("'a' == 1"), "invalid: "));
}

TEST(CelComparison, OrderingOfNumbersStringsAndBools) {
  EXPECT_EQ(run("1 < 2"), "true");
  EXPECT_EQ(run("2 <= 2"), "true");
  EXPECT_EQ(run("3 > 2.5"), "true");  // numbers compare across kinds
  EXPECT_EQ(run("1u >= 2"), "false");
  EXPECT_EQ(run("-1 < 1u"), "true");
  EXPECT_EQ(run("'abc' < 'abd'"), "true");
  EXPECT_EQ(run("false < true"), "true");
  EXPECT_TRUE(startsWith(run("'a' < 1"), "invalid: "));
  EXPECT_EQ(run("self.a < self.b", R"({"a":[1],"b":[2]})"), "error: no such overload");
}

TEST(CelLogic, AndOrAbsorbErrorsAsCelSpecifies) {
  EXPECT_EQ(run("true && false"), "false");
  EXPECT_EQ(run("false || true"), "true");
  EXPECT_EQ(run("!true"), "false");
  EXPECT_EQ(run("!!true"), "true");
  // A deciding operand wins over an error on either side.
  EXPECT_EQ(run("false && self.missing", "{}"), "false");
  EXPECT_EQ(run("self.missing && false", "{}"), "false");
  EXPECT_EQ(run("self.missing || true", "{}"), "true");
  EXPECT_EQ(run("true || self.missing", "{}"), "true");
  // Otherwise the error is the result.
  EXPECT_EQ(run("true && self.missing", "{}"), "error: no such key: missing");
  EXPECT_EQ(run("self.missing || false", "{}"), "error: no such key: missing");
  EXPECT_EQ(run("self.a || self.b", "{}"), "error: no such key: a");
  EXPECT_EQ(run("self.n && true", R"({"n":1})"), "error: no such overload");
  EXPECT_TRUE(startsWith(run("1 && true"),
                         "invalid: ERROR: <input>:1:3: found no matching "
                         "overload for '_&&_' applied to '(int, bool)'"));
}

TEST(CelLogic, TernaryChoosesOneBranch) {
  EXPECT_EQ(run("1 < 2 ? 'yes' : 'no'"), R"("yes")");
  EXPECT_EQ(run("false ? self.missing : 3", "{}"), "3");
  EXPECT_EQ(run("true ? 1 : false ? 2 : 3"), "1");
  EXPECT_TRUE(startsWith(run("1 ? 2 : 3"), "invalid: "));
  EXPECT_TRUE(startsWith(run("true ? 1 : 'a'"), "invalid: "));
}

TEST(CelMembers, FieldSelectionIndexAndHas) {
  const std::string self = R"({"a":{"b":[10,20]},"m":{"k":"v"}})";
  EXPECT_EQ(run("self.a.b[1]", self), "20");
  EXPECT_EQ(run("self['m']['k']", self), R"("v")");
  EXPECT_EQ(run("self.a.b[2]", self), "error: index '2' out of range in list size '2'");
  EXPECT_EQ(run("self.a.b[-1]", self), "error: index '-1' out of range in list size '2'");
  EXPECT_EQ(run("self.m['x']", self), "error: no such key: x");
  EXPECT_EQ(run("self.nope", self), "error: no such key: nope");
  EXPECT_TRUE(startsWith(run("self.namespace", self),
                         "invalid: ERROR: <input>:1:6: reserved identifier: namespace"));
  EXPECT_EQ(run("has(self.a)", self), "true");
  EXPECT_EQ(run("has(self.a.c)", self), "false");
  EXPECT_EQ(run("has(self.a.b)", self), "true");
  EXPECT_EQ(run("has(self.a.b.c)", self), "error: invalid type for field selection.");
  EXPECT_TRUE(startsWith(run("has(self)"),
                         "invalid: ERROR: <input>:1:1: invalid argument to "
                         "has() macro"));
}

TEST(CelMembers, InChecksListMembershipAndMapKeys) {
  const std::string self = R"({"l":["a","b"],"m":{"k":1}})";
  EXPECT_EQ(run("'a' in self.l", self), "true");
  EXPECT_EQ(run("'z' in self.l", self), "false");
  EXPECT_EQ(run("'k' in self.m", self), "true");
  EXPECT_EQ(run("'v' in self.m", self), "false");
  EXPECT_EQ(run("2 in [1, 2]"), "true");
  EXPECT_TRUE(startsWith(run("1 in 2"), "invalid: "));
}

TEST(CelFunctions, SizeAndStringFunctions) {
  EXPECT_EQ(run("size('abc')"), "3");
  EXPECT_EQ(run("'abc'.size()"), "3");
  EXPECT_EQ(run("size([1, 2])"), "2");
  EXPECT_EQ(run("size(self)", R"({"a":1,"b":2})"), "2");
  EXPECT_EQ(run("'ami-123'.startsWith('ami-')"), "true");
  EXPECT_EQ(run("'ami-123'.endsWith('123')"), "true");
  EXPECT_EQ(run("'ami-123'.endsWith('ami-1234')"), "false");
  EXPECT_EQ(run("'ami-123'.contains('-12')"), "true");
  EXPECT_EQ(run("'ami-0a1b'.matches('^ami-[0-9a-f]+$')"), "true");
  EXPECT_EQ(run("matches('xyz', 'y')"), "true");  // a search, not a whole-string match
  EXPECT_EQ(run("'Mixed'.lowerAscii() + 'Mixed'.upperAscii()"), R"("mixedMIXED")");
  EXPECT_TRUE(startsWith(run("size(1)"),
                         "invalid: ERROR: <input>:1:5: found no matching "
                         "overload for 'size' applied to '(int)'"));
  EXPECT_TRUE(startsWith(run("'a'.startsWith(1)"),
                         "invalid: ERROR: <input>:1:15: found no matching overload for "
                         "'startsWith' applied to 'string.(int)'"));
}

TEST(CelFunctions, ConversionsBetweenScalarTypes) {
  EXPECT_EQ(run("int('42') + int(2.9) + int(3u)"), "47");
  EXPECT_EQ(run("uint(7)"), "7u");
  EXPECT_EQ(run("double(1) / 4.0"), "0.25");
  EXPECT_EQ(run("string(12) + string(true) + string(1.5) + string(3u)"), R"("12true1.53")");
  EXPECT_EQ(run("int('x')"), R"(error: strconv.ParseInt: parsing "x": invalid syntax)");
  EXPECT_EQ(run("uint(-1)"), "error: unsigned integer overflow");
}

TEST(CelMacros, AllExistsExistsOneMapAndFilter) {
  const std::string self = R"({"l":[1,2,3],"m":{"a":1,"b":2}})";
  EXPECT_EQ(run("self.l.all(x, x > 0)", self), "true");
  EXPECT_EQ(run("self.l.all(x, x > 1)", self), "false");
  EXPECT_EQ(run("self.l.exists(x, x == 2)", self), "true");
  EXPECT_EQ(run("self.l.exists_one(x, x > 1)", self), "false");
  EXPECT_EQ(run("self.l.exists_one(x, x > 2)", self), "true");
  EXPECT_EQ(run("self.l.map(x, x * 10)", self), "[10, 20, 30]");
  EXPECT_EQ(run("self.l.map(x, x > 1, x * 10)", self), "[20, 30]");
  EXPECT_EQ(run("self.l.filter(x, x != 2)", self), "[1, 3]");
  EXPECT_EQ(run("self.m.all(k, k in ['a', 'b'])", self), "true");  // maps iterate keys
  EXPECT_EQ(run("[[1], [2]].all(l, l.all(x, x > 0))"), "true");
  // all() is false when any element is false, even if another one fails.
  EXPECT_EQ(run("self.l.all(x, 2 / (x - 1) < 0)", self), "false");
  EXPECT_EQ(run("self.l.all(x, 2 / (x - 1) > 0)", self), "error: division by zero");
  EXPECT_TRUE(startsWith(run("1.all(x, true)"), "invalid: "));
  EXPECT_TRUE(startsWith(run("[1].all(1, true)"),
                         "invalid: ERROR: <input>:1:9: argument must be "
                         "a simple name"));
}

TEST(CelSchema, SelfIsTypedByTheSchema) {
  EXPECT_EQ(run("has(self.ami) != has(self.amiFilters)", R"({"ami":"ami-1"})", kSpecSchema),
            "true");
  EXPECT_EQ(run("has(self.ami) != has(self.amiFilters)",
                R"({"ami":"ami-1","amiFilters":[{"name":"n","values":["v"]}]})", kSpecSchema),
            "false");
  EXPECT_EQ(run("self.amiFilters.all(f, size(f.values) > 0)",
                R"({"amiFilters":[{"name":"n","values":["v"]}]})", kSpecSchema),
            "true");
  // number fields are doubles even when the JSON has no fraction; integer fields are ints.
  EXPECT_EQ(run("self.ratio", R"({"ratio":2})", kSpecSchema), "2.0");
  EXPECT_EQ(run("self.replicas", R"({"replicas":2})", kSpecSchema), "2");
  EXPECT_EQ(run("self.labels['app'] == 'x'", R"({"labels":{"app":"x"}})", kSpecSchema), "true");
  EXPECT_EQ(run("self.port == 80 || self.port == 'http'", R"({"port":"http"})", kSpecSchema),
            "true");
  // Escaped property names, as Kubernetes writes them.
  EXPECT_EQ(run("self.foo__dash__bar + self.__namespace__", R"({"foo-bar":"a","namespace":"b"})",
                kSpecSchema),
            R"("ab")");
}

TEST(CelSchema, CompileErrorsARealServerAlsoReports) {
  EXPECT_EQ(run("self.amiFilter == []", "{}", kSpecSchema),
            "invalid: ERROR: <input>:1:5: undefined field 'amiFilter'\n"
            " | self.amiFilter == []\n"
            " | ....^");
  EXPECT_TRUE(startsWith(run("self.replicas == 'three'", "{}", kSpecSchema),
                         "invalid: ERROR: <input>:1:15: found no matching overload for '_==_' "
                         "applied to '(int, string)'"));
  EXPECT_TRUE(startsWith(run("other == 1", "{}", kSpecSchema),
                         "invalid: ERROR: <input>:1:1: undeclared reference to 'other'"));
  EXPECT_TRUE(startsWith(run("self.all(x, true)", "{}", kSpecSchema), "invalid: "));
  EXPECT_TRUE(startsWith(run("self.ami.name", "{}", kSpecSchema),
                         "invalid: ERROR: <input>:1:9: type 'string' does not support field "
                         "selection"));
  EXPECT_TRUE(startsWith(run("[1, 'a']"),
                         "invalid: ERROR: <input>:1:5: expected type 'int' "
                         "but found 'string'"));
  EXPECT_TRUE(startsWith(run("self.ami ==", "{}", kSpecSchema),
                         "invalid: ERROR: <input>:1:12: "
                         "Syntax error"));
}

// As Kubernetes declares schemas to CEL, preserved unknown fields and untyped nodes are invisible.
TEST(CelSchema, UnknownAndUntypedContentIsNotVisible) {
  const char* schema = R"({"type":"object","properties":{
      "extra":{"type":"object","x-kubernetes-preserve-unknown-fields":true,
               "properties":{"known":{"type":"string"}}},
      "anything":{"x-kubernetes-preserve-unknown-fields":true}}})";
  EXPECT_EQ(run("self.extra.known", R"({"extra":{"known":"k","other":1}})", schema), R"("k")");
  EXPECT_TRUE(startsWith(run("has(self.extra.other)", "{}", schema),
                         "invalid: ERROR: <input>:1:15: undefined field 'other'"));
  EXPECT_TRUE(startsWith(run("has(self.anything)", "{}", schema),
                         "invalid: ERROR: <input>:1:9: undefined field 'anything'"));
}

TEST(CelSchema, ResourceRootShowsOnlyNameAndGenerateNameOfMetadata) {
  const char* schema = R"({"type":"object","properties":{"metadata":{"type":"object"},
                           "spec":{"type":"object","properties":{"x":{"type":"string"}}}}})";
  const char* object = R"({"apiVersion":"g/v1","kind":"K","metadata":{"name":"n",
                           "namespace":"ns","labels":{"a":"b"}},"spec":{"x":"y"}})";
  EXPECT_EQ(run("self.metadata.name + '/' + self.kind + '/' + self.spec.x", object, schema, true),
            R"("n/K/y")");
  EXPECT_EQ(run("has(self.metadata.generateName)", object, schema, true), "false");
  EXPECT_TRUE(startsWith(run("self.metadata.labels", object, schema, true),
                         "invalid: ERROR: <input>:1:14: undefined field 'labels'"));
}

TEST(CelUnsupported, OutsideTheSubsetIsRefusedNotSkipped) {
  EXPECT_TRUE(startsWith(run("self.x.quantity()"), "unsupported: the function quantity()"));
  EXPECT_TRUE(
      startsWith(run("duration('1h') > duration('1m')"), "unsupported: the function duration()"));
  EXPECT_TRUE(startsWith(run("{'a': 1}"), "unsupported: map literals"));
  EXPECT_TRUE(startsWith(run("self.?x"), "unsupported: optional field selection"));
  EXPECT_TRUE(startsWith(run("self.x.all(k, v, true)"), "unsupported: two-variable"));
  EXPECT_TRUE(startsWith(run("'a'.matches('(?i)a')"), "unsupported: a (? group"));
  EXPECT_TRUE(startsWith(run("self.created == ''", "{}", kSpecSchema),
                         "unsupported: values of type google.protobuf.Timestamp"));
  EXPECT_EQ(run("has(self.created)", R"({"created":"2024-01-01T00:00:00Z"})", kSpecSchema), "true");
}

TEST(CelBounds, NestingIsLimitedWhenParsing) {
  std::string deep;
  for (int i = 0; i < 200; ++i) {
    deep += "(";
  }
  deep += "1";
  for (int i = 0; i < 200; ++i) {
    deep += ")";
  }
  EXPECT_TRUE(startsWith(run(deep), "unsupported: nesting deeper than"));
  std::string chain = "1";
  for (int i = 0; i < 200; ++i) {
    chain += " + 1";
  }
  EXPECT_TRUE(startsWith(run(chain), "unsupported: nesting deeper than"));
  // Long && and || chains are balanced, as cel-go builds them, so they stay shallow.
  std::string conditions = "true";
  for (int i = 0; i < 1000; ++i) {
    conditions += i % 2 == 0 ? " && true" : " || false";
  }
  EXPECT_EQ(run(conditions), "true");
  std::string nots(5000, '!');
  EXPECT_TRUE(startsWith(run(nots + "true"), "unsupported: nesting deeper than"));
}

TEST(CelBounds, EvaluationStopsWhenTheStepBudgetRunsOut) {
  std::string list = "[";
  for (int i = 0; i < 30; ++i) {
    list += (i > 0 ? "," : "") + std::to_string(i);
  }
  list += "]";
  // 30^3 iterations exceed a small budget; the error cannot be absorbed by ||.
  Json none;
  none.Parse("{}");
  auto program = cel::Program::compile(
      "true || " + list + ".all(a, " + list + ".all(b, " + list + ".all(c, a + b + c >= 0)))",
      nullptr, false);
  ASSERT_TRUE(program.has_value());
  EXPECT_TRUE(program->evaluate(none, nullptr, 1000).is_true);  // short-circuits before the loop
  auto heavy = cel::Program::compile(
      list + ".all(a, " + list + ".all(b, " + list + ".all(c, a + b + c >= 0))) || true", nullptr,
      false);
  ASSERT_TRUE(heavy.has_value());
  cel::Evaluation e = heavy->evaluate(none, nullptr, 10000);
  EXPECT_TRUE(e.cost_exceeded);
  EXPECT_EQ(e.error, "operation cancelled: actual cost limit exceeded");
  EXPECT_TRUE(heavy->evaluate(none, nullptr, 10000000).is_true);
}

TEST(CelBounds, MatchesOnlyRunsOnShortInputs) {
  const std::string long_value = "{\"s\":\"" + std::string(2000, 'a') + "\"}";
  EXPECT_TRUE(startsWith(run("self.s.matches('^a+$')", long_value),
                         "error: fake-kube evaluates matches() only on strings of at most"));
}

TEST(CelPrograms, TransitionRulesAreRecognisedAndSeeOldSelf) {
  Json schema;
  schema.Parse(R"({"type":"string"})");
  auto program = cel::Program::compile("self == oldSelf", &schema, false);
  ASSERT_TRUE(program.has_value());
  EXPECT_TRUE(program->usesOldSelf());
  Json a;
  a.Parse(R"("a")");
  Json b;
  b.Parse(R"("b")");
  EXPECT_TRUE(program->evaluate(a, &a).is_true);
  EXPECT_FALSE(program->evaluate(a, &b).is_true);
  auto plain = cel::Program::compile("self.size() > 0", &schema, false);
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(plain->usesOldSelf());
  auto not_bool = cel::Program::compile("self + 'x'", &schema, false);
  ASSERT_FALSE(not_bool.has_value());
  EXPECT_EQ(not_bool.error().kind, cel::CompileError::Kind::ResultType);
  EXPECT_EQ(not_bool.error().message, "cel expression must evaluate to a bool");
}

TEST(CelPrograms, PropertyNamesEscapeAsKubernetesEscapesThem) {
  EXPECT_EQ(cel::escapePropertyName("foo-bar"), "foo__dash__bar");
  EXPECT_EQ(cel::escapePropertyName("a.b/c"), "a__dot__b__slash__c");
  EXPECT_EQ(cel::escapePropertyName("x__y"), "x__underscores__y");
  EXPECT_EQ(cel::escapePropertyName("if"), "__if__");
  EXPECT_EQ(cel::escapePropertyName("1abc"), "");
  EXPECT_EQ(cel::escapePropertyName("a b"), "");
}

}  // namespace
}  // namespace opsy::testing

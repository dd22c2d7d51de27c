#include "opsy/json/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "opsy/core/time_format.h"

namespace opsy::json {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// One document with a member of every kind the readers meet.
constexpr std::string_view kDoc = R"({
  "s": "text", "null": null, "i": 42, "big": 4294967296, "neg": -7, "f": 1.5, "b": false,
  "t": "2026-01-02T03:04:05Z", "bad_t": "yesterday", "empty": "", "epoch": 1767323045.5,
  "list": ["a", 1, "b", null], "map": {"k": "v", "x": 1, "k2": "w", "k": "second"},
  "obj": {"inner": "yes"}
})";

Document parsed(std::string_view text) {
  Result<Document> doc = parse(text, "test");
  EXPECT_TRUE(doc.has_value()) << doc.error().message;
  return doc ? std::move(*doc) : Document();
}

TimePoint at(std::string_view rfc3339) {
  return *parseRfc3339(rfc3339);
}

// ---- Parsing ---------------------------------------------------------------------------------

// A parse error names what was parsed, where and why, as InvalidArgument.
TEST(JsonParse, ErrorNamesWhatAndOffset) {
  Result<Document> doc = parseObject(R"({"a":)", "job");
  ASSERT_FALSE(doc.has_value());
  EXPECT_EQ(doc.error().code, ErrorCode::InvalidArgument);
  EXPECT_THAT(doc.error().message, HasSubstr("job: invalid JSON at offset 5"));
}

// parseObject refuses valid JSON that is not an object; parse takes any value.
TEST(JsonParse, ObjectRequiredOnlyByParseObject) {
  Result<Document> arr = parseObject("[1]", "list");
  ASSERT_FALSE(arr.has_value());
  EXPECT_EQ(arr.error().message, "list: expected a JSON object");
  EXPECT_TRUE(parse("[1]", "list").has_value());
  EXPECT_TRUE(parse("null", "nothing").has_value());
}

// ---- Lenient readers -------------------------------------------------------------------------

// member() finds a null member (it is there), but nothing in a non-object or under a missing key.
TEST(JsonMember, NullIsPresentMissingIsNot) {
  Document doc = parsed(kDoc);
  ASSERT_NE(member(doc, "null"), nullptr);
  EXPECT_TRUE(member(doc, "null")->IsNull());
  EXPECT_EQ(member(doc, "absent"), nullptr);
  EXPECT_EQ(member(*member(doc, "s"), "s"), nullptr);
}

// Every lenient reader reads a missing, null or wrongly typed member as absent.
TEST(JsonLenientReaders, MissingNullAndWrongTypeReadAsAbsent) {
  Document doc = parsed(kDoc);
  for (const char* key : {"absent", "null", "obj"}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(stringOr(doc, key), "");
    EXPECT_EQ(stringOr(doc, key, "fallback"), "fallback");
    EXPECT_EQ(optString(doc, key), std::nullopt);
    EXPECT_EQ(optInt(doc, key), std::nullopt);
    EXPECT_EQ(optInt64(doc, key), std::nullopt);
    EXPECT_EQ(optNumber(doc, key), std::nullopt);
    EXPECT_EQ(optBool(doc, key), std::nullopt);
    EXPECT_EQ(optTime(doc, key), std::nullopt);
    EXPECT_EQ(optEpochSeconds(doc, key), std::nullopt);
    EXPECT_TRUE(strings(doc, key).empty());
  }
  EXPECT_TRUE(stringMap(doc, "list").empty());
  EXPECT_EQ(optString(doc, "i"), std::nullopt);
  EXPECT_EQ(optInt(doc, "s"), std::nullopt);
  EXPECT_EQ(optBool(doc, "i"), std::nullopt);
  EXPECT_EQ(optTime(doc, "i"), std::nullopt);
  EXPECT_EQ(optEpochSeconds(doc, "s"), std::nullopt);
}

// Present members of the right type read as their values.
TEST(JsonLenientReaders, PresentValuesRead) {
  Document doc = parsed(kDoc);
  EXPECT_EQ(stringOr(doc, "s", "fallback"), "text");
  EXPECT_EQ(optString(doc, "empty"), std::optional<std::string>(""));
  EXPECT_EQ(optInt(doc, "neg"), -7);
  EXPECT_EQ(optInt64(doc, "i"), 42);
  EXPECT_EQ(optNumber(doc, "f"), 1.5);
  EXPECT_EQ(optNumber(doc, "i"), 42.0);
  EXPECT_EQ(optBool(doc, "b"), false);
  EXPECT_EQ(optTime(doc, "t"), at("2026-01-02T03:04:05Z"));
  EXPECT_EQ(optEpochSeconds(doc, "epoch"), fromEpochSeconds(1767323045.5));
  EXPECT_EQ(member(doc, "obj")->IsObject(), true);
  EXPECT_EQ(stringOr(*member(doc, "obj"), "inner"), "yes");
}

// optInt is for 32-bit fields: a larger integer reads as absent there, but optInt64 reads it.
TEST(JsonLenientReaders, IntWidthIsExplicit) {
  Document doc = parsed(kDoc);
  EXPECT_EQ(optInt(doc, "big"), std::nullopt);
  EXPECT_EQ(optInt64(doc, "big"), 4294967296);
  EXPECT_EQ(optInt(doc, "f"), std::nullopt);
  EXPECT_EQ(optInt64(doc, "f"), std::nullopt);
}

// An empty or unparseable timestamp reads as no time rather than an error.
TEST(JsonLenientReaders, UnreadableTimeIsAbsent) {
  Document doc = parsed(kDoc);
  EXPECT_EQ(optTime(doc, "empty"), std::nullopt);
  EXPECT_EQ(optTime(doc, "bad_t"), std::nullopt);
}

// strings() and stringMap() keep the string entries and skip the rest; the first of two equal
// keys wins, as member() would find it.
TEST(JsonLenientReaders, CollectionsKeepOnlyStrings) {
  Document doc = parsed(kDoc);
  EXPECT_THAT(strings(doc, "list"), ElementsAre("a", "b"));
  EXPECT_THAT(stringMap(doc, "map"), UnorderedElementsAre(Pair("k", "v"), Pair("k2", "w")));
}

// ---- Strict reader ---------------------------------------------------------------------------

// For user input, null means "not set" for every Fields reader.
TEST(JsonFields, NullCountsAsMissing) {
  Document doc = parsed(kDoc);
  Fields f(doc, "spec");
  EXPECT_EQ(f.get("null"), nullptr);
  EXPECT_EQ(*f.optString("null"), std::nullopt);
  EXPECT_EQ(*f.string("null"), "");
  EXPECT_EQ(*f.optBool("null"), std::nullopt);
  EXPECT_EQ(*f.boolOr("null", true), true);
  EXPECT_EQ(*f.optInt("null", 0, 10), std::nullopt);
  EXPECT_EQ(*f.optDuration("null"), std::nullopt);
  EXPECT_EQ(*f.durationOr("null", std::chrono::minutes(5)), std::chrono::minutes(5));
  EXPECT_TRUE(f.strings("null")->empty());
  EXPECT_TRUE(f.stringMap("null")->empty());
  EXPECT_FALSE(f.object("null")->has_value());
  EXPECT_TRUE(f.objects("null")->empty());
  EXPECT_FALSE(f.requiredString("null").has_value());
}

struct WrongTypeCase {
  const char* name;
  std::function<Status(const Fields&)> read;
  const char* message;
};

class JsonFieldsWrongType : public ::testing::TestWithParam<WrongTypeCase> {};

// A wrongly typed member is an InvalidArgument error naming the field path and what was found.
TEST_P(JsonFieldsWrongType, NamesPathAndFoundType) {
  Document doc = parsed(kDoc);
  Status s = GetParam().read(Fields(doc, "spec"));
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(s.error().message, GetParam().message);
}

template <class T>
Status status(const Result<T>& r) {
  if (!r) {
    return tl::unexpected(r.error());
  }
  return ok();
}

INSTANTIATE_TEST_SUITE_P(
    Table, JsonFieldsWrongType,
    ::testing::Values(
        WrongTypeCase{"String", [](const Fields& f) { return status(f.optString("i")); },
                      "spec.i: must be a string, not an integer"},
        WrongTypeCase{"Bool", [](const Fields& f) { return status(f.boolOr("s", false)); },
                      "spec.s: must be a boolean, not a string"},
        WrongTypeCase{"Int", [](const Fields& f) { return status(f.optInt("f", 0, 10)); },
                      "spec.f: must be an integer, not a number"},
        WrongTypeCase{"IntRange", [](const Fields& f) { return status(f.optInt("i", 1, 10)); },
                      "spec.i: 42 is outside 1..10"},
        WrongTypeCase{"Strings", [](const Fields& f) { return status(f.strings("obj")); },
                      "spec.obj: must be a list of strings, not an object"},
        WrongTypeCase{"StringsItem", [](const Fields& f) { return status(f.strings("list")); },
                      "spec.list[1]: must be a string, not an integer"},
        WrongTypeCase{"StringMap", [](const Fields& f) { return status(f.stringMap("list")); },
                      "spec.list: must be an object of strings, not a list"},
        WrongTypeCase{"StringMapItem", [](const Fields& f) { return status(f.stringMap("map")); },
                      "spec.map[x]: must be a string, not an integer"},
        WrongTypeCase{"Object", [](const Fields& f) { return status(f.object("s")); },
                      "spec.s: must be an object, not a string"},
        WrongTypeCase{"Objects", [](const Fields& f) { return status(f.objects("obj")); },
                      "spec.obj: must be a list of objects, not an object"},
        WrongTypeCase{"ObjectsItem", [](const Fields& f) { return status(f.objects("list")); },
                      "spec.list[0]: must be an object, not a string"},
        WrongTypeCase{"Required", [](const Fields& f) { return status(f.requiredString("empty")); },
                      "spec.empty: is required"},
        WrongTypeCase{"RequiredMissing",
                      [](const Fields& f) { return status(f.requiredString("absent")); },
                      "spec.absent: is required"}),
    [](const ::testing::TestParamInfo<WrongTypeCase>& p) { return std::string(p.param.name); });

// Present values of the right type read as their values, and nested objects carry their path.
TEST(JsonFields, PresentValuesReadWithNestedPaths) {
  Document doc = parsed(R"({"name":"n","on":true,"count":3,"ttl":"90s","args":["a","b"],
      "vars":{"k":"v"},"inner":{"deep":{"x":1}},"items":[{"a":"1"},{"a":"2"}]})");
  Fields f(doc, "spec");
  EXPECT_EQ(*f.requiredString("name"), "n");
  EXPECT_EQ(*f.optBool("on"), true);
  EXPECT_EQ(*f.optInt("count", 1, 5), 3);
  EXPECT_EQ(*f.optDuration("ttl"), std::chrono::seconds(90));
  EXPECT_EQ(*f.durationOr("ttl", std::chrono::hours(1)), std::chrono::seconds(90));
  EXPECT_THAT(*f.strings("args"), ElementsAre("a", "b"));
  EXPECT_THAT(*f.stringMap("vars"), ElementsAre(Pair("k", "v")));
  Result<std::optional<Fields>> inner = f.object("inner");
  ASSERT_TRUE(inner.has_value() && inner->has_value());
  EXPECT_EQ((*inner)->path("deep"), "spec.inner.deep");
  Result<std::optional<Fields>> deep = (*inner)->object("deep");
  Status s = status((*deep)->optString("x"));
  EXPECT_THAT(s.error().message, HasSubstr("spec.inner.deep.x: must be a string"));
  Result<std::vector<Fields>> items = f.objects("items");
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[1].path(), "spec.items[1]");
  EXPECT_EQ(*(*items)[1].string("a"), "2");
}

// The two duration readers differ only on "": optDuration refuses it (it is no duration),
// durationOr takes it as unset; both refuse text that is not a duration and name the field.
TEST(JsonFields, EmptyDurationIsExplicitPerReader) {
  Document doc = parsed(R"({"empty":"","bad":"48x"})");
  Fields f(doc, "spec.timeOuts");
  Result<std::optional<Duration>> strict = f.optDuration("empty");
  ASSERT_FALSE(strict.has_value());
  EXPECT_THAT(strict.error().message, HasSubstr("spec.timeOuts.empty: "));
  EXPECT_EQ(*f.durationOr("empty", std::chrono::hours(2)), std::chrono::hours(2));
  Result<Duration> bad = f.durationOr("bad", std::chrono::hours(2));
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message, HasSubstr("spec.timeOuts.bad: "));
}

// ---- DOM writers -----------------------------------------------------------------------------

// What the setters write reads back unchanged through the readers.
TEST(JsonWriters, SettersRoundTrip) {
  Document doc(rapidjson::kObjectType);
  Alloc& a = doc.GetAllocator();
  const TimePoint t = at("2026-01-02T03:04:05Z") + std::chrono::microseconds(123456);
  setString(doc, "s", std::string_view("quote\" and nul\0 end", 19), a);
  setInt(doc, "i", -5'000'000'000, a);
  setOptInt(doc, "oi", 7, a);
  setOptBool(doc, "b", true, a);
  setOptTime(doc, "t", t, a);
  setOptMicroTime(doc, "mt", t, a);
  setStringMap(doc, "m", {{"a", "1"}, {"b", "2"}}, a);
  setMember(doc, "l", jsonStrings({"x", "y"}, a), a);
  Document back = parsed(writeJson(doc));
  EXPECT_EQ(optString(back, "s"), std::string("quote\" and nul\0 end", 19));
  EXPECT_EQ(optInt64(back, "i"), -5'000'000'000);
  EXPECT_EQ(optInt(back, "oi"), 7);
  EXPECT_EQ(optBool(back, "b"), true);
  EXPECT_EQ(optTime(back, "t"), std::chrono::floor<std::chrono::seconds>(t));
  EXPECT_EQ(stringOr(back, "mt"), "2026-01-02T03:04:05.123456Z");
  EXPECT_EQ(optTime(back, "mt"), t);
  EXPECT_THAT(stringMap(back, "m"), ElementsAre(Pair("a", "1"), Pair("b", "2")));
  EXPECT_THAT(strings(back, "l"), ElementsAre("x", "y"));
}

// Setting a member replaces it in place; unknown members and the order of the rest survive, and
// an unset optional value removes its member without reordering the others.
TEST(JsonWriters, SettersKeepOrderAndUnknownMembers) {
  Document doc = parsed(R"({"a":1,"unknown":{"x":[1,{"y":null}]},"b":"old","c":true,"d":"z"})");
  Alloc& a = doc.GetAllocator();
  setString(doc, "b", "new", a);
  setOptInt(doc, "a", 2, a);
  setOptString(doc, "e", "appended", a);
  EXPECT_EQ(writeJson(doc),
            R"({"a":2,"unknown":{"x":[1,{"y":null}]},"b":"new","c":true,"d":"z","e":"appended"})");
  setOptBool(doc, "c", std::nullopt, a);
  setOptString(doc, "a", "", a);
  setOptTime(doc, "absent", std::nullopt, a);
  setStringMap(doc, "d", {}, a);
  EXPECT_EQ(writeJson(doc), R"({"unknown":{"x":[1,{"y":null}]},"b":"new","e":"appended"})");
}

// objectMember() returns an existing object as it is, and replaces a non-object with {}.
TEST(JsonWriters, ObjectMemberCreatesOrReuses) {
  Document doc = parsed(R"({"meta":{"keep":1},"spec":"text"})");
  Alloc& a = doc.GetAllocator();
  setString(objectMember(doc, "meta", a), "name", "n", a);
  setString(objectMember(doc, "spec", a), "x", "y", a);
  setString(objectMember(doc, "status", a), "phase", "Ready", a);
  EXPECT_EQ(writeJson(doc),
            R"({"meta":{"keep":1,"name":"n"},"spec":{"x":"y"},"status":{"phase":"Ready"}})");
}

// ---- SAX writers -----------------------------------------------------------------------------

// An empty string or no time is written as null, so a merge patch clears the field.
TEST(JsonSaxWriters, EmptyWritesNullForMergePatch) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  writeString(w, "k", "v");
  writeStringOrNull(w, "set", "x");
  writeStringOrNull(w, "cleared", "");
  writeTimeOrNull(w, "t", at("2026-01-02T03:04:05Z"));
  writeTimeOrNull(w, "no_t", std::nullopt);
  writeKey(w, "list");
  w.StartArray();
  writeString(w, std::string_view("a\0b", 3));
  w.EndArray();
  w.EndObject();
  EXPECT_EQ(std::string(buf.GetString()),
            R"({"k":"v","set":"x","cleared":null,"t":"2026-01-02T03:04:05Z","no_t":null,)"
            R"("list":["a\u0000b"]})");
}

}  // namespace
}  // namespace opsy::json

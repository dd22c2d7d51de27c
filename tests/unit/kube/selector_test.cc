// Label selectors parsed and matched the way the API server does, so a list answered from the
// cache selects exactly what the server would.
#include "opsy/kube/selector.h"

#include <gtest/gtest.h>

namespace opsy::kube {
namespace {

using Labels = std::map<std::string, std::string>;

// Each operator matches as on the server; `!=` and `notin` also match objects without the label.
TEST(LabelSelector, OperatorsMatchLikeTheServer) {
  struct Case {
    std::string selector;
    Labels labels;
    bool want;
  } cases[] = {
      {"", {}, true},
      {"app=web", {{"app", "web"}}, true},
      {"app=web", {{"app", "db"}}, false},
      {"app=web", {}, false},
      {"app==web", {{"app", "web"}}, true},
      {"app!=web", {{"app", "db"}}, true},
      {"app!=web", {}, true},
      {"app!=web", {{"app", "web"}}, false},
      {"tier in (a,b)", {{"tier", "b"}}, true},
      {"tier in (a,b)", {{"tier", "c"}}, false},
      {"tier in (a,b)", {}, false},
      {"tier notin (a,b)", {{"tier", "c"}}, true},
      {"tier notin (a,b)", {}, true},
      {"tier notin (a,b)", {{"tier", "a"}}, false},
      {"legacy", {{"legacy", ""}}, true},
      {"legacy", {}, false},
      {"!legacy", {}, true},
      {"!legacy", {{"legacy", "yes"}}, false},
      {"gen>3", {{"gen", "4"}}, true},
      {"gen>3", {{"gen", "3"}}, false},
      {"gen<3", {{"gen", "x"}}, false},
      {"app=", {{"app", ""}}, true},
      {"app=", {{"app", "web"}}, false},
      {"app=web, tier in (a, b),!legacy", {{"app", "web"}, {"tier", "a"}}, true},
      {"app=web,tier in (a,b),!legacy", {{"app", "web"}, {"tier", "a"}, {"legacy", "1"}}, false},
      {"ami.refresh.ops/builder-uid=u-1", {{"ami.refresh.ops/builder-uid", "u-1"}}, true},
      {"job-name=build-1", {{"job-name", "build-1"}, {"x", "y"}}, true},
  };
  for (const auto& c : cases) {
    auto s = LabelSelector::parse(c.selector);
    ASSERT_TRUE(s.has_value()) << c.selector << ": " << s.error().toString();
    EXPECT_EQ(s->matches(c.labels), c.want) << c.selector;
  }
}

// Text the server refuses does not parse either, with InvalidArgument.
TEST(LabelSelector, MalformedSelectorsAreInvalidArgument) {
  for (const char* text : {"=web", "app=web,", "app in a,b", "app in (a", "a b", "!", "app=we b",
                           "-bad=x", "app=-x-", "gen>x", "a=b=c", "Bad.Prefix/k=v"}) {
    auto s = LabelSelector::parse(text);
    ASSERT_FALSE(s.has_value()) << text;
    EXPECT_EQ(s.error().code, ErrorCode::InvalidArgument) << text;
  }
}

// Empty positions in a set are the empty value, and "()" is the set {""}, as on the server.
TEST(LabelSelector, EmptySetPositionsAreTheEmptyValue) {
  auto s = LabelSelector::parse("app in ()");
  ASSERT_TRUE(s.has_value()) << s.error().toString();
  EXPECT_TRUE(s->matches({{"app", ""}}));
  EXPECT_FALSE(s->matches({{"app", "x"}}));
  auto t = LabelSelector::parse("app in (x,)");
  ASSERT_TRUE(t.has_value()) << t.error().toString();
  EXPECT_TRUE(t->matches({{"app", ""}}));
  EXPECT_TRUE(t->matches({{"app", "x"}}));
}

// The keywords are ordinary words where a key or value belongs.
TEST(LabelSelector, KeywordsAreValuesInValuePosition) {
  auto s = LabelSelector::parse("in=notin");
  ASSERT_TRUE(s.has_value()) << s.error().toString();
  EXPECT_TRUE(s->matches({{"in", "notin"}}));
}

// A request that repeats a filtered informer's requirements is answerable from that informer.
TEST(LabelSelector, ImpliesWhenItHasEveryRequirement) {
  auto informer = *LabelSelector::parse("app.kubernetes.io/managed-by=opsy");
  auto narrower = *LabelSelector::parse("app.kubernetes.io/managed-by=opsy,job-name=x");
  auto other = *LabelSelector::parse("job-name=x");
  EXPECT_TRUE(narrower.implies(informer));
  EXPECT_FALSE(other.implies(informer));
  EXPECT_TRUE(other.implies(LabelSelector()));
  EXPECT_TRUE((*LabelSelector::parse("t in (b,a)")).implies(*LabelSelector::parse("t in (a,b)")));
}

// `k=v` and `k in (v)` pin the value an index lookup can start from; other operators do not.
TEST(LabelSelector, RequiredValueComesFromEqualities) {
  auto s = *LabelSelector::parse("a=1,b in (2),c in (3,4),d!=5");
  EXPECT_EQ(s.requiredValue("a"), "1");
  EXPECT_EQ(s.requiredValue("b"), "2");
  EXPECT_EQ(s.requiredValue("c"), std::nullopt);
  EXPECT_EQ(s.requiredValue("d"), std::nullopt);
  EXPECT_EQ(s.requiredValue("e"), std::nullopt);
}

}  // namespace
}  // namespace opsy::kube

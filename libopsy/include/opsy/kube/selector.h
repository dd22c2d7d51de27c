// File: selector.h
//
// Label selectors evaluated in-process, with the API server's grammar and meaning
// (k8s.io/apimachinery labels.Parse): `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`,
// `!k`, `k>n` and `k<n`, joined by commas. `!=` and `notin` also match objects without the label,
// as on the server. The cache-backed reader uses it to answer label-selected lists locally.
//
//   OPSY_ASSIGN_OR_RETURN(LabelSelector s, LabelSelector::parse("app=web,tier in (a,b),!legacy"));
//   bool hit = s.matches(obj.metadata.labels);
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/result.h"

namespace opsy::kube {

class LabelSelector {
 public:
  enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist, GreaterThan, LessThan };
  struct Requirement {
    std::string key;
    Op op = Op::Exists;
    // One value for Equals/NotEquals/GreaterThan/LessThan, one or more for In/NotIn.
    std::vector<std::string> values;

    bool operator==(const Requirement&) const = default;
  };

  // Selects everything.
  LabelSelector() = default;

  // Parses selector text; empty text selects everything. InvalidArgument names what is wrong.
  [[nodiscard]] static Result<LabelSelector> parse(std::string_view text);

  bool matches(const std::map<std::string, std::string>& labels) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  // True when every requirement of `other` is one of this selector's, so whatever this selects,
  // `other` selects too.
  bool implies(const LabelSelector& other) const;
  // The value label `key` must have (a `key=v` or `key in (v)` requirement), if any: what an index
  // lookup can start from.
  std::optional<std::string> requiredValue(std::string_view key) const;

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace opsy::kube

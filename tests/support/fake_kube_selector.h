// File: fake_kube_selector.h
//
// Label and field selectors as the fake Kubernetes API server evaluates them (internal). Label
// selectors support =, ==, !=, in, notin, exists (`key`) and !exists (`!key`); field selectors
// support metadata.name and metadata.namespace with =, == and !=.
//
//   auto selector = Selector::parse("app=web,tier in (a,b),!legacy", false).value();
#pragma once

#include <string>
#include <vector>

#include "opsy/core/result.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {

class Selector {
 public:
  // An empty text selects everything. Field selectors accept only metadata.name/namespace.
  [[nodiscard]] static Result<Selector> parse(std::string_view text, bool field_selector);
  bool matches(const JsonValue& object) const;
  bool empty() const { return requirements_.empty(); }

 private:
  enum class Op { Equals, NotEquals, In, NotIn, Exists, NotExists };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements_;
  bool field_ = false;
};

}  // namespace opsy::testing

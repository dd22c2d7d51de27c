// File: fake_kube_selector.h
//
// Label and field selectors as the fake Kubernetes API server evaluates them (internal). Label
// selectors support =, ==, !=, in, notin, exists (`key`) and !exists (`!key`); field selectors
// support metadata.name, metadata.namespace and the resource's own field labels (fieldLabels(),
// e.g. involvedObject.name for Events, status.phase for Pods) with =, == and !=.
//
//   auto selector = Selector::parse("app=web,tier in (a,b),!legacy", false).value();
#pragma once

#include <map>
#include <string>
#include <vector>

#include "opsy/core/result.h"
#include "support/fake_kube_json.h"

namespace opsy::testing {

class Selector {
 public:
  // An empty text selects everything. Field selectors accept metadata.name/namespace and the
  // labels in `field_labels` (a map from the label to the dotted path it reads in the object).
  [[nodiscard]] static Result<Selector> parse(
      std::string_view text, bool field_selector,
      const std::map<std::string, std::string>& field_labels = {});
  bool matches(const JsonValue& object) const;
  bool empty() const { return requirements_.empty(); }

  // The field labels a resource supports besides metadata.name/namespace, as the real server
  // registers them ("events.k8s.io" events use their own names for the same fields).
  static std::map<std::string, std::string> fieldLabels(const std::string& group,
                                                        const std::string& plural);

 private:
  enum class Op { Equals, NotEquals, In, NotIn, Exists, NotExists };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
    std::string path = {};  // field selectors: dotted path read from the object
  };
  std::vector<Requirement> requirements_;
  bool field_ = false;
};

}  // namespace opsy::testing

// File: types.h
//
// Value types shared by more than one AWS client: tags, EC2-style filters and launch template
// references (EC2, EKS and Auto Scaling all name a template by id or name plus a version).
//
//   aws::LaunchTemplateSpec lt{.id = "lt-0abc", .version = "5"};
#pragma once

#include <map>
#include <string>
#include <vector>

namespace opsy::aws {

using Tags = std::map<std::string, std::string>;

// A filter: name ("name", "owner-id", "tag:status", "tag-key") and values ('*' wildcards in EC2).
struct Filter {
  std::string name;
  std::vector<std::string> values;
};

// A launch template by id (preferred) or name, and a version ("5", "$Latest", "$Default").
struct LaunchTemplateSpec {
  std::string id;
  std::string name;
  std::string version;
};

}  // namespace opsy::aws

#include "opsy/aws/environment.h"

#include <strings.h>

#include <cstdlib>

namespace opsy::aws {

EnvLookup processEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

EnvLookup mapEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

std::optional<std::string> nonEmpty(const EnvLookup& env, std::string_view name) {
  std::optional<std::string> v = env(name);
  if (!v || v->empty()) {
    return std::nullopt;
  }
  return v;
}

bool envFlag(const EnvLookup& env, std::string_view name) {
  std::optional<std::string> v = env(name);
  if (!v) {
    return false;
  }
  return strcasecmp(v->c_str(), "true") == 0 || *v == "1" || strcasecmp(v->c_str(), "yes") == 0;
}

}  // namespace opsy::aws

// File: environment.h
//
// Environment lookup as a dependency: credential providers and endpoint resolution read AWS_*
// variables through an EnvLookup, so tests pass a map instead of mutating the process environment.
//
//   aws::EnvLookup env = aws::mapEnv({{"AWS_REGION", "eu-west-1"}});
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace opsy::aws {

// Returns the variable's value, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Reads the real process environment.
EnvLookup processEnv();
// Reads a fixed map (tests, or configuration assembled from flags).
EnvLookup mapEnv(std::map<std::string, std::string> values);

// The value when set and non-empty, else nullopt.
std::optional<std::string> nonEmpty(const EnvLookup& env, std::string_view name);
// True for "true"/"1"/"yes" in any case.
bool envFlag(const EnvLookup& env, std::string_view name);

}  // namespace opsy::aws

// File: flags.h
//
// A small command-line parser for the controllers: `--name=value` or `--name value`, boolean
// `--name` / `--name=false`, repeatable list flags, and an environment-variable fallback per flag
// (command line beats environment beats default). `--help` and `--version` print and ask the
// caller to exit 0. Errors name the flag and say what was wrong.
//
//   FlagSet flags("ami-refresh-controller", kVersion, "Rolls EKS node groups onto fresh AMIs.");
//   flags.addString("metrics-bind-address", &opts.metrics, "Serves /metrics.", "OPSY_METRICS");
//   OPSY_ASSIGN_OR_RETURN(FlagSet::Outcome outcome, flags.parse(argc, argv));
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/core/result.h"

namespace opsy {

class FlagSet {
 public:
  enum class Outcome { Run, HelpShown, VersionShown };
  using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

  FlagSet(std::string program, std::string version, std::string summary);

  void addString(std::string name, std::string* target, std::string help, std::string env = "");
  void addInt(std::string name, int* target, std::string help, std::string env = "");
  void addBool(std::string name, bool* target, std::string help, std::string env = "");
  void addDuration(std::string name, Duration* target, std::string help, std::string env = "");
  // Repeatable: each occurrence appends; the environment value is comma-separated.
  void addStringList(std::string name, std::vector<std::string>* target, std::string help,
                     std::string env = "");

  // Parses argv (argv[0] is skipped). Help and version text go to `out` (stdout by default).
  [[nodiscard]] Result<Outcome> parse(int argc, const char* const* argv);
  [[nodiscard]] Result<Outcome> parse(const std::vector<std::string>& args, const EnvLookup& env,
                                      std::string* out);

  std::string usage() const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  enum class Kind { StringValue, IntValue, BoolValue, DurationValue, ListValue };
  struct Flag {
    std::string name;
    Kind kind;
    void* target;
    std::string help;
    std::string env;
    std::string default_text;
  };
  void add(std::string name, Kind kind, void* target, std::string help, std::string env);
  Flag* find(std::string_view name);
  [[nodiscard]] Status assign(Flag& flag, std::string_view value, bool from_env);

  std::string program_;
  std::string version_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
};

}  // namespace opsy

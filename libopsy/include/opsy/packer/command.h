// File: command.h
//
// Turns a PackerBuilder's `builder.commands` into the Packer invocations a build Job runs. Each
// step is a plain argv (no shell ever sees a spec value), so shell metacharacters in any field
// reach Packer as literal text; the `display` string quotes every argument the way a POSIX shell
// would, for status.command and for humans to copy.
//
// Rules (the seeds'): steps run init, validate, build, in that order, and missing ones are added;
// without commands the plan is `packer init . && packer validate . && packer build -color=false .`.
// With base filters, `-var ami_id=<base>` and `-var region=<region>` go to validate and build.
// Variables are sorted; `debug` sets PACKER_LOG=1 (Packer's own -debug waits for key presses).
//
//   OPSY_ASSIGN_OR_RETURN(packer::Plan plan, packer::planCommands(inputs));
//   status.command = plan.display;
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "opsy/core/result.h"

namespace opsy::packer {

// One entry of spec.builder.commands.
struct CommandSpec {
  std::string sub_command;  // init | validate | build
  std::vector<std::string> args;
  std::optional<bool> color;
  bool debug = false;
  std::string on_error;  // cleanup | abort | run-cleanup-provisioner (build only)
  std::map<std::string, std::string> variables;
  std::string variables_file;
  std::string working_dir;  // path argument, relative to builder.dir; default "."
};

struct PlanInputs {
  std::vector<CommandSpec> commands;
  // Set when the builder has amiFilters: the base image and region handed to the project.
  std::optional<std::string> base_ami;
  std::string region;
};

struct Step {
  std::string sub_command;
  std::vector<std::string> argv;  // argv[0] == "packer"
  bool debug = false;
};

struct Plan {
  std::vector<Step> steps;  // init, validate, build
  std::string display;      // steps joined with " && ", every argument shell-quoted
};

// Validates the commands and builds the plan. Errors name the field, e.g.
// `spec.builder.commands[1].onError: unsupported value "ask" ...`.
[[nodiscard]] Result<Plan> planCommands(const PlanInputs& inputs);

// Quotes `word` for a POSIX shell when it contains anything but [A-Za-z0-9_@%+=:,./-].
std::string shellQuote(std::string_view word);

}  // namespace opsy::packer

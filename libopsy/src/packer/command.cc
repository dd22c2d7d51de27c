#include "opsy/packer/command.h"

#include <fmt/format.h>

#include <array>

namespace opsy::packer {
namespace {

constexpr std::array<std::string_view, 3> kOrder = {"init", "validate", "build"};
constexpr std::array<std::string_view, 3> kOnError = {"cleanup", "abort",
                                                      "run-cleanup-provisioner"};

tl::unexpected<Error> invalid(size_t index, std::string_view field, std::string message) {
  return fail(ErrorCode::InvalidArgument, fmt::format("spec.builder.commands[{}]{}{}: {}", index,
                                                      field.empty() ? "" : ".", field, message));
}

bool isIdentifier(std::string_view name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return false;
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

// Arguments that would make Packer wait for a terminal that a Job does not have.
Status checkArg(size_t index, size_t arg_index, std::string_view arg) {
  std::string_view flag = arg;
  while (!flag.empty() && flag.front() == '-') {
    flag.remove_prefix(1);
  }
  if (arg.size() > flag.size() && (flag == "debug" || flag.rfind("debug=", 0) == 0)) {
    return invalid(index, fmt::format("args[{}]", arg_index),
                   "-debug makes Packer wait for key presses, which would hang the Job; set "
                   "debug: true for verbose logs instead");
  }
  if (arg.size() > flag.size() && flag.rfind("on-error=ask", 0) == 0) {
    return invalid(index, fmt::format("args[{}]", arg_index),
                   "-on-error=ask would hang the Job waiting for an answer; use onError");
  }
  return ok();
}

void appendVariables(std::vector<std::string>& argv, const std::map<std::string, std::string>& vars,
                     const std::string& file) {
  for (const auto& [name, value] : vars) {
    argv.emplace_back("-var");
    argv.push_back(name + "=" + value);
  }
  if (!file.empty()) {
    argv.push_back("-var-file=" + file);
  }
}

}  // namespace

std::string shellQuote(std::string_view word) {
  bool safe = !word.empty();
  for (char c : word) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) ||
          std::string_view("_@%+=:,./-").find(c) != std::string_view::npos)) {
      safe = false;
      break;
    }
  }
  if (safe) {
    return std::string(word);
  }
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

Result<Plan> planCommands(const PlanInputs& inputs) {
  // Pick each sub-command's spec (at most one each), validating as we go.
  std::array<std::optional<CommandSpec>, 3> chosen;
  for (size_t i = 0; i < inputs.commands.size(); ++i) {
    const CommandSpec& c = inputs.commands[i];
    size_t slot = kOrder.size();
    for (size_t k = 0; k < kOrder.size(); ++k) {
      if (c.sub_command == kOrder[k]) {
        slot = k;
      }
    }
    if (slot == kOrder.size()) {
      return invalid(i, "subCommand",
                     fmt::format("unsupported value \"{}\": supported values: \"init\", "
                                 "\"validate\", \"build\"",
                                 c.sub_command));
    }
    if (chosen[slot].has_value()) {
      return invalid(i, "subCommand",
                     fmt::format("a second \"{}\" command; give each sub-command at most once",
                                 c.sub_command));
    }
    if (!c.on_error.empty()) {
      bool known = false;
      for (std::string_view v : kOnError) {
        known = known || v == c.on_error;
      }
      if (!known) {
        return invalid(i, "onError",
                       fmt::format("unsupported value \"{}\": supported values: \"cleanup\", "
                                   "\"abort\", \"run-cleanup-provisioner\"",
                                   c.on_error));
      }
      if (c.sub_command != "build") {
        return invalid(i, "onError", "only a build command takes onError");
      }
    }
    for (const auto& [name, value] : c.variables) {
      if (!isIdentifier(name)) {
        return invalid(i, fmt::format("variables[{}]", name),
                       "a Packer variable name starts with a letter or _ and holds only letters, "
                       "digits, _ and -");
      }
    }
    for (size_t a = 0; a < c.args.size(); ++a) {
      OPSY_RETURN_IF_ERROR(checkArg(i, a, c.args[a]));
    }
    chosen[slot] = c;
  }
  for (size_t k = 0; k < kOrder.size(); ++k) {
    if (!chosen[k].has_value()) {
      chosen[k] = CommandSpec{.sub_command = std::string(kOrder[k])};
    }
  }

  // Variables the project receives from the controller win over the spec's: the build must use
  // the base image that was found, whatever the spec says.
  std::map<std::string, std::string> injected;
  if (inputs.base_ami.has_value()) {
    injected["ami_id"] = *inputs.base_ami;
    injected["region"] = inputs.region;
  }
  const CommandSpec& build = *chosen[2];

  Plan plan;
  for (size_t k = 0; k < kOrder.size(); ++k) {
    const CommandSpec& c = *chosen[k];
    Step step{.sub_command = c.sub_command, .argv = {"packer", c.sub_command}, .debug = c.debug};
    step.argv.insert(step.argv.end(), c.args.begin(), c.args.end());
    if (c.sub_command == "validate" || c.sub_command == "build") {
      // validate checks what build will run, so it gets build's variables too.
      std::map<std::string, std::string> vars = build.variables;
      for (const auto& [name, value] : c.variables) {
        vars[name] = value;
      }
      for (const auto& [name, value] : injected) {
        vars[name] = value;
      }
      std::string file = c.variables_file.empty() ? build.variables_file : c.variables_file;
      appendVariables(step.argv, vars, file);
    }
    if (c.sub_command == "build") {
      if (!c.on_error.empty()) {
        step.argv.push_back("-on-error=" + c.on_error);
      }
      if (!c.color.value_or(false)) {
        step.argv.emplace_back("-color=false");
      }
      // The artifact line of the machine-readable output is how the built image is found.
      step.argv.emplace_back("-machine-readable");
    }
    step.argv.push_back(c.working_dir.empty() ? "." : c.working_dir);
    plan.steps.push_back(std::move(step));
  }
  for (const Step& step : plan.steps) {
    if (!plan.display.empty()) {
      plan.display += " && ";
    }
    if (step.debug) {
      plan.display += "PACKER_LOG=1 ";
    }
    for (size_t a = 0; a < step.argv.size(); ++a) {
      plan.display += (a == 0 ? "" : " ") + shellQuote(step.argv[a]);
    }
  }
  return plan;
}

}  // namespace opsy::packer

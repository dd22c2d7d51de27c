#include "opsy/core/flags.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <iostream>

#include "opsy/core/duration.h"

namespace opsy {
namespace {

tl::unexpected<Error> flagError(std::string_view name, std::string_view why, bool from_env,
                                std::string_view env) {
  if (from_env) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("flag --{} (from ${}): {}", name, env, why));
  }
  return fail(ErrorCode::InvalidArgument, fmt::format("flag --{}: {}", name, why));
}

std::vector<std::string> splitComma(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string_view part =
        s.substr(start, comma == std::string_view::npos ? s.npos : comma - start);
    if (!part.empty()) {
      out.emplace_back(part);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

}  // namespace

FlagSet::FlagSet(std::string program, std::string version, std::string summary)
    : program_(std::move(program)), version_(std::move(version)), summary_(std::move(summary)) {}

void FlagSet::add(std::string name, Kind kind, void* target, std::string help, std::string env) {
  std::string default_text;
  switch (kind) {
    case Kind::StringValue: default_text = *static_cast<std::string*>(target); break;
    case Kind::IntValue: default_text = std::to_string(*static_cast<int*>(target)); break;
    case Kind::BoolValue: default_text = *static_cast<bool*>(target) ? "true" : "false"; break;
    case Kind::DurationValue: default_text = formatDuration(*static_cast<Duration*>(target)); break;
    case Kind::ListValue: break;
  }
  flags_.push_back(Flag{std::move(name), kind, target, std::move(help), std::move(env),
                        std::move(default_text)});
}

void FlagSet::addString(std::string name, std::string* target, std::string help, std::string env) {
  add(std::move(name), Kind::StringValue, target, std::move(help), std::move(env));
}
void FlagSet::addInt(std::string name, int* target, std::string help, std::string env) {
  add(std::move(name), Kind::IntValue, target, std::move(help), std::move(env));
}
void FlagSet::addBool(std::string name, bool* target, std::string help, std::string env) {
  add(std::move(name), Kind::BoolValue, target, std::move(help), std::move(env));
}
void FlagSet::addDuration(std::string name, Duration* target, std::string help, std::string env) {
  add(std::move(name), Kind::DurationValue, target, std::move(help), std::move(env));
}
void FlagSet::addStringList(std::string name, std::vector<std::string>* target, std::string help,
                            std::string env) {
  add(std::move(name), Kind::ListValue, target, std::move(help), std::move(env));
}

FlagSet::Flag* FlagSet::find(std::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) {
      return &f;
    }
  }
  return nullptr;
}

Status FlagSet::assign(Flag& flag, std::string_view value, bool from_env) {
  switch (flag.kind) {
    case Kind::StringValue:
      *static_cast<std::string*>(flag.target) = std::string(value);
      return ok();
    case Kind::IntValue: {
      int v = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || ptr != value.data() + value.size()) {
        return flagError(flag.name, fmt::format("\"{}\" is not a whole number", value), from_env,
                         flag.env);
      }
      *static_cast<int*>(flag.target) = v;
      return ok();
    }
    case Kind::BoolValue:
      if (value == "true" || value == "1" || value == "yes") {
        *static_cast<bool*>(flag.target) = true;
      } else if (value == "false" || value == "0" || value == "no") {
        *static_cast<bool*>(flag.target) = false;
      } else {
        return flagError(flag.name, fmt::format("\"{}\" is not true or false", value), from_env,
                         flag.env);
      }
      return ok();
    case Kind::DurationValue: {
      auto d = parseDuration(value);
      if (!d) {
        return flagError(flag.name, d.error().message, from_env, flag.env);
      }
      *static_cast<Duration*>(flag.target) = *d;
      return ok();
    }
    case Kind::ListValue: {
      auto* list = static_cast<std::vector<std::string>*>(flag.target);
      if (from_env) {
        *list = splitComma(value);
      } else {
        list->emplace_back(value);
      }
      return ok();
    }
  }
  return ok();
}

Result<FlagSet::Outcome> FlagSet::parse(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    args.emplace_back(argv[i]);
  }
  std::string out;
  auto outcome = parse(
      args,
      [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v ? std::optional<std::string>(v) : std::nullopt;
      },
      &out);
  if (!out.empty()) {
    std::cout << out << std::flush;
  }
  return outcome;
}

Result<FlagSet::Outcome> FlagSet::parse(const std::vector<std::string>& args, const EnvLookup& env,
                                        std::string* out) {
  // Environment first, so the command line overrides it.
  for (Flag& flag : flags_) {
    if (flag.env.empty()) {
      continue;
    }
    if (auto value = env(flag.env); value.has_value()) {
      OPSY_RETURN_IF_ERROR(assign(flag, *value, true));
    }
  }
  std::vector<Flag*> seen_lists;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional_.insert(positional_.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (arg.rfind("--", 0) != 0 && !(arg.size() > 1 && arg[0] == '-')) {
      positional_.push_back(arg);
      continue;
    }
    std::string_view body = std::string_view(arg).substr(arg[1] == '-' ? 2 : 1);
    std::string_view name = body;
    std::optional<std::string_view> value;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    }
    if (name == "help" || name == "h") {
      *out = usage();
      return Outcome::HelpShown;
    }
    if (name == "version") {
      *out = fmt::format("{} {}\n", program_, version_);
      return Outcome::VersionShown;
    }
    Flag* flag = find(name);
    if (flag == nullptr) {
      return fail(ErrorCode::InvalidArgument,
                  fmt::format("unknown flag --{} (see {} --help)", name, program_));
    }
    if (!value.has_value()) {
      if (flag->kind == Kind::BoolValue) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return flagError(flag->name, "needs a value", false, "");
      }
    }
    // A list given on the command line replaces the one from the environment.
    if (flag->kind == Kind::ListValue &&
        std::find(seen_lists.begin(), seen_lists.end(), flag) == seen_lists.end()) {
      static_cast<std::vector<std::string>*>(flag->target)->clear();
      seen_lists.push_back(flag);
    }
    OPSY_RETURN_IF_ERROR(assign(*flag, *value, false));
  }
  return Outcome::Run;
}

std::string FlagSet::usage() const {
  std::string out = fmt::format("{} {}\n{}\n\nUsage: {} [flags]\n\nFlags:\n", program_, version_,
                                summary_, program_);
  for (const Flag& f : flags_) {
    std::string line = fmt::format("  --{}", f.name);
    switch (f.kind) {
      case Kind::StringValue: line += " string"; break;
      case Kind::IntValue: line += " int"; break;
      case Kind::DurationValue: line += " duration"; break;
      case Kind::ListValue: line += " value (repeatable)"; break;
      case Kind::BoolValue: break;
    }
    out += line + "\n      " + f.help;
    if (!f.default_text.empty()) {
      out += fmt::format(" (default {})", f.default_text);
    }
    if (!f.env.empty()) {
      out += fmt::format(" [env ${}]", f.env);
    }
    out += "\n";
  }
  out +=
      "  --help\n      Show this help and exit.\n  --version\n      Print the version and exit.\n";
  return out;
}

}  // namespace opsy

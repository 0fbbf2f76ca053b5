#ifndef HUT_CLI_COMMANDS_H_
#define HUT_CLI_COMMANDS_H_

#include <functional>
#include <span>

#include "CLI/CLI.hpp"
#include "src/cli/cli.h"

namespace hut::cli {

// What a subcommand does once its command line is parsed; returns the exit code.
using Action = std::function<int(const Io& io)>;

// One row of the subcommand table. `configure` registers the subcommand's
// options and positionals on `app` (its own CLI::App) and returns the action,
// which reads the parsed values.
struct Command {
  const char* name;
  const char* help;
  Action (*configure)(CLI::App& app);
};

// Every subcommand of hut, in the order `hut --help` lists them. New commands
// (server, up, deploy, rollout …, secrets …) are new rows.
std::span<const Command> Commands();

}  // namespace hut::cli

#endif  // HUT_CLI_COMMANDS_H_

#include "src/cli/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "src/cli/commands.h"

#ifndef HUT_VERSION
#define HUT_VERSION "unknown"
#endif

namespace hut::cli {

Io ProcessIo() {
  return Io{std::cout, std::cerr,
            [](const std::string& name) -> std::optional<std::string> {
              const char* value = std::getenv(name.c_str());
              if (value == nullptr) return std::nullopt;
              return std::string(value);
            },
            isatty(STDOUT_FILENO) == 1};
}

namespace {

// "hut: unknown command "x" (commands: up, server, …)" when argv names a
// command that does not exist, at any level; CLI11 alone says only "A
// subcommand is required".
std::optional<std::string> UnknownCommand(CLI::App& app, int argc, const char* const* argv) {
  CLI::App* current = &app;
  std::string path = "hut";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::vector<CLI::App*> subs = current->get_subcommands({});
    if (arg.starts_with("-") || subs.empty()) return std::nullopt;
    CLI::App* next = nullptr;
    std::string known;
    for (CLI::App* sub : subs) {
      if (sub->get_name() == arg) next = sub;
      absl::StrAppend(&known, known.empty() ? "" : ", ", sub->get_name());
    }
    if (next == nullptr) {
      return absl::StrCat(path, ": unknown command \"", arg, "\" (commands: ", known, ")");
    }
    current = next;
    path += " " + arg;
  }
  return std::nullopt;
}

}  // namespace

int Run(int argc, const char* const* argv, const Io& io) {
  CLI::App app{"hut: deploys and runs Foohut (ADR-009)", "hut"};
  app.set_version_flag("--version", "hut " HUT_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok; 1 the command failed (an error, a problem found, a rollout that "
      "failed); 2 a rollout that --wait/--watch followed was rolled back automatically; "
      "64 the command line was wrong.\n"
      "Commands that talk to the server find it at $HUT_ADDR (default 127.0.0.1:7480) and "
      "read the admin token from $HUT_TOKEN, $HUT_TOKEN_FILE, the server's pointer file in "
      "~/.hut/servers/ or .hut/admin-token. See docs/cli.md.\n");

  std::vector<std::pair<CLI::App*, Action>> actions;
  for (const Command& command : Commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.help);
    actions.emplace_back(sub, command.configure(*sub));
  }

  if (std::optional<std::string> unknown = UnknownCommand(app, argc, argv)) {
    io.err << *unknown << "\n";
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version are "errors" with exit code 0; the rest are usage errors.
    const int code = app.exit(e, io.out, io.err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  try {
    for (auto& [sub, action] : actions) {
      if (sub->parsed()) return action(io);
    }
  } catch (const std::exception& e) {
    io.err << "hut: internal error: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}

}  // namespace hut::cli

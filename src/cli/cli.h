#ifndef HUT_CLI_CLI_H_
#define HUT_CLI_CLI_H_

// The `hut` command line: one table of subcommands (commands.h), parsed with
// CLI11. Run() is main() without the process around it, so tests drive it
// in-process with string streams and a fake environment.

#include <functional>
#include <optional>
#include <ostream>
#include <string>

namespace hut::cli {

// Exit codes of every hut command (listed in `hut --help` and docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;     // the command ran and found a problem
inline constexpr int kExitRolledBack = 2;  // a followed rollout was rolled back automatically
inline constexpr int kExitUsage = 64;      // the command line was wrong (sysexits EX_USAGE)

// What a command sees of its process. The references must outlive the call.
struct Io {
  std::ostream& out;
  std::ostream& err;
  // An environment variable's value; nullopt when unset.
  std::function<std::optional<std::string>(const std::string&)> getenv;
  // `out` is a terminal: progress may redraw a status line in place.
  bool interactive = false;
  // Standard input (`hut secrets set` reads a value from it); null: std::cin.
  std::istream* in = nullptr;
};

// Io over std::cout, std::cerr and the process environment; interactive when
// stdout is a terminal.
Io ProcessIo();

// Parses `argv` (argv[0] is the program name) and runs the chosen subcommand.
// Returns the exit code. Never throws.
int Run(int argc, const char* const* argv, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_CLI_H_

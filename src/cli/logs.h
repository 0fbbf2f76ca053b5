#ifndef HUT_CLI_LOGS_H_
#define HUT_CLI_LOGS_H_

// `hut logs SERVICE [--env E] [--since 10m | --from T --to T] [--level WARN]
// [--grep TEXT] [--trace ID] [--version V] [-f] [-o json]`: the service's
// lines from the central log store (docs/logs.md), with kubectl's and
// stern's habits: one line per entry, a colour per replica on a terminal,
// -f follows live. "hut" as SERVICE is the control plane's own log.

#include <string>

#include "nlohmann/json.hpp"
#include "src/cli/cli.h"

namespace hut::cli {

struct LogsOptions {
  std::string service;
  std::string environment;
  std::string since;  // default 1h, unless --from or --trace
  std::string from, to;
  std::string level, grep, trace, version;
  bool follow = false;
  bool json = false;
  int limit = 10'000;
};

int RunLogs(const LogsOptions& options, const Io& io);

// Prints log lines (JSON objects, as stored) as `hut logs` does.
void PrintLogLines(const nlohmann::json& lines, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_LOGS_H_

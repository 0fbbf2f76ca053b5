#ifndef HUT_CLI_TRACE_H_
#define HUT_CLI_TRACE_H_

// `hut trace TRACE_ID [-o json]`: one request's span tree with timings (from
// the environment's trace backend) and, beside it, its log lines from every
// service (docs/traces.md).

#include <string>

#include "src/cli/cli.h"

namespace hut::cli {

struct TraceOptions {
  std::string trace_id;
  std::string environment;
  bool json = false;
};

int RunTrace(const TraceOptions& options, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_TRACE_H_

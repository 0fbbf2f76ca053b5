#ifndef HUT_CLI_ANALYZE_H_
#define HUT_CLI_ANALYZE_H_

// `hut analyze --replay run.json`: replays a recorded canary analysis
// (src/analysis/record.h, the file `hut rollout export` writes) offline, with
// its own policy or another one, and says what the analysis would have
// decided, when and why (see docs/cli.md). Talks to no server.

#include <string>

#include "src/cli/cli.h"

namespace hut::cli {

struct AnalyzeOptions {
  std::string replay;       // --replay: the recorded run (RecordedRun JSON); required
  std::string policy_file;  // -f: "" : the run's recorded policy; else a spec or a policy file
  std::string environment;  // --env: the spec environment whose policy -f uses; "" : default
  bool json = false;        // -o json
};

// Replays options.replay and prints the decision (the last verdict), its
// time from the start, the verdict's message, the timeline of changes and the
// pending rules seen; with `json`, one JSON object on io.out instead.
//
// -f FILE is a hut spec when its top level has `services` or `environments`
// (policy: analysis::MakeConfig of the environment's canary and rollback
// policies and the first canary step's hold; the environment is --env, else
// production, else the only one with the canary strategy), else a policy in
// the "policy" form of record.h (ConfigToJson), written as JSON or YAML;
// unknown keys are refused.
//
// Returns kExitOk whenever the replay ran, whatever the decision;
// kExitFailure for a file that cannot be read or is not a valid run, policy
// or spec (the message names the file and what is wrong); kExitUsage for
// --env with a file that is not a spec.
int RunAnalyze(const AnalyzeOptions& options, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_ANALYZE_H_

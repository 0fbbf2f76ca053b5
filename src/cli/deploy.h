#ifndef HUT_CLI_DEPLOY_H_
#define HUT_CLI_DEPLOY_H_

// `hut deploy SERVICE VERSION`: asks the server to roll a new revision out,
// and with --wait follows it to the end (see docs/cli.md).

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/cli/cli.h"

namespace hut::cli {

struct DeployOptions {
  std::string service;
  std::string version;
  std::string environment;       // --env; "": $HUT_ENV, else the server's
  std::string strategy;          // "": the environment's; else rolling, replace or canary
  std::vector<std::string> set;  // --set VAR=VALUE, in order given
  bool wait = false;             // follow the rollout until it ends
  bool json = false;             // -o json
};

// Without --wait: one line naming the new rollout and revision (or the API's
// JSON), kExitOk. With --wait: the rollout's progress, then kExitOk when it
// succeeded, kExitRolledBack when it was rolled back, kExitFailure when it
// failed. kExitUsage for a bad --set (nothing is sent); kExitFailure for any
// error from the server or on the way to it.
int RunDeploy(const DeployOptions& options, const Io& io);

// The --set items as variables; a later VAR wins. InvalidArgument names the
// first item that is not VAR=VALUE with VAR a variable name
// ([A-Za-z_][A-Za-z0-9_]*).
absl::StatusOr<std::map<std::string, std::string>> ParseSetFlags(
    const std::vector<std::string>& items);

}  // namespace hut::cli

#endif  // HUT_CLI_DEPLOY_H_

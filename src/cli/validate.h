#ifndef HUT_CLI_VALIDATE_H_
#define HUT_CLI_VALIDATE_H_

#include <string>

#include "src/cli/cli.h"

namespace hut::cli {

struct ValidateOptions {
  std::string file;  // "" : $HUT_SPEC, else "foohut.yaml" in the current folder
};

// `hut validate`: loads the spec. Good: prints a one-line summary on io.out and
// returns kExitOk. Bad or unreadable: prints every problem on io.err, one per
// line, and returns kExitFailure.
int RunValidate(const ValidateOptions& options, const Io& io);

// The file `hut` commands read the spec from: `flag` if set, else $HUT_SPEC if
// set and not empty, else "foohut.yaml".
std::string SpecPath(const std::string& flag, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_VALIDATE_H_

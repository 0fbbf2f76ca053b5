// build/bin/hut: the control plane and its command line.

#include "src/cli/cli.h"
#include "src/common/secret.h"

int main(int argc, char** argv) {
  hut::NoCoreDumps();  // the control plane and `hut secrets` hold secret values
  return hut::cli::Run(argc, argv, hut::cli::ProcessIo());
}

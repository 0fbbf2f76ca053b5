// build/bin/hut: the control plane and its command line.

#include "src/cli/cli.h"

int main(int argc, char** argv) { return hut::cli::Run(argc, argv, hut::cli::ProcessIo()); }

#include "src/cli/commands.h"

#include <memory>
#include <string>

#include "src/cli/validate.h"

namespace hut::cli {
namespace {

Action ConfigureValidate(CLI::App& app) {
  auto options = std::make_shared<ValidateOptions>();
  app.add_option("-f,--file", options->file,
                 "spec file to check (default: $HUT_SPEC, else foohut.yaml)");
  return [options](const Io& io) { return RunValidate(*options, io); };
}

constexpr Command kCommands[] = {
    {"validate", "check a spec file; every problem names file, line, column and key",
     &ConfigureValidate},
};

}  // namespace

std::span<const Command> Commands() { return kCommands; }

}  // namespace hut::cli

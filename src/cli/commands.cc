#include "src/cli/commands.h"

#include <memory>
#include <string>

#include "src/cli/up.h"
#include "src/cli/validate.h"

namespace hut::cli {
namespace {

Action ConfigureValidate(CLI::App& app) {
  auto options = std::make_shared<ValidateOptions>();
  app.add_option("-f,--file", options->file,
                 "spec file to check (default: $HUT_SPEC, else foohut.yaml)");
  return [options](const Io& io) { return RunValidate(*options, io); };
}

// `hut up` and `hut server` share their flags.
void AddRunFlags(CLI::App& app, UpOptions& o) {
  app.add_option("-f,--file", o.file, "spec file (default: $HUT_SPEC, else foohut.yaml)");
  app.add_option("--env", o.environment,
                 "environment to run (default: $HUT_ENV, else development, else the first)");
  app.add_option("--state", o.state_dir, "state folder (default: .hut/ beside the spec)");
  app.add_option("--listen", o.listen,
                 "address of the control API (default: $HUT_ADDR, else 127.0.0.1:7480)");
  app.add_option("--sandbox", o.sandbox, "sandbox replicas: auto, on or off (default auto)");
}

Action ConfigureUp(CLI::App& app) {
  auto options = std::make_shared<UpOptions>();
  AddRunFlags(app, *options);
  return [options](const Io& io) { return RunUp(*options, io); };
}

Action ConfigureServer(CLI::App& app) {
  auto options = std::make_shared<UpOptions>();
  options->server_mode = true;
  AddRunFlags(app, *options);
  return [options](const Io& io) { return RunUp(*options, io); };
}

constexpr Command kCommands[] = {
    {"up", "run an environment on this machine in the foreground: backing services, "
           "load balancer, replicas and the control plane (Ctrl-C or `hut down` stops it)",
     &ConfigureUp},
    {"server", "run the control plane for an environment, with the runtime the spec names",
     &ConfigureServer},
    {"validate", "check a spec file; every problem names file, line, column and key",
     &ConfigureValidate},
};

}  // namespace

std::span<const Command> Commands() { return kCommands; }

}  // namespace hut::cli

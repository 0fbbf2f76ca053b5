#include "src/cli/monitoring.h"

#include "src/cli/validate.h"
#include "src/monitoring/prometheus_rules.h"
#include "src/spec/load.h"

namespace hut::cli {

int RunMonitoringRules(const MonitoringRulesOptions& options, const Io& io) {
  const std::string path = SpecPath(options.file, io);
  spec::LoadResult loaded = spec::LoadSpecFile(path);
  if (!loaded.ok()) {
    for (const spec::Problem& p : loaded.problems) io.err << p.ToString() << "\n";
    io.err << "hut monitoring rules: " << path << " is not a valid spec (hut validate)\n";
    return kExitFailure;
  }
  absl::StatusOr<std::string> rules = monitoring::PrometheusRules(*loaded.spec, options.environment);
  if (!rules.ok()) {
    io.err << "hut monitoring rules: " << rules.status().message() << "\n";
    return kExitFailure;
  }
  io.out << *rules;
  return kExitOk;
}

}  // namespace hut::cli

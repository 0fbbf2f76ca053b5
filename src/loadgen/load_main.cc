// build/bin/hut-load: steady open-loop HTTP load from the command line, for
// the demo and the benchmarks. Runs until --duration passes or SIGINT/SIGTERM,
// then prints the report (and writes it as JSON with --json FILE).
//
//   hut-load --port 8080 --rate 300 --target /healthz --target /api/v1/pages?q=x

#include <signal.h>
#include <time.h>

#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "src/common/units.h"
#include "src/loadgen/load_generator.h"

int main(int argc, char** argv) {
  hut::loadgen::LoadOptions options;
  options.targets.clear();
  std::string duration = "0s";
  std::string json_path;
  CLI::App app{"hut-load: steady open-loop HTTP load on loopback", "hut-load"};
  app.add_option("--host", options.host, "server address (default 127.0.0.1)");
  app.add_option("--port", options.port, "server port")->required();
  app.add_option("--rate", options.rate, "requests per second (default 300)");
  app.add_option("--target", options.targets, "path to request, in turn (repeatable; default /)");
  app.add_option("--workers", options.workers, "concurrent requests at most (default 16)");
  app.add_option("--duration", duration, "how long to run, e.g. 30s (default: until signalled)");
  app.add_option("--count-header", options.count_header,
                 "count answers by this response header's value");
  app.add_option("--json", json_path, "also write the report as JSON to this file");
  CLI11_PARSE(app, argc, argv);
  if (options.targets.empty()) options.targets = {"/"};
  auto limit = hut::ParseDuration(duration);
  if (!limit.ok()) {
    std::cerr << "hut-load: --duration: " << limit.status().message() << "\n";
    return 64;
  }

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before any thread starts

  auto load = hut::loadgen::LoadGenerator::Start(options);
  if (!load.ok()) {
    std::cerr << "hut-load: " << load.status().message() << "\n";
    return 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + *limit;
  while (limit->count() == 0 || std::chrono::steady_clock::now() < deadline) {
    timespec wait{0, 100'000'000};
    if (sigtimedwait(&stop, nullptr, &wait) > 0) break;
  }
  hut::loadgen::LoadReport report = (*load)->Stop();

  std::cout << report.Summary() << "\n";
  for (const auto& [error, count] : report.errors) std::cout << "  " << count << "x " << error << "\n";
  for (const auto& [value, count] : report.by_header) {
    std::cout << "  " << options.count_header << ": " << value << ": " << count << "\n";
  }
  if (!json_path.empty()) {
    nlohmann::json j = {{"sent", report.sent},
                        {"ok", report.ok},
                        {"failed", report.failed()},
                        {"server_errors", report.server_errors},
                        {"transport_errors", report.transport_errors},
                        {"late", report.late},
                        {"elapsed_s", report.elapsed_s},
                        {"rate", report.elapsed_s > 0 ? report.sent / report.elapsed_s : 0},
                        {"p50_ms", report.LatencyQuantileMs(0.50)},
                        {"p99_ms", report.LatencyQuantileMs(0.99)},
                        {"errors", report.errors},
                        {"by_header", report.by_header}};
    std::ofstream out(json_path);
    out << j.dump(2) << "\n";
    if (!out) {
      std::cerr << "hut-load: cannot write " << json_path << "\n";
      return 1;
    }
  }
  return 0;
}

#include "src/local/jaeger_server.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "src/common/ports.h"
#include "src/common/status.h"
#include "src/local/server_util.h"

namespace hut::local {

absl::StatusOr<std::string> FindJaeger() {
  if (const char* given = std::getenv("HUT_JAEGER"); given != nullptr && *given != '\0') {
    if (access(given, X_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("HUT_JAEGER=", given, ": not an executable"));
    }
    return std::string(given);
  }
  const char* cache = std::getenv("HUT_JAEGER_CACHE");
  const char* home = std::getenv("HOME");
  const std::string root = cache != nullptr && *cache != '\0'
                               ? std::string(cache)
                               : absl::StrCat(home != nullptr ? home : "", "/.cache/hut/jaeger");
  const std::string path = absl::StrCat(root, "/", kJaegerVersion, "/bin/jaeger");
  if (access(path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no Jaeger at ", path, ": build it with scripts/jaeger.sh build (once, a few minutes), "
        "or set HUT_JAEGER"));
  }
  return path;
}

std::string JaegerConfig(const JaegerOptions& o, uint16_t health_port) {
  return absl::StrCat(R"(# Written by hut (src/local/jaeger_server.cc): traces in memory, every endpoint on loopback.
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:)", health_port, R"(
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:)", o.query_port, R"(
    grpc:
      endpoint: 127.0.0.1:0
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: )", o.max_traces, R"(
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:)", o.otlp_port, R"(
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
)");
}

absl::StatusOr<std::unique_ptr<JaegerServer>> JaegerServer::Start(JaegerOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("Jaeger: empty dir");
  if (options.binary.empty()) {
    HUT_ASSIGN_OR_RETURN(options.binary, FindJaeger());
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", options.dir, ": ", ec.message()));
  HUT_ASSIGN_OR_RETURN(const uint16_t health_port, FreeLoopbackPort());
  const std::string config = options.dir + "/jaeger.yaml";
  HUT_RETURN_IF_ERROR(WriteFileAtomically(config, JaegerConfig(options, health_port)));
  const std::string log_file = options.dir + "/jaeger.log";
  std::unique_ptr<JaegerServer> server(new JaegerServer(options));
  ProcessOptions run;
  run.argv = {options.binary, "--config=file:" + config};
  run.stdout_mode = OutputMode::kFile;
  run.stdout_path = log_file;
  run.stderr_mode = OutputMode::kFile;
  run.stderr_path = log_file;
  HUT_ASSIGN_OR_RETURN(server->process_, Process::Spawn(run));
  HUT_RETURN_IF_ERROR(AwaitHttp(*server->process_, health_port, "/status", options.start_timeout,
                                "Jaeger", log_file));
  return server;
}

JaegerServer::~JaegerServer() { Stop(); }

std::string JaegerServer::query_url() const { return absl::StrCat("http://127.0.0.1:", options_.query_port); }
std::string JaegerServer::otlp_endpoint() const {
  return absl::StrCat("http://127.0.0.1:", options_.otlp_port, "/v1/traces");
}

std::optional<std::string> JaegerServer::Down() { return DownReason(process_.get()); }

absl::Status JaegerServer::Restart() {
  Stop();
  HUT_ASSIGN_OR_RETURN(std::unique_ptr<JaegerServer> fresh, Start(options_));
  process_ = std::move(fresh->process_);
  return absl::OkStatus();
}

void JaegerServer::Stop() {
  if (!process_) return;
  process_->Stop(std::chrono::seconds(5), SIGTERM);
  process_.reset();
}

}  // namespace hut::local

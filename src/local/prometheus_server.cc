#include "src/local/prometheus_server.h"

#include <csignal>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/http/client.h"
#include "src/local/server_util.h"

namespace hut::local {
namespace {

absl::StatusOr<int> Call(uint16_t port, const std::string& method, const std::string& target) {
  http::ClientRequest req;
  req.method = method;
  req.port = port;
  req.target = target;
  req.timeout = std::chrono::milliseconds(2000);
  HUT_ASSIGN_OR_RETURN(http::ClientResponse r, http::Fetch(req));
  return r.status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(
    const PrometheusOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("Prometheus: empty dir");
  std::unique_ptr<PrometheusServer> server(new PrometheusServer(options));
  std::error_code ec;
  std::filesystem::create_directories(options.dir + "/data", ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create Prometheus folder ", options.dir,
                                            ": ", ec.message()));
  }
  const std::string config = options.dir + "/prometheus.yml";
  HUT_RETURN_IF_ERROR(WriteFileAtomically(config, options.config));
  const std::string log_file = options.dir + "/prometheus.log";
  ProcessOptions run;
  run.argv = {options.binary,
              "--config.file=" + config,
              "--storage.tsdb.path=" + options.dir + "/data",
              absl::StrCat("--web.listen-address=127.0.0.1:", options.port),
              "--web.enable-lifecycle",
              "--log.level=warn"};
  run.stdout_mode = OutputMode::kFile;
  run.stdout_path = log_file;
  run.stderr_mode = OutputMode::kFile;
  run.stderr_path = log_file;
  HUT_ASSIGN_OR_RETURN(server->process_, Process::Spawn(run));
  HUT_RETURN_IF_ERROR(AwaitHttp(*server->process_, options.port, "/-/ready",
                                options.start_timeout, "Prometheus", log_file));
  return server;
}

PrometheusServer::~PrometheusServer() { Stop(); }

std::string PrometheusServer::url() const { return absl::StrCat("http://127.0.0.1:", options_.port); }

absl::Status PrometheusServer::Reconfigure(const std::string& config) {
  HUT_RETURN_IF_ERROR(WriteFileAtomically(options_.dir + "/prometheus.yml", config));
  HUT_ASSIGN_OR_RETURN(int status, Call(options_.port, "POST", "/-/reload"));
  if (status != 200) {
    return absl::InvalidArgumentError(
        absl::StrCat("Prometheus refused the new configuration (HTTP ", status, "); its log ends:\n",
                     TailOfFile(options_.dir + "/prometheus.log", 2000)));
  }
  options_.config = config;
  return absl::OkStatus();
}

std::optional<std::string> PrometheusServer::Down() { return DownReason(process_.get()); }

absl::Status PrometheusServer::Restart() {
  Stop();
  HUT_ASSIGN_OR_RETURN(std::unique_ptr<PrometheusServer> fresh, Start(options_));
  process_ = std::move(fresh->process_);
  return absl::OkStatus();
}

void PrometheusServer::Stop() {
  if (!process_) return;
  process_->Stop(std::chrono::seconds(5), SIGTERM);
  process_.reset();
}

}  // namespace hut::local

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

ReloadableServer::~ReloadableServer() { Stop(); }

std::string ReloadableServer::url() const {
  return absl::StrCat("http://127.0.0.1:", launch_.port);
}

absl::Status ReloadableServer::Run(const std::string& config) {
  std::error_code ec;
  std::filesystem::create_directories(launch_.dir + "/data", ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", launch_.what, " folder ",
                                            launch_.dir, ": ", ec.message()));
  }
  HUT_RETURN_IF_ERROR(WriteFileAtomically(launch_.config_file, config));
  return Spawn();
}

absl::Status ReloadableServer::Spawn() {
  ProcessOptions run;
  run.argv = launch_.argv;
  run.stdout_mode = OutputMode::kFile;
  run.stdout_path = launch_.log_file;
  run.stderr_mode = OutputMode::kFile;
  run.stderr_path = launch_.log_file;
  HUT_ASSIGN_OR_RETURN(process_, Process::Spawn(run));
  absl::Status ready = AwaitHttp(*process_, launch_.port, "/-/ready", launch_.start_timeout,
                                 launch_.what, launch_.log_file);
  if (!ready.ok()) Stop();
  return ready;
}

absl::Status ReloadableServer::Reconfigure(const std::string& config) {
  HUT_RETURN_IF_ERROR(WriteFileAtomically(launch_.config_file, config));
  HUT_ASSIGN_OR_RETURN(int status, Call(launch_.port, "POST", "/-/reload"));
  if (status != 200) {
    return absl::InvalidArgumentError(absl::StrCat(launch_.what,
                                                   " refused the new configuration (HTTP ", status,
                                                   "); its log ends:\n",
                                                   TailOfFile(launch_.log_file, 2000)));
  }
  return absl::OkStatus();
}

std::optional<std::string> ReloadableServer::Down() { return DownReason(process_.get()); }

absl::Status ReloadableServer::Restart() {
  Stop();
  return Spawn();
}

void ReloadableServer::Stop() {
  if (!process_) return;
  process_->Stop(std::chrono::seconds(5), SIGTERM);
  process_.reset();
}

ReloadableServer::Launch ReloadableServer::In(std::string what, const std::string& dir,
                                              const std::string& stem, uint16_t port,
                                              std::vector<std::string> argv,
                                              std::chrono::milliseconds start_timeout) {
  Launch l{.what = std::move(what),
           .dir = dir,
           .config_file = absl::StrCat(dir, "/", stem, ".yml"),
           .log_file = absl::StrCat(dir, "/", stem, ".log"),
           .port = port,
           .argv = std::move(argv),
           .start_timeout = start_timeout};
  l.argv.insert(l.argv.begin() + 1,
                {"--config.file=" + l.config_file,
                 absl::StrCat("--web.listen-address=127.0.0.1:", port), "--log.level=warn"});
  return l;
}

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(
    const PrometheusOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("Prometheus: empty dir");
  std::unique_ptr<PrometheusServer> server(new PrometheusServer(
      In("Prometheus", options.dir, "prometheus", options.port,
         {options.binary, "--storage.tsdb.path=" + options.dir + "/data", "--web.enable-lifecycle"},
         options.start_timeout)));
  HUT_RETURN_IF_ERROR(server->Run(options.config));
  return server;
}

absl::StatusOr<std::unique_ptr<AlertmanagerServer>> AlertmanagerServer::Start(
    const AlertmanagerOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("Alertmanager: empty dir");
  // One Alertmanager: no gossip port (it would listen on every address).
  std::unique_ptr<AlertmanagerServer> server(new AlertmanagerServer(
      In("Alertmanager", options.dir, "alertmanager", options.port,
         {options.binary, "--storage.path=" + options.dir + "/data", "--cluster.listen-address="},
         options.start_timeout)));
  HUT_RETURN_IF_ERROR(server->Run(options.config));
  return server;
}

}  // namespace hut::local

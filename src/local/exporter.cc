#include "src/local/exporter.h"

#include <csignal>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/local/server_util.h"

namespace hut::local {

absl::StatusOr<std::unique_ptr<Exporter>> Exporter::Start(ExporterOptions options) {
  std::unique_ptr<Exporter> exporter(new Exporter(std::move(options)));
  HUT_RETURN_IF_ERROR(exporter->Launch());
  return exporter;
}

Exporter::~Exporter() { Stop(); }

std::string Exporter::address() const { return absl::StrCat("127.0.0.1:", options_.port); }

absl::Status Exporter::Launch() {
  ProcessOptions run;
  run.argv = options_.argv;
  run.argv.push_back(absl::StrCat(options_.listen_flag, address()));
  run.env = options_.env;
  run.stdout_mode = run.stderr_mode = OutputMode::kFile;
  run.stdout_path = run.stderr_path = options_.log_file;
  HUT_ASSIGN_OR_RETURN(process_, Process::Spawn(run));
  absl::Status serving = AwaitHttp(*process_, options_.port, "/metrics", options_.start_timeout,
                                   options_.name, options_.log_file);
  if (!serving.ok()) Stop();
  return serving;
}

std::optional<std::string> Exporter::Down() { return DownReason(process_.get()); }

absl::Status Exporter::Restart() {
  Stop();
  return Launch();
}

void Exporter::Stop() {
  if (!process_) return;
  process_->Stop(std::chrono::seconds(5), SIGTERM);
  process_.reset();
}

}  // namespace hut::local

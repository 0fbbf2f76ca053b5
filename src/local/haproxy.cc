#include "src/local/haproxy.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "src/common/status.h"
#include "src/local/server_util.h"

namespace hut::local {
namespace {

using std::chrono::milliseconds;

bool ValidName(std::string_view name, bool allow_dot) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || (allow_dot && c == '.');
    if (!ok) return false;
  }
  return true;
}

std::string ServerLine(const LbServiceOptions& svc, const LbServer& s) {
  return absl::StrCat(s.address, ":", s.port, " check inter ", svc.check_interval.count(),
                      " fall ", svc.fall, " rise ", svc.rise, " weight ", s.weight);
}

// Answers of successful runtime commands; anything else is an error message.
bool IsSuccessAnswer(std::string_view answer) {
  return answer.empty() || answer == "\n" || answer.starts_with("New server registered.") ||
         answer.starts_with("Server deleted.");
}

int64_t Field(const std::vector<std::string_view>& row, const std::map<std::string, size_t>& index,
              const char* name) {
  auto it = index.find(name);
  int64_t v = 0;
  if (it == index.end() || it->second >= row.size()) return 0;
  if (!absl::SimpleAtoi(absl::string_view(row[it->second].data(), row[it->second].size()), &v)) {
    return 0;
  }
  return v;
}

std::string TextField(const std::vector<std::string_view>& row,
                      const std::map<std::string, size_t>& index, const char* name) {
  auto it = index.find(name);
  if (it == index.end() || it->second >= row.size()) return "";
  return std::string(row[it->second]);
}

}  // namespace

std::vector<LbServerStats> ParseShowStat(std::string_view csv) {
  std::vector<LbServerStats> out;
  std::map<std::string, size_t> index;
  for (absl::string_view piece : absl::StrSplit(absl::string_view(csv.data(), csv.size()), '\n')) {
    std::string_view line(piece.data(), piece.size());
    if (line.empty()) continue;
    std::vector<std::string_view> row;
    for (absl::string_view f : absl::StrSplit(piece, ',')) row.emplace_back(f.data(), f.size());
    if (line.starts_with("# ")) {
      row[0] = row[0].substr(2);
      for (size_t i = 0; i < row.size(); ++i) index[std::string(row[i])] = i;
      continue;
    }
    if (index.empty() || row.size() < 2) continue;
    std::string server = std::string(row[1]);
    if (server == "FRONTEND" || server == "BACKEND") continue;
    LbServerStats s;
    s.service = std::string(row[0]);
    s.server = server;
    s.status = TextField(row, index, "status");
    s.weight = static_cast<int>(Field(row, index, "weight"));
    s.current_sessions = Field(row, index, "scur");
    s.total_sessions = Field(row, index, "stot");
    s.responses[0] = Field(row, index, "hrsp_other");
    s.responses[1] = Field(row, index, "hrsp_1xx");
    s.responses[2] = Field(row, index, "hrsp_2xx");
    s.responses[3] = Field(row, index, "hrsp_3xx");
    s.responses[4] = Field(row, index, "hrsp_4xx");
    s.responses[5] = Field(row, index, "hrsp_5xx");
    s.connection_errors = Field(row, index, "econ");
    s.response_errors = Field(row, index, "eresp");
    s.retries = Field(row, index, "wretr");
    s.redispatches = Field(row, index, "wredis");
    s.avg_response_ms = Field(row, index, "rtime");
    s.check_status = TextField(row, index, "check_status");
    out.push_back(std::move(s));
  }
  return out;
}

Haproxy::Haproxy(HaproxyOptions options)
    : options_(std::move(options)),
      config_path_(options_.dir + "/haproxy.cfg"),
      socket_path_(options_.dir + "/admin.sock"),
      state_path_(options_.dir + "/server-state") {}

absl::StatusOr<std::unique_ptr<Haproxy>> Haproxy::Start(const HaproxyOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("HAProxy: empty dir");
  for (const LbServiceOptions& svc : options.services) {
    if (!ValidName(svc.name, false)) {
      return absl::InvalidArgumentError(
          absl::StrCat("HAProxy: invalid service name \"", svc.name, "\" (expected [A-Za-z0-9_-])"));
    }
    if (svc.port == 0) {
      return absl::InvalidArgumentError(absl::StrCat("HAProxy: service ", svc.name, " has no port"));
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", options.dir, ": ", ec.message()));
  std::unique_ptr<Haproxy> lb(new Haproxy(options));
  std::filesystem::remove(lb->socket_path_, ec);
  {
    absl::MutexLock lock(&lb->mu_);
    for (const LbServiceOptions& svc : options.services) lb->servers_[svc.name];
    HUT_RETURN_IF_ERROR(lb->WriteConfig());
  }
  ProcessOptions check;
  check.argv = {options.binary, "-c", "-q", "-f", lb->config_path_};
  HUT_ASSIGN_OR_RETURN(CommandResult checked, RunCommand(check, milliseconds(10'000)));
  if (!checked.status.success()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HAProxy rejected its configuration ", lb->config_path_, ":\n", checked.output));
  }
  HUT_RETURN_IF_ERROR(lb->Launch());
  return lb;
}

absl::Status Haproxy::Launch() {
  const std::string log_file = this->log_file();
  ProcessOptions run;
  run.argv = {options_.binary, "-W", "-db", "-f", config_path_};
  run.stdout_mode = OutputMode::kFile;
  run.stdout_path = log_file;
  run.stderr_mode = OutputMode::kFile;
  run.stderr_path = log_file;
  {
    absl::MutexLock lock(&mu_);
    HUT_ASSIGN_OR_RETURN(process_, Process::Spawn(run));
  }
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (!Command("show info").ok()) {
    {
      absl::MutexLock lock(&mu_);
      if (auto exited = process_->TryWait()) {
        process_.reset();
        return absl::UnavailableError(absl::StrCat(
            "HAProxy exited (", exited->ToString(), "); its log ends:\n", TailOfFile(log_file, 2000)));
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      Stop(milliseconds(0));
      return absl::DeadlineExceededError("HAProxy did not open its admin socket in time");
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return absl::OkStatus();
}

std::optional<std::string> Haproxy::Down() {
  absl::MutexLock lock(&mu_);
  return DownReason(process_.get());
}

absl::Status Haproxy::Restart() {
  {
    absl::MutexLock lock(&mu_);
    if (process_ && !process_->TryWait().has_value()) return absl::OkStatus();
    process_.reset();
    // The saved runtime state is from before the crash: servers start from
    // the configuration (their weights) and their checks.
    std::error_code ec;
    std::filesystem::remove(state_path_, ec);
    std::filesystem::remove(socket_path_, ec);
    HUT_RETURN_IF_ERROR(WriteConfig());
  }
  return Launch();
}

pid_t Haproxy::pid() const {
  absl::MutexLock lock(&mu_);
  return process_ ? process_->pid() : -1;
}

Haproxy::~Haproxy() { Stop(milliseconds(0)); }

void Haproxy::Stop(milliseconds grace) {
  absl::MutexLock lock(&mu_);
  if (!process_) return;
  process_->Stop(grace, SIGUSR1);
  process_.reset();
}

// One access line: JSON, read by HaproxyLogLine. HAProxy 2.6 has no JSON
// encoding of its own: strings that a client chooses are escaped (+E).
constexpr char kAccessLogFormat[] =
    R"({"accept_s":%Ts,"accept_ms":"%ms","backend":"%b","server":"%s","status":%ST,)"
    R"("method":"%HM","path":"%{+E}HP","total_ms":%Ta,"response_ms":%Tr,"bytes":%B,)"
    R"("client":"%ci","termination":"%ts","retries":"%rc",)"
    R"("traceparent":"%{+E}[capture.req.hdr(0)]","request_id":"%{+E}[capture.req.hdr(1)]"})";

std::string Haproxy::RenderConfig() const {
  std::string c = absl::StrCat(
      "# Written by hut; rewritten on every reload. Do not edit.\n"
      "global\n"
      // HAProxy 2.6's master exits with its last worker, whatever
      // no-exit-on-failure says: hut's supervisor starts it again.
      "  master-worker\n"
      "  stats socket ", socket_path_, " mode 600 level admin expose-fd listeners\n"
      "  server-state-file ", state_path_, "\n"
      "\n"
      "defaults\n"
      "  mode http\n"
      "  timeout connect 2s\n"
      "  timeout client 60s\n"
      "  timeout server 60s\n"
      "  timeout http-request 10s\n"
      "  timeout http-keep-alive 10s\n"
      // A request that could not reach a replica (refused, reset before any
      // answer) is retried on another one: a dying replica costs no request.
      "  option redispatch\n"
      "  retries 3\n"
      "  retry-on conn-failure empty-response response-timeout\n"
      "  load-server-state-from-file global\n");
  if (!options_.log_socket.empty()) {
    // Every request as one JSON line (server_log_lines.h) to hut's socket.
    // A request without an X-Request-ID gets one, so that its line here and
    // the replica's can be joined; traceparent is logged as it came.
    absl::StrAppend(&c, "  log unix@", options_.log_socket, " len 8192 format raw daemon\n",
                    "  unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid\n",
                    "  log-format '", kAccessLogFormat, "'\n");
  }
  for (const LbServiceOptions& svc : options_.services) {
    absl::StrAppend(&c, "\nfrontend fe_", svc.name, "\n  bind 127.0.0.1:", svc.port);
    if (!options_.log_socket.empty()) {
      absl::StrAppend(&c,
                      "\n  http-request set-header X-Request-ID %[unique-id] unless "
                      "{ req.hdr(x-request-id) -m found }"
                      // Capture slots 0 and 1 of kAccessLogFormat.
                      "\n  http-request capture req.hdr(traceparent) len 55"
                      "\n  http-request capture req.hdr(x-request-id) len 64");
    }
    absl::StrAppend(&c, "\n  default_backend ", svc.name, "\n\nbackend ", svc.name,
                    "\n  balance roundrobin\n  option httpchk GET ", svc.health_path,
                    "\n  http-check expect status 200\n");
    auto it = servers_.find(svc.name);
    if (it == servers_.end()) continue;
    for (const auto& [name, server] : it->second) {
      absl::StrAppend(&c, "  server ", name, " ", ServerLine(svc, server), "\n");
    }
  }
  if (options_.stats_port != 0) {
    absl::StrAppend(&c, "\nfrontend stats\n  bind 127.0.0.1:", options_.stats_port,
                    options_.log_socket.empty() ? "" : "\n  no log",
                    "\n  http-request use-service prometheus-exporter if { path /metrics }\n"
                    "  stats enable\n  stats uri /stats\n");
  }
  return c;
}

absl::Status Haproxy::WriteConfig() const {
  std::string tmp = config_path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << RenderConfig();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), config_path_.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot write ", config_path_, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Haproxy::Command(std::string_view command) {
  absl::MutexLock lock(&mu_);
  return CommandLocked(command);
}

absl::StatusOr<std::string> HaproxyAdminCommand(const std::string& socket_path,
                                                std::string_view command) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", socket_path));
  }
  std::strcpy(addr.sun_path, socket_path.c_str());
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("HAProxy admin socket ", socket_path, ": ", strerror(err)));
  }
  std::string line = absl::StrCat(std::string(command), "\n");
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    close(fd);
    return absl::UnavailableError("HAProxy admin socket: short write");
  }
  std::string answer;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      answer.append(buf, n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("HAProxy admin socket: ", strerror(err)));
    }
  }
  close(fd);
  return answer;
}

absl::StatusOr<std::string> Haproxy::CommandLocked(std::string_view command) {
  return HaproxyAdminCommand(socket_path_, command);
}

absl::Status Haproxy::CheckService(std::string_view service) const {
  if (servers_.find(service) == servers_.end()) {
    return absl::NotFoundError(absl::StrCat("load balancer has no service \"", std::string(service),
                                            "\""));
  }
  return absl::OkStatus();
}

namespace {
absl::Status RunAll(const std::vector<std::string>& commands,
                    const std::function<absl::StatusOr<std::string>(std::string_view)>& run) {
  for (const std::string& cmd : commands) {
    HUT_ASSIGN_OR_RETURN(std::string answer, run(cmd));
    if (!IsSuccessAnswer(answer)) {
      return absl::FailedPreconditionError(absl::StrCat("HAProxy: \"", cmd, "\": ", answer));
    }
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status Haproxy::AddServer(std::string_view service, const LbServer& server) {
  absl::MutexLock lock(&mu_);
  HUT_RETURN_IF_ERROR(CheckService(service));
  if (!ValidName(server.name, true)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid server name \"", server.name, "\""));
  }
  if (server.weight < 0 || server.weight > 256) {
    return absl::InvalidArgumentError(absl::StrCat("weight ", server.weight, " out of 0..256"));
  }
  auto& known = servers_.find(service)->second;
  if (auto it = known.find(server.name); it != known.end()) {
    if (it->second.address == server.address && it->second.port == server.port) {
      return absl::OkStatus();
    }
    return absl::AlreadyExistsError(absl::StrCat("server ", std::string(service), "/", server.name,
                                                 " exists with another address"));
  }
  const LbServiceOptions* svc = nullptr;
  for (const auto& s : options_.services) {
    if (s.name == service) svc = &s;
  }
  std::string id = absl::StrCat(std::string(service), "/", server.name);
  HUT_RETURN_IF_ERROR(RunAll({absl::StrCat("add server ", id, " ", ServerLine(*svc, server)),
                              absl::StrCat("enable health ", id),
                              absl::StrCat("enable server ", id)},
                             [this](std::string_view c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                               return CommandLocked(c);
                             }));
  known[server.name] = server;
  return WriteConfig();
}

absl::Status Haproxy::SetWeight(std::string_view service, std::string_view server, int weight) {
  absl::MutexLock lock(&mu_);
  HUT_RETURN_IF_ERROR(CheckService(service));
  if (weight < 0 || weight > 256) {
    return absl::InvalidArgumentError(absl::StrCat("weight ", weight, " out of 0..256"));
  }
  auto& known = servers_.find(service)->second;
  auto it = known.find(server);
  if (it == known.end()) {
    return absl::NotFoundError(absl::StrCat("no server ", std::string(service), "/",
                                            std::string(server)));
  }
  HUT_RETURN_IF_ERROR(RunAll({absl::StrCat("set server ", std::string(service), "/",
                                           std::string(server), " weight ", weight)},
                             [this](std::string_view c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                               return CommandLocked(c);
                             }));
  it->second.weight = weight;
  return WriteConfig();
}

absl::Status Haproxy::Drain(std::string_view service, std::string_view server) {
  absl::MutexLock lock(&mu_);
  HUT_RETURN_IF_ERROR(CheckService(service));
  return RunAll({absl::StrCat("set server ", std::string(service), "/", std::string(server),
                              " state drain")},
                [this](std::string_view c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                  return CommandLocked(c);
                });
}

absl::Status Haproxy::Ready(std::string_view service, std::string_view server) {
  absl::MutexLock lock(&mu_);
  HUT_RETURN_IF_ERROR(CheckService(service));
  return RunAll({absl::StrCat("set server ", std::string(service), "/", std::string(server),
                              " state ready")},
                [this](std::string_view c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                  return CommandLocked(c);
                });
}

absl::Status Haproxy::RemoveServer(std::string_view service, std::string_view server) {
  absl::MutexLock lock(&mu_);
  HUT_RETURN_IF_ERROR(CheckService(service));
  auto& known = servers_.find(service)->second;
  auto it = known.find(server);
  if (it == known.end()) return absl::OkStatus();
  std::string id = absl::StrCat(std::string(service), "/", std::string(server));
  HUT_RETURN_IF_ERROR(RunAll({absl::StrCat("disable server ", id),
                              absl::StrCat("shutdown sessions server ", id)},
                             [this](std::string_view c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                               return CommandLocked(c);
                             }));
  // Deletion waits for the last connections to close, which takes a moment
  // after "shutdown sessions".
  absl::Status deleted;
  for (int attempt = 0; attempt < 100; ++attempt) {
    deleted = RunAll({absl::StrCat("del server ", id)},
                     [this](std::string_view c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                       return CommandLocked(c);
                     });
    if (deleted.ok()) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  HUT_RETURN_IF_ERROR(deleted);
  known.erase(it);
  return WriteConfig();
}

absl::StatusOr<std::vector<LbServerStats>> Haproxy::Stats() {
  HUT_ASSIGN_OR_RETURN(std::string csv, Command("show stat"));
  return ParseShowStat(csv);
}

absl::Status Haproxy::Reload() {
  absl::MutexLock lock(&mu_);
  if (!process_) return absl::FailedPreconditionError("HAProxy is not running");
  HUT_ASSIGN_OR_RETURN(std::string info, CommandLocked("show info"));
  HUT_ASSIGN_OR_RETURN(std::string state, CommandLocked("show servers state"));
  {
    std::ofstream out(state_path_, std::ios::trunc);
    out << state;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", state_path_));
  }
  HUT_RETURN_IF_ERROR(WriteConfig());
  auto pid_of = [](std::string_view info_text) {
    size_t at = info_text.find("\nPid: ");
    if (at == std::string_view::npos) return std::string();
    size_t end = info_text.find('\n', at + 1);
    return std::string(info_text.substr(at + 6, end - at - 6));
  };
  std::string old_pid = pid_of(info);
  // The master may miss a SIGUSR2 that arrives while it is still settling
  // from a previous start or reload, so it is sent again until a new worker
  // answers; an extra reload is harmless.
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto next_signal = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::chrono::steady_clock::now() >= next_signal) {
      process_->Signal(SIGUSR2);
      next_signal = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    auto now_info = CommandLocked("show info");
    if (now_info.ok() && !pid_of(*now_info).empty() && pid_of(*now_info) != old_pid) {
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("HAProxy reload did not complete in time; its log ends:\n",
                                                  TailOfFile(options_.dir + "/haproxy.log", 2000)));
}

}  // namespace hut::local

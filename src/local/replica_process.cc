#include "src/local/replica_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "src/local/server_util.h"

extern char** environ;

namespace hut::local {
namespace {

using std::chrono::milliseconds;

// How long output is still read after the child ended, for a grandchild that
// keeps the pipes open: a bound, so Exited() is always reported.
constexpr milliseconds kDrainAfterExit{1000};
// How often the reader thread looks for the child's exit when no output comes.
constexpr int kPollMs = 50;
// How long Start() looks for the workload inside a new sandbox.
constexpr milliseconds kFindWorkloadTimeout{2000};

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// Where execvp would find `name`: a path with a slash is taken as is (relative
// to `dir`), anything else is searched in `path_var`. nullopt if not found.
std::optional<std::string> FindCommand(const std::string& name, const std::string& path_var,
                                       const std::string& dir) {
  if (name.find('/') != std::string::npos) {
    std::string full = (name[0] == '/' || dir.empty()) ? name : absl::StrCat(dir, "/", name);
    if (IsExecutableFile(full)) return full;
    return std::nullopt;
  }
  for (absl::string_view d : absl::StrSplit(path_var, ':', absl::SkipEmpty())) {
    std::string full = absl::StrCat(d, "/", name);
    if (IsExecutableFile(full)) return full;
  }
  return std::nullopt;
}

std::string HutPath() {
  const char* p = getenv("PATH");
  return p != nullptr ? p : "/usr/local/bin:/usr/bin:/bin";
}

std::string QuotedCommand(const std::vector<std::string>& argv) {
  return absl::StrCat("\"", absl::StrJoin(argv, " "), "\"");
}

// Who a sandboxed replica runs as.
struct SandboxUser {
  uid_t uid;
  gid_t gid;
};

// bwrap's arguments up to and including setpriv's, before the workload's argv.
// `keep_visible`: paths under /tmp (the program, its files) that the fresh
// /tmp would hide; they are bound back read-only. `hidden`: folders replaced
// by an empty tmpfs; the private folder is bound back inside them.
std::vector<std::string> SandboxPrefix(const SandboxSupport& s, SandboxUser user,
                                       const std::string& private_dir,
                                       const std::string& working_dir,
                                       const std::vector<std::string>& keep_visible = {},
                                       const std::vector<std::string>& hidden = {}) {
  std::vector<std::string> args = {s.bwrap_path, "--ro-bind", "/", "/", "--dev", "/dev",
                                   "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"};
  std::vector<std::string> tmpfs_roots = {"/tmp"};
  // bwrap creates missing parents inside a tmpfs as root-only folders; make
  // them traversable first.
  auto open_parents = [&](const std::string& path) {
    for (const std::string& root : tmpfs_roots) {
      if (!path.starts_with(root + "/")) continue;
      std::vector<std::string> parents;
      for (std::filesystem::path parent = std::filesystem::path(path).parent_path();
           parent.string().size() > root.size() && parent.string().starts_with(root + "/");
           parent = parent.parent_path()) {
        parents.push_back(parent.string());
      }
      for (auto it = parents.rbegin(); it != parents.rend(); ++it) {
        args.insert(args.end(), {"--perms", "0755", "--dir", *it});
      }
    }
  };
  for (const std::string& path : keep_visible) {
    open_parents(path);
    args.insert(args.end(), {"--ro-bind", path, path});
  }
  // After the binds above: hiding wins over a release folder that holds it.
  for (const std::string& dir : hidden) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    open_parents(dir);
    args.insert(args.end(), {"--perms", "0755", "--tmpfs", dir});
    tmpfs_roots.push_back(dir);
  }
  if (!private_dir.empty()) {
    open_parents(private_dir);
    args.insert(args.end(), {"--bind", private_dir, private_dir});
  }
  if (!working_dir.empty()) args.insert(args.end(), {"--chdir", working_dir});
  args.insert(args.end(),
              {"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
               "--new-session", "--", s.setpriv_path, absl::StrCat("--reuid=", user.uid),
               absl::StrCat("--regid=", user.gid), "--clear-groups", "--no-new-privs"});
  return args;
}

// A replica's whole environment: a minimal base, then the spec's variables.
std::map<std::string, std::string> ReplicaEnv(const ReplicaOptions& options) {
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"},
      {"HOME", options.private_dir},
      {"LANG", "C.UTF-8"},
  };
  for (const auto& [name, value] : options.env) env[name] = value;
  return env;
}

// The first child of `pid` (single-threaded), from /proc; -1 if none.
pid_t FirstChild(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/task/", pid, "/children"));
  pid_t child = -1;
  if (in >> child) return child;
  return -1;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

bool PidfdSignal(int pidfd, int signal) {
  return syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) == 0;
}



}  // namespace

SandboxSupport ProbeSandbox() {
  SandboxSupport s;
  if (geteuid() != 0) {
    s.reason = "hut does not run as root, so it cannot switch replicas to another user";
    return s;
  }
  std::optional<std::string> bwrap = FindCommand("bwrap", HutPath(), "");
  std::optional<std::string> setpriv = FindCommand("setpriv", HutPath(), "");
  if (!bwrap.has_value() || !setpriv.has_value()) {
    s.reason = "bwrap or setpriv not found in PATH (Debian packages bubblewrap, util-linux)";
    return s;
  }
  s.bwrap_path = *bwrap;
  s.setpriv_path = *setpriv;
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  for (const char* name : {kReplicaUser, kFallbackReplicaUser}) {
    if (getpwnam_r(name, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) break;
  }
  if (found == nullptr) {
    s.reason = absl::StrCat("neither user \"", kReplicaUser, "\" nor \"", kFallbackReplicaUser,
                            "\" exists");
    return s;
  }
  s.user = found->pw_name;
  s.uid = found->pw_uid;
  s.gid = found->pw_gid;
  if (s.uid == 0) {
    s.reason = absl::StrCat("user \"", s.user, "\" is root");
    return s;
  }
  ProcessOptions probe;
  probe.argv = SandboxPrefix(s, {s.uid, s.gid}, "", "/");
  probe.argv.push_back("true");
  absl::StatusOr<CommandResult> r = RunCommand(probe, milliseconds(10'000));
  if (!r.ok()) {
    s.reason = absl::StrCat("bwrap probe failed: ", r.status().message());
    return s;
  }
  if (!r->status.success()) {
    s.reason = absl::StrCat("bwrap probe failed (", r->status.ToString(), "): ", r->output);
    return s;
  }
  s.available = true;
  return s;
}

ReplicaProcess::ReplicaProcess(ReplicaOptions options, LogSink& sink, const Clock& clock)
    : options_(std::move(options)),
      sink_(sink),
      clock_(clock),
      log_(Logger(sink, clock, "replica", LogLevel::kDebug)
               .With({{"service", options_.service},
                      {"version", options_.version},
                      {"replica", options_.replica}})) {}

absl::StatusOr<std::unique_ptr<ReplicaProcess>> ReplicaProcess::Start(
    const ReplicaOptions& options, const SandboxSupport& sandbox, LogSink& sink,
    const Clock& clock) {
  if (options.argv.empty()) return absl::InvalidArgumentError("replica: empty command");
  if (options.private_dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("replica ", options.replica, ": private_dir is required"));
  }
  std::unique_ptr<ReplicaProcess> r(new ReplicaProcess(options, sink, clock));
  const std::string working_dir =
      options.working_dir.empty() ? options.private_dir : options.working_dir;

  // Sandbox or not.
  switch (options.sandbox) {
    case SandboxMode::kOff:
      break;
    case SandboxMode::kOn:
      if (!sandbox.available) {
        return absl::FailedPreconditionError(absl::StrCat(
            "replica ", options.replica, ": sandbox required but unavailable: ", sandbox.reason));
      }
      r->sandboxed_ = true;
      break;
    case SandboxMode::kAuto:
      r->sandboxed_ = sandbox.available;
      if (!sandbox.available) {
        r->log_.Warn("replica runs without sandbox", {{"reason", sandbox.reason}});
      }
      break;
  }

  // The command must exist, so that a typo is an error here, not a replica
  // that exits 127 (inside the sandbox setpriv would be the one to fail).
  const std::map<std::string, std::string> env = ReplicaEnv(options);
  const std::string& path_var = env.at("PATH");
  const SandboxUser user = options.uid != 0 ? SandboxUser{options.uid, options.gid}
                                            : SandboxUser{sandbox.uid, sandbox.gid};
  std::optional<std::string> command = FindCommand(options.argv[0], path_var, working_dir);
  if (!command.has_value()) {
    return absl::NotFoundError(absl::StrCat("cannot start ", QuotedCommand(options.argv),
                                            ": command \"", options.argv[0],
                                            "\" not found or not executable"));
  }

  // The unprivileged user must be able to reach the release (a checkout in
  // root's home is not): else run without the sandbox (auto) or refuse (on).
  if (r->sandboxed_) {
    std::vector<std::string> paths = {*command};
    for (size_t i = 1; i < options.argv.size(); ++i) {
      std::error_code ec;
      if (options.argv[i].starts_with("/") && std::filesystem::exists(options.argv[i], ec)) {
        paths.push_back(options.argv[i]);
      }
    }
    for (const std::string& path : paths) {
      std::string why = UnreachableReason(path, user.uid, user.gid);
      if (why.empty()) continue;
      if (options.sandbox == SandboxMode::kOn) {
        return absl::FailedPreconditionError(
            absl::StrCat("replica ", options.replica, ": the sandbox user cannot reach the release: ",
                         why));
      }
      r->log_.Warn("replica runs without sandbox",
                   {{"reason", absl::StrCat("the sandbox user cannot reach the release: ", why)}});
      r->sandboxed_ = false;
      break;
    }
  }

  // The private folder.
  std::error_code ec;
  std::filesystem::create_directories(options.private_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("replica ", options.replica, ": cannot create ",
                                            options.private_dir, ": ", ec.message()));
  }
  if (r->sandboxed_ && chown(options.private_dir.c_str(), user.uid, user.gid) != 0) {
    return absl::InternalError(absl::StrCat("replica ", options.replica, ": cannot chown ",
                                            options.private_dir, ": ", strerror(errno)));
  }
  if (chmod(options.private_dir.c_str(), 0700) != 0) {
    return absl::InternalError(absl::StrCat("replica ", options.replica, ": cannot chmod ",
                                            options.private_dir, ": ", strerror(errno)));
  }

  ProcessOptions popts;
  if (r->sandboxed_) {
    // A release that lives under /tmp (a checkout there, say) stays reachable.
    std::vector<std::string> keep_visible;
    std::vector<std::string> candidates = options.argv;
    candidates.push_back(working_dir);
    for (const std::string& path : candidates) {
      std::error_code exists_ec;
      if (path.starts_with("/tmp/") &&
          (options.private_dir.empty() || !path.starts_with(options.private_dir)) &&
          std::filesystem::exists(path, exists_ec)) {
        keep_visible.push_back(path);
      }
    }
    popts.argv = SandboxPrefix(sandbox, user, options.private_dir, working_dir, keep_visible,
                               options.hidden);
  }
  popts.argv.insert(popts.argv.end(), options.argv.begin(), options.argv.end());
  popts.clear_env = true;
  popts.env = env;
  popts.working_dir = working_dir;
  popts.stdout_mode = OutputMode::kPipe;
  popts.stderr_mode = OutputMode::kPipe;
  absl::StatusOr<std::unique_ptr<Process>> proc = Process::Spawn(popts);
  if (!proc.ok()) {
    return absl::Status(proc.status().code(),
                        absl::StrCat("cannot start ", QuotedCommand(options.argv), ": ",
                                     proc.status().message()));
  }
  r->workload_pid_ = (*proc)->pid();
  if (r->sandboxed_) {
    // bwrap -> its PID namespace's init -> setpriv, which execs the workload.
    auto deadline = std::chrono::steady_clock::now() + kFindWorkloadTimeout;
    while (std::chrono::steady_clock::now() < deadline && !(*proc)->TryWait().has_value()) {
      pid_t init = FirstChild((*proc)->pid());
      pid_t workload = init > 0 ? FirstChild(init) : -1;
      if (workload > 0) {
        r->workload_pid_ = workload;
        r->workload_pidfd_ = PidfdOpen(workload);
        break;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
    if (r->workload_pidfd_ < 0 && !(*proc)->TryWait().has_value()) {
      r->log_.Warn("cannot find the workload inside the sandbox; signals go to bwrap");
    }
  }
  r->stdout_fd_ = (*proc)->stdout_fd();
  r->stderr_fd_ = (*proc)->stderr_fd();
  {
    absl::MutexLock lock(&r->mu_);
    r->process_ = std::move(*proc);
  }
  r->reader_ = std::thread([p = r.get()] { p->ReadLoop(); });
  r->writer_ = std::thread([p = r.get()] { p->WriteLoop(); });
  return r;
}

ReplicaProcess::~ReplicaProcess() {
  Stop();
  {
    absl::MutexLock lock(&mu_);
    // Stop() waited for the output within a bound; past it, stop reading.
    abandon_output_ = true;
  }
  if (reader_.joinable()) reader_.join();
  if (writer_.joinable()) writer_.join();
  if (workload_pidfd_ >= 0) close(workload_pidfd_);
  absl::MutexLock lock(&mu_);
  process_.reset();  // closes the pipes
}

void ReplicaProcess::ReapLocked() {
  if (exit_.has_value() || process_ == nullptr) return;
  std::optional<ExitStatus> s = process_->TryWait();
  if (!s.has_value()) return;
  if (sandboxed_ && s->exited && s->code > 128 && s->code <= 128 + 64) {
    // bwrap's encoding of "the workload was killed by a signal".
    s->signal = s->code - 128;
    s->exited = false;
    s->code = 0;
  }
  if (!sandboxed_) {
    // As when a container's main process ends: what it left running goes too
    // (the group outlives its reaped leader only while members remain, so the
    // id still names it). The sandbox gets this from its PID namespace.
    kill(-process_->pid(), SIGKILL);
  }
  exit_ = s;
}

void ReplicaProcess::ReadLoop() {
  struct Stream {
    int fd;
    bool is_stderr;
    std::string partial;
    bool discarding = false;  // inside the rest of a truncated line
  };
  Stream streams[2] = {{stdout_fd_, false, "", false}, {stderr_fd_, true, "", false}};
  const size_t max_line = std::max<size_t>(options_.max_line_bytes, 1);
  std::optional<std::chrono::steady_clock::time_point> drain_deadline;
  char buf[16 * 1024];

  auto take_lines = [&](Stream& s) {
    size_t start = 0;
    while (true) {
      size_t nl = s.partial.find('\n', start);
      if (nl == std::string::npos) break;
      if (s.discarding) {
        s.discarding = false;
      } else {
        size_t end = nl;
        if (end > start && s.partial[end - 1] == '\r') --end;
        size_t len = end - start;
        Enqueue({s.partial.substr(start, std::min(len, max_line)), s.is_stderr, len > max_line});
      }
      start = nl + 1;
    }
    s.partial.erase(0, start);
    if (s.discarding) {
      s.partial.clear();
    } else if (s.partial.size() > max_line) {
      Enqueue({s.partial.substr(0, max_line), s.is_stderr, true});
      s.partial.clear();
      s.discarding = true;
    }
  };

  while (true) {
    pollfd fds[2];
    int n = 0;
    Stream* which[2];
    for (Stream& s : streams) {
      if (s.fd < 0) continue;
      fds[n] = {s.fd, POLLIN, 0};
      which[n++] = &s;
    }
    int r = n > 0 ? poll(fds, n, kPollMs) : (std::this_thread::sleep_for(milliseconds(kPollMs)), 0);
    for (int i = 0; i < n && r > 0; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        which[i]->partial.append(buf, static_cast<size_t>(got));
        take_lines(*which[i]);
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        which[i]->fd = -1;  // EOF; the fd itself is closed with process_
      }
    }
    absl::MutexLock lock(&mu_);
    ReapLocked();
    if (exit_.has_value() && !drain_deadline.has_value()) {
      drain_deadline = std::chrono::steady_clock::now() + kDrainAfterExit;
    }
    bool all_eof = streams[0].fd < 0 && streams[1].fd < 0;
    if ((exit_.has_value() && all_eof) || abandon_output_ ||
        (drain_deadline.has_value() && std::chrono::steady_clock::now() > *drain_deadline)) {
      break;
    }
  }
  // The last line, even without a newline.
  for (Stream& s : streams) {
    if (!s.partial.empty() && !s.discarding) {
      Enqueue({s.partial.substr(0, max_line), s.is_stderr, s.partial.size() > max_line});
    }
  }
  absl::MutexLock lock(&mu_);
  reader_done_ = true;
}

void ReplicaProcess::Enqueue(Chunk chunk) {
  absl::MutexLock lock(&mu_);
  if (queued_bytes_ + chunk.text.size() > options_.max_buffered_bytes && !queue_.empty()) {
    ++dropped_lines_;
    return;
  }
  queued_bytes_ += chunk.text.size();
  queue_.push_back(std::move(chunk));
}

void ReplicaProcess::WriteLoop() {
  auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || dropped_lines_ > 0 || reader_done_;
  };
  mu_.Lock();
  while (true) {
    mu_.Await(absl::Condition(&woken));
    std::deque<Chunk> batch;
    batch.swap(queue_);
    queued_bytes_ = 0;
    size_t dropped = std::exchange(dropped_lines_, 0);
    bool done = reader_done_;
    mu_.Unlock();
    for (const Chunk& c : batch) Emit(c);
    if (dropped > 0) {
      log_.Warn("replica log lines dropped", {{"dropped_lines", dropped},
                                              {"reason", "log sink slower than the replica"}});
    }
    mu_.Lock();
    // reader_done_ was read before the batch was taken, so nothing is left.
    if (done && queue_.empty() && dropped_lines_ == 0) break;
  }
  writer_done_ = true;
  mu_.Unlock();
}

void ReplicaProcess::Emit(const Chunk& c) const {
  const char* stream = c.is_stderr ? "stderr" : "stdout";
  if (!c.truncated && !c.text.empty() && c.text.front() == '{') {
    nlohmann::ordered_json rec = nlohmann::ordered_json::parse(c.text, nullptr, false);
    if (!rec.is_discarded() && rec.is_object()) {
      nlohmann::ordered_json out = nlohmann::ordered_json::object();
      auto string_or = [&](const char* key, const std::string& fallback) {
        auto it = rec.find(key);
        return it != rec.end() && it->is_string() ? it->get<std::string>() : fallback;
      };
      out["ts"] = string_or("ts", FormatTimestamp(clock_.Now()));
      out["level"] = string_or(
          "level", std::string(LogLevelName(c.is_stderr ? LogLevel::kWarn : LogLevel::kInfo)));
      out["msg"] = rec.contains("msg") ? rec["msg"] : nlohmann::ordered_json("");
      out["component"] = string_or("component", "replica");
      // The tags are hut's: a replica cannot claim to be another.
      out["service"] = options_.service;
      out["version"] = options_.version;
      out["replica"] = options_.replica;
      out["stream"] = stream;
      for (const auto& [key, value] : rec.items()) {
        if (!out.contains(key)) out[key] = value;
      }
      sink_.Write(out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      return;
    }
  }
  nlohmann::ordered_json fields = {{"stream", stream}};
  if (c.truncated) fields["truncated"] = true;
  log_.Log(c.is_stderr ? LogLevel::kWarn : LogLevel::kInfo, c.text, fields);
}

bool ReplicaProcess::SignalLocked(int signal, bool group) {
  if (exit_.has_value() || process_ == nullptr) return false;
  if (sandboxed_) {
    bool sent = workload_pidfd_ >= 0 && PidfdSignal(workload_pidfd_, signal);
    // Killing bwrap takes the whole PID namespace with it (--die-with-parent).
    if (group || workload_pidfd_ < 0) sent = process_->Signal(signal) || sent;
    return sent;
  }
  if (group) return kill(-process_->pid(), signal) == 0 || process_->Signal(signal);
  return process_->Signal(signal);
}

bool ReplicaProcess::Signal(int signal) {
  absl::MutexLock lock(&mu_);
  ReapLocked();
  return SignalLocked(signal, false);
}

std::optional<ExitStatus> ReplicaProcess::Exited() const {
  absl::MutexLock lock(&mu_);
  if (exit_.has_value() && writer_done_) return exit_;
  return std::nullopt;
}

std::optional<ExitStatus> ReplicaProcess::WaitFor(milliseconds timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return exit_.has_value() && writer_done_;
  };
  if (mu_.AwaitWithTimeout(absl::Condition(&done), absl::FromChrono(timeout))) return exit_;
  return std::nullopt;
}

ExitStatus ReplicaProcess::Stop(milliseconds grace) {
  absl::MutexLock lock(&mu_);
  if (process_ == nullptr) return ExitStatus{};  // Start() failed before spawning
  auto exited = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return exit_.has_value(); };
  auto written = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return writer_done_; };
  if (!stopped_) {
    ReapLocked();
    // Waits even if the signal found no workload: it may have just ended, and
    // its own status (not our SIGKILL) is the one to report.
    if (!exit_.has_value()) {
      SignalLocked(SIGTERM, false);
      mu_.AwaitWithTimeout(absl::Condition(&exited), absl::FromChrono(grace));
    }
    if (!exit_.has_value()) {
      SignalLocked(SIGKILL, true);
      // The reader thread reaps the child within kPollMs.
      mu_.Await(absl::Condition(&exited));
    }
    stopped_ = true;
  }
  // The output, within the reader's bound after the exit.
  mu_.AwaitWithTimeout(absl::Condition(&written),
                       absl::FromChrono(kDrainAfterExit + milliseconds(1000)));
  return *exit_;
}

}  // namespace hut::local

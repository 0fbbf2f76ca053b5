#include "src/common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace hut {
namespace {

ExitStatus FromWaitStatus(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  }
  return s;
}

// Builds the child's environment before fork: only async-signal-safe calls are
// allowed between fork and exec.
std::vector<std::string> BuildEnv(const ProcessOptions& options) {
  std::map<std::string, std::string> vars;
  if (!options.clear_env) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      size_t eq = entry.find('=');
      if (eq == std::string_view::npos) continue;
      vars.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
  }
  for (const auto& [k, v] : options.env) vars[k] = v;
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [k, v] : vars) out.push_back(absl::StrCat(k, "=", v));
  return out;
}

// Marks every descriptor above `last_kept` close-on-exec, so that a child
// gets its stdio and nothing else of ours: not a listening socket, a
// client's connection or a log file opened by code that forgot O_CLOEXEC
// (Asio's sockets among them). Async-signal-safe: for the child after fork.
void CloseOnExecAbove(int last_kept, long max_fd) {
  constexpr unsigned kCloseRangeCloexec = 1u << 2;  // CLOSE_RANGE_CLOEXEC, Linux 5.11
  if (syscall(SYS_close_range, static_cast<unsigned>(last_kept + 1), ~0u,
              kCloseRangeCloexec) == 0) {
    return;
  }
  for (long fd = last_kept + 1; fd < max_fd; ++fd) {
    const int flags = fcntl(static_cast<int>(fd), F_GETFD);
    if (flags >= 0) fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC);
  }
}

void CloseIfOpen(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (exited) return absl::StrCat("exit code ", code);
  return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
}

absl::StatusOr<std::unique_ptr<Process>> Process::Spawn(const ProcessOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty command");
  std::vector<std::string> env_strings = BuildEnv(options);
  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  // Opened before fork so that errors are reported here, not lost in the child.
  auto open_output = [](OutputMode mode, const std::string& path, int pipe_fds[2],
                        int& child_fd) -> absl::Status {
    switch (mode) {
      case OutputMode::kInherit:
        child_fd = -1;
        return absl::OkStatus();
      case OutputMode::kNull:
        child_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        break;
      case OutputMode::kFile:
        child_fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        break;
      case OutputMode::kPipe:
        if (pipe2(pipe_fds, O_CLOEXEC) != 0) child_fd = -1;
        else child_fd = pipe_fds[1];
        break;
    }
    if (child_fd < 0) {
      return absl::InternalError(absl::StrCat("cannot open output ",
                                              path.empty() ? "pipe" : path, ": ", strerror(errno)));
    }
    return absl::OkStatus();
  };
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  int child_out = -1, child_err = -1;
  if (absl::Status s = open_output(options.stdout_mode, options.stdout_path, out_pipe, child_out);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = open_output(options.stderr_mode, options.stderr_path, err_pipe, child_err);
      !s.ok()) {
    CloseIfOpen(child_out);
    CloseIfOpen(out_pipe[0]);
    return s;
  }
  // The child reports a failed exec through this pipe; a successful exec closes it.
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  const char* working_dir = options.working_dir.empty() ? nullptr : options.working_dir.c_str();
  pid_t parent = getpid();
  const long max_fd = sysconf(_SC_OPEN_MAX);

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(exec_pipe[0]);
    close(exec_pipe[1]);
    return absl::InternalError(absl::StrCat("fork: ", strerror(err)));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    if (options.kill_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
    }
    if (options.new_process_group) setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    if (child_out >= 0) dup2(child_out, STDOUT_FILENO);
    if (child_err >= 0) dup2(child_err, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    CloseOnExecAbove(STDERR_FILENO, max_fd);
    if (working_dir != nullptr && chdir(working_dir) != 0) {
      int err = errno;
      (void)!write(exec_pipe[1], &err, sizeof err);
      _exit(127);
    }
    execvpe(argv[0], argv.data(), envp.data());
    int err = errno;
    (void)!write(exec_pipe[1], &err, sizeof err);
    _exit(127);
  }

  close(exec_pipe[1]);
  CloseIfOpen(child_out);
  CloseIfOpen(child_err);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(exec_pipe[0]);
  if (n == sizeof child_errno) {
    int status;
    waitpid(pid, &status, 0);
    CloseIfOpen(out_pipe[0]);
    CloseIfOpen(err_pipe[0]);
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start \"", absl::StrJoin(options.argv, " "), "\": ", strerror(child_errno)));
  }
  return std::unique_ptr<Process>(new Process(pid, out_pipe[0], err_pipe[0]));
}

Process::~Process() {
  if (!exit_.has_value()) {
    kill(pid_, SIGKILL);
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  CloseIfOpen(stdout_fd_);
  CloseIfOpen(stderr_fd_);
}

bool Process::Signal(int signal) {
  if (exit_.has_value()) return false;
  return kill(pid_, signal) == 0;
}

std::optional<ExitStatus> Process::TryWait() {
  if (exit_.has_value()) return exit_;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) exit_ = FromWaitStatus(status);
  return exit_;
}

std::optional<ExitStatus> Process::WaitFor(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto step = std::chrono::milliseconds(1);
  while (true) {
    if (auto s = TryWait()) return s;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(50));
  }
}

ExitStatus Process::Stop(std::chrono::milliseconds grace, int first_signal) {
  if (auto s = TryWait()) return *s;
  Signal(first_signal);
  if (auto s = WaitFor(grace)) return *s;
  Signal(SIGKILL);
  int status;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_ = FromWaitStatus(status);
  return *exit_;
}

absl::StatusOr<CommandResult> RunCommand(const ProcessOptions& options,
                                         std::chrono::milliseconds timeout) {
  ProcessOptions opts = options;
  // Both streams are read from their own pipes and appended in arrival order.
  opts.stdout_mode = OutputMode::kPipe;
  opts.stderr_mode = OutputMode::kPipe;
  auto proc = Process::Spawn(opts);
  if (!proc.ok()) return proc.status();
  CommandResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{(*proc)->stdout_fd(), POLLIN, 0}, {(*proc)->stderr_fd(), POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      (*proc)->Stop(std::chrono::milliseconds(0), SIGKILL);
      return absl::DeadlineExceededError(absl::StrCat("\"", absl::StrJoin(options.argv, " "),
                                                      "\" did not finish within ",
                                                      timeout.count(), " ms"));
    }
    int r = poll(fds, 2, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) break;
    for (pollfd& p : fds) {
      if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p.fd, buf, sizeof buf);
      if (n > 0) {
        result.output.append(buf, n);
      } else if (n == 0 || errno != EINTR) {
        p.fd = -1;
        --open_fds;
      }
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  auto status = (*proc)->WaitFor(std::max(left, std::chrono::milliseconds(0)));
  if (!status.has_value()) {
    (*proc)->Stop(std::chrono::milliseconds(0), SIGKILL);
    return absl::DeadlineExceededError(absl::StrCat(
        "\"", absl::StrJoin(options.argv, " "), "\" did not finish within ", timeout.count(), " ms"));
  }
  result.status = *status;
  return result;
}

}  // namespace hut

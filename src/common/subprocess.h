#ifndef HUT_COMMON_SUBPROCESS_H_
#define HUT_COMMON_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hut {

// How a child's stdout or stderr is connected.
enum class OutputMode {
  kInherit,  // the parent's stream
  kNull,     // /dev/null
  kFile,     // appended to a file
  kPipe,     // a pipe the parent reads (Process::stdout_fd / stderr_fd)
};

struct ProcessOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  // Variables set (or replaced) in the child's environment.
  std::map<std::string, std::string> env;
  // Start from an empty environment instead of the parent's.
  bool clear_env = false;
  std::string working_dir;  // empty: the parent's
  OutputMode stdout_mode = OutputMode::kInherit;
  std::string stdout_path;  // for kFile
  OutputMode stderr_mode = OutputMode::kInherit;
  std::string stderr_path;  // for kFile
  // The child gets SIGKILL when the spawning thread exits, so that a crashed
  // parent leaves nothing behind. Spawn from a long-lived thread.
  bool kill_with_parent = true;
  // The child leads a new process group, so Ctrl-C at a terminal reaches only
  // the parent, which then stops its children in order.
  bool new_process_group = true;
};

struct ExitStatus {
  bool exited = false;  // false: ended by a signal
  int code = 0;         // exit code when exited
  int signal = 0;       // signal number otherwise
  bool success() const { return exited && code == 0; }
  std::string ToString() const;  // "exit code 1", "killed by signal 9 (Killed)"
};

// A child process. It gets stdin from /dev/null, stdout and stderr as
// configured, and no other descriptor of the parent's: every other one is
// closed at exec, whether or not it was opened with O_CLOEXEC. Owns it: the destructor kills (SIGKILL) and reaps a child
// that is still running, so a Process never outlives its owner unnoticed.
// Not safe for concurrent use.
class Process {
 public:
  static absl::StatusOr<std::unique_ptr<Process>> Spawn(const ProcessOptions& options);

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  int stdout_fd() const { return stdout_fd_; }  // -1 unless kPipe
  int stderr_fd() const { return stderr_fd_; }  // -1 unless kPipe

  // Sends `signal` to the child (not its group). False if it has been reaped.
  bool Signal(int signal);
  // The exit status if the child has ended, without blocking.
  std::optional<ExitStatus> TryWait();
  // Waits up to `timeout` for the child to end.
  std::optional<ExitStatus> WaitFor(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL if it has not ended after `grace`. Returns how it ended.
  ExitStatus Stop(std::chrono::milliseconds grace, int first_signal = 15 /*SIGTERM*/);

 private:
  Process(pid_t pid, int stdout_fd, int stderr_fd)
      : pid_(pid), stdout_fd_(stdout_fd), stderr_fd_(stderr_fd) {}

  pid_t pid_;
  int stdout_fd_;
  int stderr_fd_;
  std::optional<ExitStatus> exit_;
};

struct CommandResult {
  ExitStatus status;
  std::string output;  // stdout and stderr, interleaved
};

// Runs a command to completion, capturing its output. Fails if it cannot be
// started or does not finish within `timeout` (it is then killed).
absl::StatusOr<CommandResult> RunCommand(const ProcessOptions& options,
                                         std::chrono::milliseconds timeout);

}  // namespace hut

#endif  // HUT_COMMON_SUBPROCESS_H_

#ifndef HUT_LOCAL_REPLICA_PROCESS_H_
#define HUT_LOCAL_REPLICA_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/common/subprocess.h"

namespace hut::local {

// Whether a replica runs in the sandbox (ADR-009: non-root, read-only root).
enum class SandboxMode {
  kAuto,  // sandboxed when the machine allows it, else plain with a WARN line
  kOn,    // sandboxed, or Start() fails
  kOff,   // plain child process
};

// What this machine offers for sandboxing replicas. Probe once (ProbeSandbox)
// in the wiring place and share it: the probe runs bubblewrap.
struct SandboxSupport {
  bool available = false;
  std::string reason;        // why not, when !available
  std::string bwrap_path;    // absolute
  std::string setpriv_path;  // absolute
  std::string user;          // the unprivileged user replicas run as
  uid_t uid = 0;
  gid_t gid = 0;
};

// The user replicas run as: "hut-replica" if that account exists, else "nobody".
inline constexpr char kReplicaUser[] = "hut-replica";
inline constexpr char kFallbackReplicaUser[] = "nobody";

// Checks that we are root, that bwrap and setpriv are installed and that
// `bwrap ... setpriv ... true` works here (bounded to a few seconds). Never
// fails: an unusable sandbox is a value with the reason.
SandboxSupport ProbeSandbox();

struct ReplicaOptions {
  std::string service;  // "backend"
  std::string version;  // "v2"
  std::string replica;  // "backend-r3-a1b2"
  // The command, already expanded; argv[0] is looked up in PATH (env's PATH
  // when set there, else hut's).
  std::vector<std::string> argv;
  // The replica's whole environment (PORT among them), on top of a minimal
  // base: PATH (a system default unless set here), HOME (the private
  // folder) and LANG. Nothing of hut's own environment reaches a replica.
  std::map<std::string, std::string> env;
  std::string working_dir;  // empty: private_dir
  // The replica's own writable folder: created if missing, mode 0700, owned by
  // the sandbox user when sandboxed. Inside the sandbox the only writable
  // places are this folder (same path) and a fresh /tmp. Required.
  std::string private_dir;
  SandboxMode sandbox = SandboxMode::kAuto;
  // The user and group the sandboxed replica runs as; 0: the sandbox's
  // user (SandboxSupport::uid). One per service keeps services from reading
  // each other's private folders.
  uid_t uid = 0;
  gid_t gid = 0;
  // Folders the sandbox hides behind an empty read-only tmpfs (hut's state
  // folder, say); the private folder stays visible even when inside one.
  std::vector<std::string> hidden;
  // Between SIGTERM and SIGKILL in Stop() and the destructor.
  std::chrono::milliseconds grace{10'000};
  // Longest output line kept; the rest of the line is dropped and the record
  // gets "truncated": true.
  size_t max_line_bytes = 64 * 1024;
  // Output read but not yet written to the sink. When a slow sink lets this
  // fill up, further lines are dropped (never the replica blocked) and a WARN
  // "replica log lines dropped" with the count follows once there is room.
  size_t max_buffered_bytes = 4 * 1024 * 1024;
};

// One replica: a child process (sandboxed with bubblewrap + setpriv when
// allowed) whose stdout and stderr become JSON log lines on a LogSink.
//
// Log lines: a line that is a JSON object is kept (its ts, level, msg and
// fields) with "service", "version", "replica" and "stream" (stdout|stderr)
// set, and "component" set to "replica" if it had none; any other line becomes
// {"ts", "level": INFO (stdout) | WARN (stderr), "msg": line, "component":
// "replica", tags...}. hut's own lines about the replica (sandbox fallback,
// dropped lines) carry the same tags.
//
// Sandboxed: `bwrap --ro-bind / / --dev /dev --proc /proc --perms 1777 --tmpfs /tmp --bind
// D D --unshare-pid --unshare-ipc --unshare-uts --die-with-parent --new-session
// -- setpriv --reuid=U --regid=G --clear-groups --no-new-privs argv...`. The
// network is shared (replicas listen on loopback for HAProxy). Signals go to
// the workload itself (bwrap forwards none); if hut dies, bwrap dies with it
// and the kernel kills everything in the replica's PID namespace.
//
// Exit status when sandboxed comes from bwrap, which reports a workload killed
// by signal N as exit code 128+N; it is reported here as that signal, so a
// workload that itself exits with 129..192 is misread as killed by a signal.
//
// When the workload ends, whatever it left running ends too: its process group
// gets SIGKILL (plain), or its PID namespace goes (sandboxed).
//
// Two threads per replica: one reads the pipes and reaps the child, one writes
// to the sink. All public methods are safe for concurrent use.
class ReplicaProcess {
 public:
  // Starts the replica. Fails (naming the command) if argv[0] is not found or
  // cannot be executed, if the private folder cannot be prepared, or if the
  // mode is kOn and `sandbox` is unavailable. The child is killed if the
  // calling thread exits (see ProcessOptions::kill_with_parent): call from a
  // long-lived thread. `sink` and `clock` must outlive the ReplicaProcess.
  static absl::StatusOr<std::unique_ptr<ReplicaProcess>> Start(const ReplicaOptions& options,
                                                               const SandboxSupport& sandbox,
                                                               LogSink& sink, const Clock& clock);

  ReplicaProcess(const ReplicaProcess&) = delete;
  ReplicaProcess& operator=(const ReplicaProcess&) = delete;
  // Stop(options.grace), then waits for the log threads.
  ~ReplicaProcess();

  // The workload's pid in hut's PID namespace (setpriv execs it, so it is the
  // command's own pid); the child's pid when not sandboxed.
  pid_t pid() const { return workload_pid_; }
  bool sandboxed() const { return sandboxed_; }
  const ReplicaOptions& options() const { return options_; }

  // How the replica ended, once it has ended and its output has been written
  // to the sink (so no line is reported after the exit); nullopt while it
  // runs. Non-blocking; the controller polls this. Exit is noticed within
  // about 50 ms.
  std::optional<ExitStatus> Exited() const;
  // Exited(), waiting up to `timeout` for it.
  std::optional<ExitStatus> WaitFor(std::chrono::milliseconds timeout) const;

  // SIGTERM to the workload, then, if it has not ended after `grace`, SIGKILL
  // to it and everything it started (its process group, or its sandbox).
  // Returns how it ended. Idempotent: later calls return the same status.
  // Blocks up to grace plus a moment.
  ExitStatus Stop(std::chrono::milliseconds grace);
  ExitStatus Stop() { return Stop(options_.grace); }

  // Sends `signal` to the workload (not its children). False once it has ended.
  bool Signal(int signal);

 private:
  struct Chunk {
    std::string text;
    bool is_stderr = false;
    bool truncated = false;
  };

  ReplicaProcess(ReplicaOptions options, LogSink& sink, const Clock& clock);
  void ReadLoop();   // reader thread: pipes -> queue_, and reaps the child
  void WriteLoop();  // writer thread: queue_ -> sink
  void Enqueue(Chunk chunk);
  void Emit(const Chunk& chunk) const;
  // Sends to the workload (and, if `group`, its group or sandbox).
  bool SignalLocked(int signal, bool group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ReplicaOptions options_;
  LogSink& sink_;
  const Clock& clock_;
  Logger log_;  // hut's own lines, tagged
  bool sandboxed_ = false;
  pid_t workload_pid_ = -1;
  int workload_pidfd_ = -1;  // sandboxed: race-free signals to the workload

  mutable absl::Mutex mu_;
  std::unique_ptr<Process> process_ ABSL_GUARDED_BY(mu_);
  std::optional<ExitStatus> exit_ ABSL_GUARDED_BY(mu_);  // reaped
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;           // Stop() finished
  std::deque<Chunk> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t dropped_lines_ ABSL_GUARDED_BY(mu_) = 0;
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_done_ ABSL_GUARDED_BY(mu_) = false;
  bool abandon_output_ ABSL_GUARDED_BY(mu_) = false;  // destructor: stop reading

  int stdout_fd_ = -1;  // owned by process_, read only by the reader thread
  int stderr_fd_ = -1;
  std::thread reader_;
  std::thread writer_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_REPLICA_PROCESS_H_

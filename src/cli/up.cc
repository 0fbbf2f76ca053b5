#include "src/cli/up.h"

#include <signal.h>
#include <time.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/cli/api_client.h"
#include "src/cli/validate.h"
#include "src/http/client.h"
#include "src/common/units.h"
#include "src/platform/platform.h"
#include "src/spec/load.h"

namespace hut::cli {
namespace {
namespace fs = std::filesystem;

std::string EnvOr(const Io& io, const std::string& name, const std::string& fallback) {
  if (!io.getenv) return fallback;
  std::optional<std::string> v = io.getenv(name);
  return v && !v->empty() ? *v : fallback;
}

// The environment `hut up` runs when none is named.
std::string DefaultEnvironment(const spec::Spec& spec, const Io& io) {
  std::string env = EnvOr(io, "HUT_ENV", "");
  if (!env.empty()) return env;
  if (spec.FindEnvironment("development") != nullptr) return "development";
  return spec.environments.empty() ? "" : spec.environments.front().name;
}

// "14:03:07" in local time.
std::string Clock(TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

// Prints the events recorded since `*after` as readable lines.
void PrintNewEvents(store::Store& store, int64_t* after, const Io& io) {
  auto events = store.EventsAfter(*after, 200);
  if (!events.ok()) return;
  for (const store::Event& e : *events) {
    io.out << Clock(e.at) << "  " << std::left << std::setw(10) << e.service << " " << e.message
           << "\n";
    *after = e.id;
  }
  io.out.flush();
}

// Whether `pid` runs (a zombie, exited but not yet reaped by its parent, does not).
bool ProcessRunning(int pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t paren = line.rfind(')');  // the command name may hold spaces
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

}  // namespace

int RunUp(const UpOptions& options, const Io& io) {
  const char* cmd = options.server_mode ? "hut server" : "hut up";
  const std::string path = SpecPath(options.file, io);
  spec::LoadResult loaded = spec::LoadSpecFile(path);
  for (const spec::Problem& w : loaded.warnings) io.err << "warning: " << w.ToString() << "\n";
  if (!loaded.ok()) {
    for (const spec::Problem& p : loaded.problems) io.err << p.ToString() << "\n";
    io.err << cmd << ": " << path << " has problems; nothing was started\n";
    return kExitFailure;
  }
  spec::Spec spec = *loaded.spec;

  platform::PlatformOptions po;
  po.environment =
      options.environment.empty() ? DefaultEnvironment(spec, io) : options.environment;
  const spec::Environment* env = spec.FindEnvironment(po.environment);
  if (env == nullptr) {
    std::string known;
    for (const spec::Environment& e : spec.environments) {
      absl::StrAppend(&known, known.empty() ? "" : ", ", e.name);
    }
    io.err << cmd << ": " << path << " has no environment \"" << po.environment
           << "\" (environments: " << known << ")\n";
    return kExitFailure;
  }
  po.kubeconfig = options.kubeconfig;
  po.prometheus = options.prometheus;
  po.alertmanager = options.alertmanager;
  po.alert_token_file = options.alert_token_file;
  po.otlp_endpoint = options.otlp_endpoint;
  po.trace_query = options.trace_query;
  po.state_dir = options.state_dir.empty()
                     ? (fs::absolute(path).parent_path() / ".hut").string()
                     : options.state_dir;
  auto listen = server::ParseHostPort(
      options.listen.empty() ? EnvOr(io, "HUT_ADDR", server::kDefaultAddress) : options.listen);
  if (!listen.ok()) {
    io.err << cmd << ": --listen: " << listen.status().message() << "\n";
    return kExitUsage;
  }
  po.listen = *listen;
  po.store = options.store.empty() ? EnvOr(io, "HUT_STORE", "") : options.store;
  po.spec_dir = fs::absolute(path).parent_path().string();
  if (options.sandbox == "auto") {
    po.sandbox = local::SandboxMode::kAuto;
  } else if (options.sandbox == "on") {
    po.sandbox = local::SandboxMode::kOn;
  } else if (options.sandbox == "off") {
    po.sandbox = local::SandboxMode::kOff;
  } else {
    io.err << cmd << ": --sandbox: \"" << options.sandbox << "\" is not auto, on or off\n";
    return kExitUsage;
  }
  // PORT, 0 for a free one, or (with `off_allowed`) off.
  auto port_flag = [&](const char* flag, const std::string& value, bool off_allowed,
                       std::optional<uint16_t>* out) {
    if (off_allowed && value == "off") {
      out->reset();
      return true;
    }
    int port = -1;
    if (!absl::SimpleAtoi(value, &port) || port < 0 || port > 65535) {
      io.err << cmd << ": " << flag << ": \"" << value << "\" is not a port (0-65535, 0 for a free one)"
             << (off_allowed ? " or off" : "") << "\n";
      return false;
    }
    *out = static_cast<uint16_t>(port);
    return true;
  };
  std::optional<uint16_t> otlp_port;
  if (!port_flag("--prometheus-port", options.prometheus_port, true, &po.prometheus_port) ||
      !port_flag("--alertmanager-port", options.alertmanager_port, true,
                 &po.alertmanager_port) ||
      !port_flag("--jaeger-port", options.jaeger_port, true, &po.jaeger_port) ||
      !port_flag("--otlp-port", options.otlp_port, false, &otlp_port)) {
    return kExitUsage;
  }
  po.otlp_port = *otlp_port;
  po.home = io.getenv ? io.getenv("HOME") : std::nullopt;
  po.getenv = io.getenv;
  StreamLogSink stderr_sink(stderr);
  if (options.server_mode) po.log_echo = &stderr_sink;

  // Signals are taken synchronously below; every thread started from here on
  // inherits the mask, so none of them is interrupted.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, s);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);

  io.out << cmd << ": starting " << env->name << " from " << path << " (state in "
         << po.state_dir << ")\n";
  if (!options.server_mode && env->runtime != spec::Runtime::kLocal) {
    po.runtime = spec::Runtime::kLocal;
    io.out << cmd << ": " << env->name << " names the " << spec::Name(env->runtime)
           << " runtime; hut up runs it on this machine with the local runtime instead "
              "(processes, HAProxy, local PostgreSQL and Redis)\n";
  }
  if (!options.server_mode &&
      env->policies.secrets.backend != spec::SecretBackendKind::kLocal) {
    po.secret_backend = spec::SecretBackendKind::kLocal;
    io.out << cmd << ": " << env->name << " keeps its secrets in "
           << spec::Name(env->policies.secrets.backend)
           << "; hut up keeps them in the local backend (STATE/secrets/) instead\n";
  }
  io.out.flush();
  auto started = platform::Platform::Start(spec, po);
  if (!started.ok()) {
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    io.err << cmd << ": cannot start: " << started.status().message() << "\n";
    return kExitFailure;
  }
  platform::Platform& platform = **started;
  for (const std::string& w : platform.warnings()) io.err << cmd << ": warning: " << w << "\n";
  if (std::string standby = platform.standby(); !standby.empty()) {
    io.out << cmd << ": standing by: " << standby
           << "; this server takes over when that lease lapses\n"
           << "  logs         " << po.state_dir << "/logs/\n";
  } else {
    io.out << "  control API  http://" << platform.address() << "  (token in "
           << platform.token_file() << ")\n";
    for (const platform::Endpoint& e : platform.endpoints()) {
      io.out << "  " << std::left << std::setw(11) << e.service << "  " << e.url << "\n";
    }
    if (std::string prometheus = platform.prometheus_url(); !prometheus.empty()) {
      io.out << "  prometheus   " << prometheus << "\n";
    }
    if (std::string alertmanager = platform.alertmanager_url(); !alertmanager.empty()) {
      io.out << "  alertmanager " << alertmanager << "\n";
    }
    if (std::string jaeger = platform.jaeger_url(); !jaeger.empty()) {
      io.out << "  jaeger       " << jaeger << "\n";
    }
    io.out << "  logs         " << po.state_dir << "/logs/\n"
           << "Ready. Deploy with `hut deploy SERVICE VERSION`; stop with Ctrl-C or `hut down`.\n";
  }
  io.out.flush();

  int64_t after = 0;
  if (auto last = platform.store().EventsAfter(0, 1'000'000); last.ok() && !last->empty()) {
    after = last->back().id;  // show only what happens from now on
  }
  int signal_number = 0;
  while (!platform.shutdown_requested()) {
    timespec wait{0, 200'000'000};
    int s = sigtimedwait(&stop_signals, nullptr, &wait);
    if (s > 0) {
      signal_number = s;
      break;
    }
    if (!options.server_mode) PrintNewEvents(platform.store(), &after, io);
  }
  if (!options.server_mode) PrintNewEvents(platform.store(), &after, io);
  io.out << cmd << ": stopping ("
         << (signal_number ? strsignal(signal_number) : "asked by `hut down`") << ")\n";
  io.out.flush();
  platform.Stop();
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  io.out << cmd << ": stopped\n";
  return kExitOk;
}

int RunDown(const DownOptions& options, const Io& io) {
  auto timeout = ParseDuration(options.timeout);
  if (!timeout.ok()) {
    io.err << "hut down: --timeout: " << timeout.status().message() << "\n";
    return kExitUsage;
  }
  std::error_code ec;
  auto target = ResolveServer(io, fs::current_path(ec).string());
  if (!target.ok()) {
    io.err << "hut down: " << target.status().message() << "\n";
    return kExitFailure;
  }
  const std::string address = target->address.ToString();
  if (!target->token) {
    // Without a token, tell "nothing runs" (the usual case) from "a server
    // runs but its token is not here".
    http::ClientRequest probe;
    probe.host = target->address.host;
    probe.port = target->address.port;
    probe.target = "/healthz";
    probe.timeout = std::chrono::milliseconds(2000);
    if (!http::Fetch(probe).ok()) {
      io.out << "hut down: no hut server is running at " << address << "; nothing to stop\n";
      return kExitOk;
    }
    io.err << "hut down: a server answers at " << address << " but no admin token was found ("
           << target->token_source << ")\n";
    return kExitFailure;
  }
  // The server's pid, to wait for the whole environment to stop.
  int pid = 0;
  if (auto pointer = server::PointerPath(io.getenv ? io.getenv("HOME") : std::nullopt,
                                         target->address)) {
    if (auto info = server::ReadPointer(*pointer); info.ok()) pid = info->pid;
  }
  http::ClientRequest request;
  request.method = "POST";
  request.host = target->address.host;
  request.port = target->address.port;
  request.target = "/api/v1/shutdown";
  request.headers.emplace("Authorization", "Bearer " + target->token->Reveal());
  auto answer = http::Fetch(request);
  if (!answer.ok() && absl::IsDeadlineExceeded(answer.status())) {
    io.err << "hut down: the server at " << address << " does not answer ("
           << answer.status().message() << ")\n";
    return kExitFailure;
  }
  if (!answer.ok()) {
    io.out << "hut down: no hut server is running at " << address << "; nothing to stop\n";
    return kExitOk;
  }
  if (answer->status == 401) {
    io.err << "hut down: the server at " << address << " refused the admin token from "
           << target->token_source << "\n";
    return kExitFailure;
  }
  if (answer->status != 202) {
    io.err << "hut down: the server at " << address << " answered HTTP " << answer->status
           << ": " << answer->body << "\n";
    return kExitFailure;
  }
  io.out << "hut down: the server at " << address << " is stopping everything it started...\n";
  io.out.flush();
  const auto deadline = std::chrono::steady_clock::now() + *timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bool gone;
    if (pid > 0) {
      gone = !ProcessRunning(pid);
    } else {
      request.method = "GET";
      request.target = "/api/v1/services";
      gone = !http::Fetch(request).ok();
    }
    if (gone) {
      io.out << "hut down: stopped\n";
      return kExitOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  io.err << "hut down: the server at " << address << " has not stopped after "
         << options.timeout << "\n";
  return kExitFailure;
}

}  // namespace hut::cli

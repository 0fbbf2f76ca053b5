#include "src/local/local_runtime.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "src/common/ports.h"
#include "src/common/status.h"
#include "src/common/units.h"
#include "src/http/trace_context.h"
#include "src/local/server_util.h"
#include "src/spec/spec.h"

namespace hut::local {
using std::chrono::milliseconds;

LocalRuntime::LocalRuntime(LocalRuntimeOptions options, Haproxy& lb, LogSink& sink,
                           const Clock& clock, Logger logger)
    : options_(std::move(options)),
      lb_(lb),
      sink_(sink),
      clock_(clock),
      logger_(std::move(logger)),
      sandbox_(options_.sandbox == SandboxMode::kOff ? SandboxSupport{} : ProbeSandbox()) {
  if (options_.sandbox != SandboxMode::kOff && !sandbox_.available) {
    logger_.Warn("replicas run without a sandbox", {{"reason", sandbox_.reason}});
  }
  replicas_dir_ = absl::StrCat(options_.state_dir, "/replicas");
  if (sandbox_.available) {
    // Sandboxed replicas see their private folder at its own path, so their
    // user must be able to reach it.
    std::string note;
    auto dir = ReachableFolder(replicas_dir_, sandbox_.uid, sandbox_.gid, &note);
    if (dir.ok()) {
      replicas_dir_ = *dir;
      if (!note.empty()) logger_.Warn("replicas' private folders moved", {{"why", note}});
    } else {
      logger_.Warn("cannot prepare replicas' folder", {{"error", dir.status().ToString()}});
    }
  }
  monitor_ = std::thread([this] { MonitorLoop(); });
}

LocalRuntime::~LocalRuntime() {
  std::vector<std::pair<std::string, std::string>> all;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [service, replicas] : replicas_) {
      for (auto& [name, replica] : replicas) {
        if (!replica->leaving) all.emplace_back(service, name);
      }
    }
  }
  monitor_.join();
  for (auto& [service, name] : all) (void)DrainAndStop(service, name);
  std::vector<std::future<void>> retiring;
  {
    absl::MutexLock lock(&mu_);
    retiring = std::move(retiring_);
  }
  for (auto& f : retiring) f.wait();
}

LocalRuntime::Replica* LocalRuntime::Find(const std::string& service, const std::string& name) {
  auto s = replicas_.find(service);
  if (s == replicas_.end()) return nullptr;
  auto r = s->second.find(name);
  return r == s->second.end() ? nullptr : r->second.get();
}

namespace {

// FNV-1a: a hash that stays the same across builds and runs.
uint32_t StableHash(std::string_view text) {
  uint32_t h = 2166136261u;
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return h;
}

}  // namespace

SandboxIdentity LocalRuntime::ServiceUser(const std::string& service) {
  absl::MutexLock lock(&mu_);
  if (auto it = service_uids_.find(service); it != service_uids_.end()) {
    return {it->second, static_cast<gid_t>(it->second)};
  }
  uid_t uid = kServiceUidBase +
              StableHash(absl::StrCat(options_.state_dir, "\n", service)) % kServiceUidRange;
  auto taken = [&](uid_t u) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [name, used] : service_uids_) {
      if (used == u) return true;
    }
    return false;
  };
  while (taken(uid)) uid = kServiceUidBase + (uid - kServiceUidBase + 1) % kServiceUidRange;
  service_uids_[service] = uid;
  return {uid, static_cast<gid_t>(uid)};
}

absl::StatusOr<std::string> LocalRuntime::InstallSecretFile(const std::string& source,
                                                            const std::string& private_dir,
                                                            const std::string& secret,
                                                            SandboxIdentity owner) const {
  namespace fs = std::filesystem;
  const std::string dir = absl::StrCat(private_dir, "/secrets");
  const std::string copy = absl::StrCat(dir, "/", secret);
  auto fail = [&](const std::string& what, const std::string& why) {
    return absl::InternalError(absl::StrCat("cannot install secret \"", secret, "\" (", what,
                                            "): ", why));
  };
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(dir, ec.message());
  // Written beside and renamed: a replica reading it meanwhile sees the old
  // copy or the new one, never half of one.
  const std::string tmp = copy + ".new";
  fs::remove(tmp, ec);
  fs::copy_file(source, tmp, ec);
  if (ec) return fail(source, ec.message());
  if (chmod(dir.c_str(), 0700) != 0 || chmod(tmp.c_str(), 0400) != 0) {
    return fail(copy, strerror(errno));
  }
  if (sandbox_.available && (chown(private_dir.c_str(), owner.uid, owner.gid) != 0 ||
                             chown(dir.c_str(), owner.uid, owner.gid) != 0 ||
                             chown(tmp.c_str(), owner.uid, owner.gid) != 0)) {
    return fail(copy, strerror(errno));
  }
  fs::rename(tmp, copy, ec);
  if (ec) return fail(copy, ec.message());
  return copy;
}

absl::StatusOr<std::string> LocalRuntime::StartReplica(const runtime::RevisionTemplate& t) {
  HUT_ASSIGN_OR_RETURN(uint16_t port, FreeLoopbackPort());
  auto replica = std::make_unique<Replica>();
  replica->spec = t;
  std::string name = absl::StrCat(t.service, "-r", t.revision, "-", http::RandomHex(2));

  ReplicaOptions& p = replica->process_options;
  p.private_dir = absl::StrCat(replicas_dir_, "/", name);
  const SandboxIdentity user = ServiceUser(t.service);
  p.uid = user.uid;
  p.gid = user.gid;
  // hut's state (the admin token, the store, other replicas' folders) is not
  // the replica's to see.
  p.hidden = {options_.state_dir};
  if (!replicas_dir_.starts_with(options_.state_dir + "/")) p.hidden.push_back(replicas_dir_);

  spec::ReleaseContext context;
  context.version = t.version;
  context.port = port;
  context.service = t.service;
  context.environment = options_.environment;
  const std::set<std::string> named = spec::BackingServicesNamed(t.release);
  for (const auto& [backing, access] : options_.backing) {
    if (!named.contains(backing)) continue;
    HUT_ASSIGN_OR_RETURN(
        const std::string copy,
        InstallSecretFile(access.password_file, p.private_dir, "backing-" + backing, user));
    context.backing_password_files[backing] = copy;
    context.backing_urls[backing] =
        access.passfile_in_url ? absl::StrCat(access.url, "?passfile=", copy) : access.url;
  }
  for (const auto& [secret, source] : options_.secret_files) {
    if (!spec::NamesSecret(t.release, secret)) continue;
    HUT_ASSIGN_OR_RETURN(context.secret_files[secret],
                         InstallSecretFile(source, p.private_dir, secret, user));
  }
  spec::Release with_env = t.release;
  for (const auto& [k, v] : options_.env) with_env.env.emplace(k, v);  // the release's win
  spec::Release release = spec::ExpandRelease(with_env, context);

  p.service = t.service;
  p.version = t.version;
  p.replica = name;
  p.argv = release.command;
  p.env = release.env;
  for (const auto& [k, v] : t.env) p.env[k] = v;
  p.env["PORT"] = std::to_string(port);
  p.working_dir = options_.working_dir;
  p.sandbox = options_.sandbox;
  p.grace = t.termination_grace;

  HUT_ASSIGN_OR_RETURN(replica->process, spawner_.Run([&] {
    return ReplicaProcess::Start(p, sandbox_, sink_, clock_);
  }));
  // The controller sets the effective threshold (spec::HealthCheckFailures).
  replica->readiness = health::FailureCounter(t.health.failure_threshold.value_or(3));
  replica->status.name = name;
  replica->status.revision = t.revision;
  replica->status.version = t.version;
  replica->status.address = "127.0.0.1";
  replica->status.port = port;
  replica->status.pid = replica->process->pid();
  replica->status.started_at = replica->status.process_started_at = clock_.Now();
  replica->next_probe = clock_.Now();
  replica->backoff = options_.restart_backoff;
  logger_.Info("replica started", {{"service", t.service}, {"replica", name},
                                   {"version", t.version}, {"port", port},
                                   {"pid", replica->process->pid()}});
  {
    absl::MutexLock lock(&mu_);
    replicas_[t.service][name] = std::move(replica);
  }
  if (options_.on_replicas_changed) options_.on_replicas_changed();
  return name;
}

absl::Status LocalRuntime::AddToLoadBalancer(const std::string& service,
                                             const std::string& name, int weight) {
  LbServer server;
  {
    absl::MutexLock lock(&mu_);
    Replica* r = Find(service, name);
    if (r == nullptr || r->leaving) {
      return absl::NotFoundError(absl::StrCat("no running replica ", service, "/", name));
    }
    server = {name, r->status.address, r->status.port, weight};
  }
  HUT_RETURN_IF_ERROR(lb_.AddServer(service, server));
  absl::MutexLock lock(&mu_);
  if (Replica* r = Find(service, name)) {
    r->status.in_load_balancer = true;
    r->status.weight = weight;
  }
  return absl::OkStatus();
}

absl::Status LocalRuntime::SetWeight(const std::string& service, const std::string& name,
                                     int weight) {
  HUT_RETURN_IF_ERROR(lb_.SetWeight(service, name, weight));
  absl::MutexLock lock(&mu_);
  if (Replica* r = Find(service, name)) r->status.weight = weight;
  return absl::OkStatus();
}

absl::Status LocalRuntime::DrainAndStop(const std::string& service, const std::string& name) {
  absl::MutexLock lock(&mu_);
  Replica* r = Find(service, name);
  if (r == nullptr || r->leaving) return absl::OkStatus();
  r->leaving = true;
  r->drain = r->status.in_load_balancer;
  r->status.draining = true;
  r->leave_deadline = clock_.Now() + r->spec.termination_grace;
  std::erase_if(retiring_, [](const std::future<void>& f) {
    return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  });
  retiring_.push_back(std::async(std::launch::async, [this, service, name] {
    Retire(service, name);
  }));
  return absl::OkStatus();
}

absl::Status LocalRuntime::Stop(const std::string& service, const std::string& name) {
  return DrainAndStop(service, name);  // one path: a replica not in the LB skips the drain
}

void LocalRuntime::Retire(std::string service, std::string name) {
  bool drain;
  TimePoint deadline;
  {
    absl::MutexLock lock(&mu_);
    Replica* r = Find(service, name);
    if (r == nullptr) return;
    drain = r->drain;
    deadline = r->leave_deadline;
  }
  if (drain) {
    // No new requests; wait until those in flight have been answered.
    if (absl::Status s = lb_.Drain(service, name); !s.ok()) {
      logger_.Warn("drain failed", {{"replica", name}, {"error", std::string(s.message())}});
    }
    for (TimePoint now = clock_.Now(); now < deadline; now = clock_.Now()) {
      auto stats = lb_.Stats();
      bool idle = true;
      if (stats.ok()) {
        for (const LbServerStats& s : *stats) {
          if (s.service == service && s.server == name && s.current_sessions > 0) idle = false;
        }
      }
      if (idle) break;
      clock_.SleepUntil(std::min(deadline, now + milliseconds(50)));
    }
    if (absl::Status s = lb_.RemoveServer(service, name); !s.ok()) {
      logger_.Warn("removing from the load balancer failed",
                   {{"replica", name}, {"error", std::string(s.message())}});
    }
  }
  std::unique_ptr<ReplicaProcess> process;
  {
    absl::MutexLock lock(&mu_);
    if (Replica* r = Find(service, name)) process = std::move(r->process);
  }
  if (process) {
    ExitStatus exit = process->Stop();
    logger_.Info("replica stopped", {{"service", service}, {"replica", name},
                                     {"exit", exit.ToString()}});
  }
  {
    absl::MutexLock lock(&mu_);
    if (auto s = replicas_.find(service); s != replicas_.end()) s->second.erase(name);
  }
  if (options_.on_replicas_changed) options_.on_replicas_changed();
}

absl::Status LocalRuntime::RefreshSecretFile(const std::string& secret) {
  const auto source = options_.secret_files.find(secret);
  if (source == options_.secret_files.end()) {
    return absl::NotFoundError(absl::StrCat("no secret file \"", secret, "\" in this runtime"));
  }
  std::vector<std::pair<std::string, std::string>> targets;  // service, private folder
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [service, replicas] : replicas_) {
      for (const auto& [name, r] : replicas) {
        if (spec::NamesSecret(r->spec.release, secret)) {
          targets.emplace_back(service, r->process_options.private_dir);
        }
      }
    }
  }
  for (const auto& [service, dir] : targets) {
    HUT_RETURN_IF_ERROR(InstallSecretFile(source->second, dir, secret, ServiceUser(service)).status());
  }
  return absl::OkStatus();
}

std::vector<LocalReplica> LocalRuntime::Processes(const std::string& service) {
  absl::MutexLock lock(&mu_);
  std::vector<LocalReplica> out;
  if (auto s = replicas_.find(service); s != replicas_.end()) {
    for (const auto& [name, r] : s->second) out.push_back(r->status);
  }
  return out;
}

runtime::Replica LocalRuntime::Classify(const Replica& replica, TimePoint now) const {
  return ClassifyReplica(replica.status, replica.spec.health.failure_threshold.value_or(3),
                         replica.spec.health.start_period, replica.out_of_rotation, now);
}

absl::StatusOr<runtime::Observation> LocalRuntime::Observe(const std::string& service) {
  const TimePoint now = clock_.Now();
  absl::MutexLock lock(&mu_);
  runtime::Observation o;
  std::map<int, double> weight;
  double total = 0;
  if (auto s = replicas_.find(service); s != replicas_.end()) {
    for (const auto& [name, r] : s->second) {
      o.replicas.push_back(Classify(*r, now));
      if (o.replicas.back().serving) {
        weight[r->status.revision] += r->status.weight;
        total += r->status.weight;
      }
    }
  }
  for (const auto& [revision, w] : weight) {
    if (total > 0 && w > 0) o.traffic[revision] = w / total;
  }
  if (auto c = cannot_start_.find(service); c != cannot_start_.end()) o.cannot_start = c->second;
  return o;
}

runtime::ApplyResult LocalRuntime::Apply(const std::string& service,
                                         const runtime::ServicePlan& plan,
                                         const std::map<int, runtime::RevisionTemplate>& templates) {
  std::vector<ReplicaSlot> slots;
  {
    const TimePoint now = clock_.Now();
    absl::MutexLock lock(&mu_);
    if (auto s = replicas_.find(service); s != replicas_.end()) {
      for (const auto& [name, r] : s->second) {
        slots.push_back({name, r->status.revision, Classify(*r, now).state,
                         r->status.in_load_balancer, r->status.weight, r->status.started_at});
      }
    }
    // A revision the plan does not start any more is not reported as one
    // that cannot start (a retry tries again).
    if (auto c = cannot_start_.find(service); c != cannot_start_.end()) {
      std::erase_if(c->second, [&](const auto& entry) {
        const runtime::RevisionTarget* t = plan.Find(entry.first);
        return t == nullptr || t->replicas == 0;
      });
    }
  }
  runtime::ApplyResult result;
  std::set<int> cannot_start;  // revisions whose start failed in this Apply
  for (const Step& step : PlanSteps(plan, slots)) {
    if (step.kind == StepKind::kStart && cannot_start.contains(step.revision)) continue;
    absl::Status s = Take(service, step, templates, result);
    if (s.ok()) continue;
    const bool transient = absl::IsUnavailable(s) || absl::IsResourceExhausted(s);
    if (step.kind == StepKind::kStart && !transient) {
      // A bad release: it will not start on the next try either.
      cannot_start.insert(step.revision);
      absl::MutexLock lock(&mu_);
      cannot_start_[service][step.revision] = std::string(s.message());
      continue;
    }
    if (result.status.ok()) result.status = s;
  }
  return result;
}

absl::Status LocalRuntime::Take(const std::string& service, const Step& step,
                                const std::map<int, runtime::RevisionTemplate>& templates,
                                runtime::ApplyResult& result) {
  auto note = [&](std::string type, std::string message, nlohmann::json data) {
    result.changes.push_back({std::move(type), std::move(message), std::move(data)});
  };
  switch (step.kind) {
    case StepKind::kStart: {
      auto t = templates.find(step.revision);
      if (t == templates.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("no template for revision ", step.revision, " of ", service));
      }
      HUT_ASSIGN_OR_RETURN(std::string name, StartReplica(t->second));
      {
        absl::MutexLock lock(&mu_);
        if (auto c = cannot_start_.find(service); c != cannot_start_.end()) {
          c->second.erase(step.revision);
        }
      }
      note("replica.started",
           absl::StrCat("started ", name, " (revision ", step.revision, ", ", t->second.version,
                        ")"),
           {{"replica", name}, {"revision", step.revision}});
      return absl::OkStatus();
    }
    case StepKind::kJoin:
      HUT_RETURN_IF_ERROR(AddToLoadBalancer(service, step.replica, step.weight));
      note("replica.serving", absl::StrCat(step.replica, " is ready: now serving"),
           {{"replica", step.replica}, {"weight", step.weight}});
      return absl::OkStatus();
    case StepKind::kSetWeight:
      HUT_RETURN_IF_ERROR(SetWeight(service, step.replica, step.weight));
      note("replica.weight",
           absl::StrCat(step.replica, " now has load-balancer weight ", step.weight),
           {{"replica", step.replica}, {"weight", step.weight}});
      return absl::OkStatus();
    case StepKind::kDrainAndStop:
      HUT_RETURN_IF_ERROR(DrainAndStop(service, step.replica));
      note("replica.draining", absl::StrCat("draining and stopping ", step.replica),
           {{"replica", step.replica}});
      return absl::OkStatus();
    case StepKind::kStop:
      HUT_RETURN_IF_ERROR(Stop(service, step.replica));
      note("replica.stopped", absl::StrCat("stopped ", step.replica, " (it served no traffic)"),
           {{"replica", step.replica}});
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

void LocalRuntime::MonitorLoop() {
  mu_.Lock();
  while (!stopping_) {
    mu_.Unlock();
    MonitorOnce();
    mu_.Lock();
    // Real time: the monitor watches real processes.
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(options_.monitor_interval));
  }
  mu_.Unlock();
}

void LocalRuntime::MonitorOnce() {
  struct Probe {
    std::string service, name, path;
    uint16_t port;
    Duration timeout;
  };
  std::vector<Probe> due;
  std::vector<std::pair<std::string, std::string>> restart;
  std::vector<std::pair<std::string, std::string>> take_out;
  {
    absl::MutexLock lock(&mu_);
    TimePoint now = clock_.Now();
    for (auto& [service, replicas] : replicas_) {
      for (auto& [name, r] : replicas) {
        if (r->leaving) continue;
        if (r->process) {
          if (std::optional<ExitStatus> exit = r->process->Exited()) {
            // A crash counts as a failed health check; restart with backoff.
            r->process.reset();
            ++r->status.restarts;
            r->readiness.Record({now, false, absl::StrCat("exited: ", exit->ToString())});
            r->status.ready = false;
            r->status.consecutive_failures = r->readiness.consecutive_failures();
            r->status.last_failure = absl::StrCat("exited: ", exit->ToString());
            r->restart_at = now + r->backoff;
            logger_.Warn("replica exited; restarting",
                         {{"service", service}, {"replica", name}, {"exit", exit->ToString()},
                          {"restarts", r->status.restarts},
                          {"backoff_ms", r->backoff.count()}});
            r->backoff = std::min(r->backoff * 2, options_.max_restart_backoff);
            if (r->status.in_load_balancer && !r->out_of_rotation) {
              r->out_of_rotation = true;
              take_out.emplace_back(service, name);
            }
          } else if (now >= r->next_probe) {
            due.push_back({service, name, r->spec.health.readiness_path, r->status.port,
                           r->spec.health.timeout});
            // Until it is first ready, a booting replica is probed often, so
            // that it joins as soon as it can (as a Kubernetes startup probe).
            r->next_probe = now + (r->status.ever_ready
                                       ? r->spec.health.interval
                                       : std::min<Duration>(r->spec.health.interval,
                                                            options_.startup_probe_interval));
          }
        } else if (now >= r->restart_at) {
          restart.emplace_back(service, name);
        }
      }
    }
  }
  for (const auto& [service, name] : take_out) {
    if (absl::Status s = lb_.Drain(service, name); !s.ok()) {
      logger_.Warn("cannot take a crashed replica out of the load balancer",
                   {{"service", service}, {"replica", name}, {"error", s.ToString()}});
    }
  }
  for (const auto& [service, name] : restart) {
    ReplicaOptions options;
    {
      absl::MutexLock lock(&mu_);
      Replica* r = Find(service, name);
      if (r == nullptr || r->leaving || r->process) continue;
      options = r->process_options;
    }
    auto process =
        spawner_.Run([&] { return ReplicaProcess::Start(options, sandbox_, sink_, clock_); });
    absl::MutexLock lock(&mu_);
    Replica* r = Find(service, name);
    if (r == nullptr) continue;
    if (!process.ok()) {
      r->restart_at = clock_.Now() + r->backoff;
      r->status.last_failure = std::string(process.status().message());
      continue;
    }
    r->process = std::move(*process);
    r->status.pid = r->process->pid();
    // Booting again: the start period applies anew.
    r->status.process_started_at = clock_.Now();
    r->status.ever_ready = false;
    r->next_probe = clock_.Now();
  }
  // Probes run without the lock: a slow replica delays only the probes after it.
  for (const Probe& p : due) {
    health::ProbeResult result = health::Probe("127.0.0.1", p.port, p.path, p.timeout, clock_);
    bool back_in_rotation = false;
    {
      absl::MutexLock lock(&mu_);
      Replica* r = Find(p.service, p.name);
      if (r != nullptr && !r->leaving && result.ok && r->out_of_rotation) {
        r->out_of_rotation = false;
        back_in_rotation = true;
      }
    }
    if (back_in_rotation) {
      if (absl::Status s = lb_.Ready(p.service, p.name); !s.ok()) {
        logger_.Warn("cannot put a restarted replica back in the load balancer",
                     {{"service", p.service}, {"replica", p.name}, {"error", s.ToString()}});
      }
    }
    absl::MutexLock lock(&mu_);
    Replica* r = Find(p.service, p.name);
    if (r == nullptr || r->leaving) continue;
    r->readiness.Record(result);
    r->status.ready = result.ok;
    r->status.ever_ready = r->status.ever_ready || result.ok;
    r->status.consecutive_failures = r->readiness.consecutive_failures();
    if (!result.ok) r->status.last_failure = result.detail;
    if (result.ok) r->backoff = options_.restart_backoff;
  }
}

}  // namespace hut::local

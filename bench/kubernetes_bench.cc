// KubernetesRuntime at scale, against the real test control plane
// (scripts/k8s-testbed.sh; kwok plays the pods): N services of one replica
// each brought up and held at steady state, then a rolling update of a
// 20-replica service among them. Reports what docs/benchmarks.md quotes:
//   - API requests per second at steady state beyond the watches (goal ~0),
//   - RSS per managed service (goal under 100 KB),
//   - CPU per tick (every service observed and applied once, as the
//     controller does each tick_interval),
//   - time of the 20-replica rolling update (max surge 1, max unavailable 0).
// Usage: kubernetes_bench [--services N] [--steady 30s] [--big-replicas 20]
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/common/clock.h"
#include "src/common/units.h"
#include "src/kubernetes/kubeconfig.h"
#include "src/kubernetes/kubernetes_runtime.h"
#include "src/rollout/rolling.h"
#include "src/spec/load.h"
#include "testing/k8s_testbed.h"

namespace hut {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

constexpr char kNs[] = "bench";

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

double Since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

std::string Name(int i) { return absl::StrFormat("s%04d", i); }

std::string SpecYaml(int services, int big_replicas) {
  std::string yaml = "project: foohut\nservices:\n";
  std::string deployments;
  for (int i = 0; i <= services; ++i) {
    const std::string name = i == 0 ? "big" : Name(i);
    absl::StrAppend(&yaml, "  ", name, ":\n    port: ", 20000 + i,
                    "\n    release: {command: [foohut-api, serve], image: \"kwok.test/", name,
                    ":{{version}}\"}\n    health: {interval: 1s, start_period: 5s}\n");
    absl::StrAppend(&deployments, "      ", name, ": {replicas: ", i == 0 ? big_replicas : 1,
                    "}\n");
  }
  absl::StrAppend(&yaml, "environments:\n  production:\n    runtime: kubernetes\n",
                  "    strategy: rolling\n    namespace: ", kNs, "\n    domain: foohut.com\n",
                  "    policies: {autoscaling: {enabled: false}}\n    services:\n", deployments);
  return yaml;
}

runtime::RevisionTemplate Template(const spec::Spec& spec, const std::string& service,
                                   int revision) {
  const spec::Service* s = spec.FindService(service);
  runtime::RevisionTemplate t;
  t.service = service;
  t.revision = revision;
  t.version = absl::StrCat("v", revision);
  t.release = s->release;
  t.health = s->health;
  return t;
}

runtime::ServicePlan Plan(int revision, int replicas) {
  runtime::ServicePlan p;
  p.revisions.push_back({revision, replicas, 0});
  return p;
}

int Ready(const runtime::Observation& o, int revision) {
  int n = 0;
  for (const auto& r : o.replicas) {
    n += r.revision == revision && r.state == runtime::ReplicaState::kReady;
  }
  return n;
}

int Run(int services, Duration steady, int big_replicas) {
  fprintf(stderr, "starting the test control plane...\n");
  auto testbed = testing::K8sTestbed::Start();
  if (!testbed.ok()) {
    fprintf(stderr, "%s\n", std::string(testbed.status().message()).c_str());
    return 1;
  }
  if (auto made = (*testbed)->Kubectl({"create", "namespace", kNs}); !made.ok()) {
    fprintf(stderr, "%s\n", std::string(made.status().message()).c_str());
    return 1;
  }
  spec::LoadResult loaded = spec::ParseSpec(SpecYaml(services, big_replicas), "bench.yaml");
  if (!loaded.ok()) {
    fprintf(stderr, "bench spec: %s\n", loaded.problems[0].message.c_str());
    return 1;
  }
  const spec::Spec& spec = *loaded.spec;
  const spec::Environment& env = *spec.FindEnvironment("production");
  auto access = kubernetes::LoadKubeconfig((*testbed)->kubeconfig());
  if (!access.ok()) return 1;
  RealClock clock;

  const long rss_before = RssKb();
  auto started = kubernetes::KubernetesRuntime::Start(spec, env, *access, clock);
  if (!started.ok()) {
    fprintf(stderr, "%s\n", std::string(started.status().message()).c_str());
    return 1;
  }
  kubernetes::KubernetesRuntime& rt = **started;

  // Bring every service up: one tick over all of them until all are ready.
  std::map<std::string, runtime::ServicePlan> plans;
  std::map<std::string, std::map<int, runtime::RevisionTemplate>> templates;
  for (const spec::ServiceDeployment& d : env.services) {
    plans[d.service] = Plan(1, d.replicas);
    templates[d.service] = {{1, Template(spec, d.service, 1)}};
  }
  auto tick = [&] {
    int ready_services = 0;
    for (const auto& [name, plan] : plans) {
      runtime::ApplyResult r = rt.Apply(name, plan, templates[name]);
      if (!r.status.ok()) fprintf(stderr, "%s: %s\n", name.c_str(), r.status.ToString().c_str());
      auto o = rt.Observe(name);
      if (o.ok() && Ready(*o, plan.revisions[0].revision) == plan.revisions[0].replicas) {
        ++ready_services;
      }
    }
    return ready_services;
  };
  const auto up_start = Steady::now();
  int ready = 0;
  while ((ready = tick()) < static_cast<int>(plans.size())) {
    if (Since(up_start) > 1200) {
      fprintf(stderr, "only %d of %zu services ready after 20 min\n", ready, plans.size());
      return 1;
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
  const double up_seconds = Since(up_start);
  const long rss_up = RssKb();

  // Steady state: a tick every 250 ms (the controller's tick_interval).
  const kubernetes::RequestCounts api0 = rt.api_counts();
  const kubernetes::Informer::Stats cache0 = rt.cache_stats();
  const double cpu0 = CpuSeconds();
  const auto steady_start = Steady::now();
  int ticks = 0;
  double tick_seconds = 0;
  double tick_cpu = 0;
  while (Since(steady_start) < std::chrono::duration<double>(steady).count()) {
    const auto t = Steady::now();
    const double c = ThreadCpuSeconds();
    tick();
    tick_cpu += ThreadCpuSeconds() - c;
    tick_seconds += Since(t);
    ++ticks;
    std::this_thread::sleep_for(milliseconds(250));
  }
  const double steady_seconds = Since(steady_start);
  const double cpu = CpuSeconds() - cpu0;
  const kubernetes::RequestCounts api1 = rt.api_counts();
  const kubernetes::Informer::Stats cache1 = rt.cache_stats();

  // A rolling update of `big`, decided by the rolling strategy as the
  // controller does it.
  spec::RollingPolicy policy;  // max surge 1, max unavailable 0
  rollout::RollingStatus status;
  status.target_revision = 2;
  status.previous_revision = 1;
  status.last_progress = clock.Now();
  templates["big"][2] = Template(spec, "big", 2);
  const auto roll_start = Steady::now();
  int roll_ticks = 0;
  while (status.phase == rollout::Phase::kProgressing && Since(roll_start) < 600) {
    auto o = rt.Observe("big");
    if (o.ok()) {
      rollout::RollingPlan plan = rollout::DecideRolling(policy, big_replicas, status, *o, clock.Now());
      status = plan.status;
      if (plan.target) (void)rt.Apply("big", *plan.target, templates["big"]);
    }
    ++roll_ticks;
    std::this_thread::sleep_for(milliseconds(250));
  }
  const double roll_seconds = Since(roll_start);

  const uint64_t requests = (api1.reads + api1.writes) - (api0.reads + api0.writes);
  printf("kubernetes_bench: %d services of 1 replica + 1 of %d, real kube-apiserver, kwok pods\n",
         services, big_replicas);
  printf("  all ready from nothing        %.1f s\n", up_seconds);
  printf("  steady state                  %.0f s, %d ticks over %zu services\n", steady_seconds,
         ticks, plans.size());
  printf("  API requests beyond watches   %llu (%.2f /s); watch events %llu, bookmarks %llu, "
         "new watches %llu\n",
         static_cast<unsigned long long>(requests), requests / steady_seconds,
         static_cast<unsigned long long>(cache1.events - cache0.events),
         static_cast<unsigned long long>(cache1.bookmarks - cache0.bookmarks),
         static_cast<unsigned long long>(cache1.watches - cache0.watches));
  printf("  CPU per tick (all services)   %.2f ms (%.2f us per service), wall %.2f ms; the "
         "process (caches included) %.1f %% of a core\n",
         tick_cpu / ticks * 1e3, tick_cpu / ticks / plans.size() * 1e6,
         tick_seconds / ticks * 1e3, cpu / steady_seconds * 100);
  printf("  RSS                           %ld KB before the runtime, %ld KB with every service "
         "up: %.1f KB per service\n",
         rss_before, rss_up, static_cast<double>(rss_up - rss_before) / plans.size());
  printf("  rolling update of %d replicas  %.1f s (%d ticks), ended %s\n", big_replicas,
         roll_seconds, roll_ticks, std::string(rollout::PhaseName(status.phase)).c_str());
  return status.phase == rollout::Phase::kSucceeded ? 0 : 1;
}

}  // namespace
}  // namespace hut

int main(int argc, char** argv) {
  CLI::App app("KubernetesRuntime at scale against the test control plane");
  int services = 1000;
  std::string steady = "30s";
  int big = 20;
  app.add_option("--services", services, "services of one replica (default 1000)");
  app.add_option("--steady", steady, "how long to hold the steady state (default 30s)");
  app.add_option("--big-replicas", big, "replicas of the service rolled (default 20)");
  CLI11_PARSE(app, argc, argv);
  auto d = hut::ParseDuration(steady);
  if (!d.ok()) {
    fprintf(stderr, "--steady: %s\n", std::string(d.status().message()).c_str());
    return 64;
  }
  return hut::Run(services, *d, big);
}

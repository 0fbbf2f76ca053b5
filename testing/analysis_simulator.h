#ifndef HUT_TESTING_ANALYSIS_SIMULATOR_H_
#define HUT_TESTING_ANALYSIS_SIMULATOR_H_

// A deterministic simulation of a canary and a baseline serving traffic, for
// the analysis' tests, its benchmark and the recorded runs in testdata/. Not
// linked into hut itself.
//
// Each simulated second, per group: Poisson arrivals; each request fails with
// the group's error rate and takes a log-normal time. Noise shared by both
// groups (the same clients, database and network) moves the traffic, the
// error rate and the latency as slow AR(1) processes in log space; rare
// incidents hit one group alone (a second of elevated errors, a second of
// slow requests), equally often in either group. Its own random number
// generator (xoshiro256**) and distributions make a seed give the same run
// on every platform.

#include <cstdint>
#include <string>
#include <vector>

#include "src/analysis/metrics_source.h"
#include "src/analysis/record.h"
#include "src/common/clock.h"

namespace hut::analysis {

// xoshiro256** seeded by splitmix64: small, fast, and the same everywhere.
class Random {
 public:
  explicit Random(uint64_t seed);
  uint64_t Next();
  double Uniform();  // [0, 1)
  double Normal();   // standard normal (Box-Muller)
  uint64_t Poisson(double mean);

 private:
  uint64_t s_[4];
  bool have_spare_ = false;
  double spare_ = 0;
};

struct GroupProfile {
  double rps = 30;                // mean requests per second
  double error_rate = 0.005;      // chance a request fails
  double latency_median = 0.080;  // seconds
  double latency_sigma = 0.5;     // log-normal shape
  int replicas = 1;
  int health_check_failures = 0;  // reported for every replica
};

struct SimProfile {
  GroupProfile canary{30, 0.005, 0.080, 0.5, 1, 0};
  GroupProfile baseline{270, 0.005, 0.080, 0.5, 9, 0};
  // Shared noise: stationary standard deviation of each log multiplier, and
  // the AR(1) coefficient per second.
  double traffic_noise = 0.15;
  double error_noise = 0.4;
  double latency_noise = 0.1;
  double persistence = 0.95;
  // One-group incidents, per group per second: the chance of a second with
  // `incident_error_rate` errors, and of a second `incident_slowdown` times
  // slower.
  double error_incident_chance = 0.002;
  double incident_error_rate = 0.10;
  double slow_incident_chance = 0.002;
  double incident_slowdown = 4;
  // Histogram bucket bounds in seconds, without +Inf (foohut-api's).
  std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10};
};

// A profile with no noise and no incidents.
SimProfile QuietProfile();

class TrafficSimulator {
 public:
  TrafficSimulator(const SimProfile& profile, uint64_t seed, TimePoint start);

  // Simulates up to `at` (whole seconds; a remainder carries over) and
  // returns the cumulative observation there. `at` must not go backwards.
  Observation Advance(TimePoint at);
  // The profile, to change mid-run (a canary that degrades).
  SimProfile& profile() { return profile_; }

 private:
  struct Group {
    uint64_t requests = 0;
    uint64_t failed = 0;
    std::vector<uint64_t> buckets;  // per bucket (not cumulative), +Inf last
  };
  void SimulateSecond();
  void Serve(const GroupProfile& g, double traffic, double errors, double latency, Group& out);
  MetricSample Sample(const GroupProfile& g, const Group& s, const std::string& prefix) const;

  SimProfile profile_;
  Random random_;
  TimePoint now_;
  double log_traffic_ = 0;
  double log_errors_ = 0;
  double log_latency_ = 0;
  Group canary_;
  Group baseline_;
};

// A recording of `length` of simulated traffic scraped every `tick` from
// `start` (the first scrape at `start`), analysed under `policy`.
RecordedRun SimulateRun(const SimProfile& profile, uint64_t seed, const AnalysisConfig& policy,
                        TimePoint start, Duration tick, Duration length);

}  // namespace hut::analysis

#endif  // HUT_TESTING_ANALYSIS_SIMULATOR_H_

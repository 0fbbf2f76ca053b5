#include "src/analysis/analysis.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/analysis/histogram.h"
#include "src/common/log.h"

namespace hut::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

int TestsOn(const AnalysisOptions& o) {
  return (o.compare_error_rate ? 1 : 0) + (o.compare_latency ? 1 : 0);
}

double AlphaPerTest(const AnalysisConfig& c) {
  int tests = TestsOn(c.options);
  return tests > 0 ? c.max_false_rollback_rate / tests : c.max_false_rollback_rate;
}

ComparisonOptions ErrorTestOptions(const AnalysisConfig& c) {
  return ComparisonOptions{AlphaPerTest(c), c.options.error_relative_margin,
                           c.options.error_absolute_margin, c.options.prior_trials};
}

ComparisonOptions LatencyTestOptions(const AnalysisConfig& c) {
  return ComparisonOptions{AlphaPerTest(c), c.options.latency_relative_margin,
                           c.options.latency_absolute_margin, c.options.prior_trials};
}

// The increase of a cumulative counter; a lower value is a restart, whose
// new value is the increase.
uint64_t Increase(uint64_t now, uint64_t& prev) {
  uint64_t d = now >= prev ? now - prev : now;
  prev = now;
  return d;
}

void CopyComparison(const BinomialComparison& test, ComparisonNumbers& n) {
  n.rejected = test.Rejected();
  n.p_value = test.PValue();
  n.e_relative = test.ERelative();
  n.e_absolute = test.EAbsolute();
  n.canary = test.canary();
  n.baseline = test.baseline();
}

}  // namespace

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kContinue:
      return "continue";
    case Decision::kPromote:
      return "promote";
    case Decision::kRollback:
      return "rollback";
    case Decision::kInconclusive:
      return "inconclusive";
  }
  return "unknown";
}

std::string_view RuleName(Rule r) {
  switch (r) {
    case Rule::kNone:
      return "none";
    case Rule::kHealthChecks:
      return "health_checks";
    case Rule::kErrorRate:
      return "error_rate";
    case Rule::kP99Latency:
      return "p99_latency";
    case Rule::kErrorRateVsBaseline:
      return "error_rate_vs_baseline";
    case Rule::kLatencyVsBaseline:
      return "latency_vs_baseline";
    case Rule::kMetricsUnavailable:
      return "metrics_unavailable";
    case Rule::kTooFewRequests:
      return "too_few_requests";
  }
  return "unknown";
}

std::string_view HoldEndActionName(HoldEndAction a) {
  switch (a) {
    case HoldEndAction::kContinue:
      return "continue";
    case HoldEndAction::kPromote:
      return "promote";
    case HoldEndAction::kRollback:
      return "rollback";
    case HoldEndAction::kExtend:
      return "extend";
    case HoldEndAction::kPause:
      return "pause";
  }
  return "unknown";
}

AnalysisConfig MakeConfig(const spec::CanaryPolicy& canary, const spec::RollbackPolicy& rollback,
                          Duration hold) {
  AnalysisConfig c;
  c.hold = hold;
  c.rollback = rollback;
  c.max_false_rollback_rate = canary.max_false_rollback_rate;
  c.inconclusive = canary.inconclusive;
  return c;
}

absl::Status ValidateConfig(const AnalysisConfig& c) {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("analysis config: ", std::string(what)));
  };
  const AnalysisOptions& o = c.options;
  if (c.hold <= Duration(0)) return bad("hold must be > 0");
  if (c.rollback.health_check_failures < 1) return bad("health_check_failures must be >= 1");
  if (!(c.rollback.error_rate.threshold > 0 && c.rollback.error_rate.threshold <= 1)) {
    return bad("error_rate.threshold must be in (0, 1]");
  }
  if (c.rollback.error_rate.for_ < Duration(0)) return bad("error_rate.for must be >= 0");
  if (c.rollback.p99_latency.threshold <= Duration(0))
    return bad("p99_latency.threshold must be > 0");
  if (c.rollback.p99_latency.for_ < Duration(0)) return bad("p99_latency.for must be >= 0");
  if (!(c.max_false_rollback_rate > 0 && c.max_false_rollback_rate <= 0.5)) {
    return bad("max_false_rollback_rate must be in (0, 0.5]");
  }
  if (o.rate_window <= Duration(0)) return bad("rate_window must be > 0");
  if (o.estimate_window <= Duration(0)) return bad("estimate_window must be > 0");
  if (o.min_window_latency_observations < 1)
    return bad("min_window_latency_observations must be >= 1");
  if (o.max_source_outage <= Duration(0)) return bad("max_source_outage must be > 0");
  if (!(o.error_relative_margin >= 0) || !(o.error_absolute_margin >= 0) ||
      !(o.latency_relative_margin >= 0) || !(o.latency_absolute_margin >= 0)) {
    return bad("margins must be >= 0");
  }
  if (!(o.latency_quantile > 0 && o.latency_quantile < 1))
    return bad("latency_quantile must be in (0, 1)");
  if (!(o.prior_trials > 0)) return bad("prior_trials must be > 0");
  return absl::OkStatus();
}

absl::StatusOr<CanaryAnalysis> CanaryAnalysis::Create(const AnalysisConfig& config,
                                                      TimePoint started_at) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  return CanaryAnalysis(config, started_at);
}

CanaryAnalysis::CanaryAnalysis(const AnalysisConfig& config, TimePoint started_at)
    : config_(config),
      started_at_(started_at),
      hold_ends_at_(started_at + config.hold),
      ring_(16),
      error_test_(ErrorTestOptions(config)),
      latency_test_(LatencyTestOptions(config)) {
  rate_.length = config.options.rate_window;
  estimate_.length = config.options.estimate_window;

  numbers_.started_at = started_at_;
  numbers_.hold_ends_at = hold_ends_at_;
  numbers_.error_rate.value = kNaN;
  numbers_.p99_latency.value = kNaN;
  numbers_.error_comparison.enabled = config.options.compare_error_rate;
  numbers_.error_comparison.available = config.options.compare_error_rate;
  numbers_.latency_comparison.enabled = config.options.compare_latency;
  numbers_.latency_comparison.threshold_seconds = kNaN;

  VerdictLimits& l = verdict_.limits;
  l.hold = config.hold;
  l.health_check_failures = config.rollback.health_check_failures;
  l.error_rate = config.rollback.error_rate.threshold;
  l.error_rate_for = config.rollback.error_rate.for_;
  l.p99_seconds = Seconds(config.rollback.p99_latency.threshold);
  l.p99_for = config.rollback.p99_latency.for_;
  l.rate_window = config.options.rate_window;
  l.min_requests = config.options.min_requests;
  l.require_latency = config.options.require_latency;
  l.max_source_outage = config.options.max_source_outage;
  l.latency_quantile = config.options.latency_quantile;
  l.alpha = config.max_false_rollback_rate;
  verdict_.at = started_at;
  verdict_.numbers = numbers_;
}

void CanaryAnalysis::ClearLatency(Group group) {
  const bool canary = group == Group::kCanary;
  for (uint64_t s = head_; s < tail_; ++s) {
    Block& b = ring_[s % ring_.size()];
    (canary ? b.canary_latency : b.baseline_latency).clear();
  }
  for (Window* w : {&rate_, &estimate_}) {
    (canary ? w->canary_latency : w->baseline_latency).clear();
  }
}

Counts CanaryAnalysis::Difference(Group group, const MetricSample& now, GroupState& prev,
                                  std::vector<uint64_t>& latency) {
  latency.clear();
  // The group's buckets: those of its first series (by name) with a histogram.
  const std::vector<double>* layout = nullptr;
  for (const auto& [name, s] : now.series) {
    if (!s.latency.Empty()) {
      layout = &s.latency.upper_bounds;
      break;
    }
  }
  if (layout == nullptr ? !prev.layout.empty() : *layout != prev.layout) {
    // No histogram any more, or other buckets: the latency so far no longer
    // adds up with what comes.
    ClearLatency(group);
    if (layout == nullptr) {
      prev.layout.clear();
    } else {
      prev.layout = *layout;
    }
  }

  Counts counts;
  for (const auto& [name, s] : now.series) {
    auto [it, inserted] = prev.series.try_emplace(name);
    Cumulative& p = it->second;
    if (!inserted) {
      uint64_t requests = Increase(s.requests, p.requests);
      uint64_t failed = Increase(s.responses_5xx, p.responses_5xx) +
                        Increase(s.connection_errors, p.connection_errors) +
                        Increase(s.timeouts, p.timeouts);
      // A source whose request count leaves out failed connections must not
      // hide them: the failed requests are requests too.
      counts += Counts{std::max(requests, failed), failed};
      const std::vector<uint64_t>& h = s.latency.cumulative_counts;
      if (!s.latency.Empty() && s.latency.upper_bounds == prev.layout && p.bounds == prev.layout) {
        bool reset = false;
        for (size_t i = 0; i < h.size(); ++i) reset = reset || h[i] < p.counts[i];
        if (latency.empty()) latency.assign(h.size(), 0);
        for (size_t i = 0; i < h.size(); ++i) latency[i] += reset ? h[i] : h[i] - p.counts[i];
      }
    }
    // A new series is a reference only (as a Prometheus series' first sample).
    p.requests = s.requests;
    p.responses_5xx = s.responses_5xx;
    p.connection_errors = s.connection_errors;
    p.timeouts = s.timeouts;
    p.bounds = s.latency.upper_bounds;
    p.counts = s.latency.cumulative_counts;
  }
  return counts;
}

CanaryAnalysis::Block& CanaryAnalysis::Push() {
  if (tail_ - head_ == ring_.size()) {
    std::vector<Block> bigger(ring_.size() * 2);
    for (uint64_t s = head_; s < tail_; ++s) {
      bigger[s % bigger.size()] = std::move(ring_[s % ring_.size()]);
    }
    ring_.swap(bigger);
  }
  return ring_[tail_++ % ring_.size()];
}

void CanaryAnalysis::Add(Window& w, const Block& b) {
  w.canary += b.canary;
  w.baseline += b.baseline;
  for (auto [from, to] : {std::pair{&b.canary_latency, &w.canary_latency},
                          std::pair{&b.baseline_latency, &w.baseline_latency}}) {
    if (from->empty()) continue;
    if (to->size() != from->size()) to->assign(from->size(), 0);
    for (size_t i = 0; i < from->size(); ++i) (*to)[i] += (*from)[i];
  }
}

void CanaryAnalysis::Evict(Window& w, TimePoint now) {
  const TimePoint edge = now - w.length;
  while (w.first < tail_) {
    const Block& b = ring_[w.first % ring_.size()];
    if (b.at > edge) break;
    w.canary -= b.canary;
    w.baseline -= b.baseline;
    for (auto [from, to] : {std::pair{&b.canary_latency, &w.canary_latency},
                            std::pair{&b.baseline_latency, &w.baseline_latency}}) {
      if (from->empty() || to->size() != from->size()) continue;
      for (size_t i = 0; i < from->size(); ++i) (*to)[i] -= (*from)[i];
    }
    ++w.first;
  }
  head_ = std::min(rate_.first, estimate_.first);
}

void CanaryAnalysis::UpdateLatencyTest(const Block& b) {
  ComparisonNumbers& n = numbers_.latency_comparison;
  n.available = !prev_canary_.layout.empty() && prev_canary_.layout == prev_baseline_.layout;
  if (!n.available || b.canary_latency.empty() || b.baseline_latency.empty()) return;
  const std::vector<double>& bounds = prev_baseline_.layout;
  const double q = config_.options.latency_quantile;
  // Counts above bound k of a cumulative-form histogram.
  auto slow = [](const std::vector<uint64_t>& h, size_t k) {
    if (h.empty()) return Counts{};
    uint64_t total = h.back();
    return Counts{total, total > h[k] ? total - h[k] : 0};
  };
  // The first finite bound where `h` reaches the q-quantile; size() if none.
  auto quantile_bound = [&](const std::vector<uint64_t>& h) {
    if (h.size() != bounds.size() || h.back() == 0) return bounds.size();
    const double rank = q * static_cast<double>(h.back());
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
      if (static_cast<double>(h[i]) >= rank) return i;
    }
    return bounds.size();
  };

  const std::vector<uint64_t>& base = estimate_.baseline_latency;
  // "Slow" is above the bound where the baseline's recent latency reaches
  // latency_quantile; chosen from data before this block, so the bet and the
  // threshold are both fixed before the block is seen.
  size_t k = quantile_bound(base);
  if (k == bounds.size()) {  // no earlier baseline data, or its quantile lies in +Inf
    n.threshold_seconds = kNaN;
    return;
  }
  n.threshold_seconds = bounds[k];
  latency_test_.Update(slow(estimate_.canary_latency, k), slow(base, k), slow(b.canary_latency, k),
                       slow(b.baseline_latency, k));
}

void CanaryAnalysis::EvaluateHealth(const Observation& o) {
  numbers_.health_check_failures = 0;
  numbers_.health_check_replica.clear();
  for (const auto& [replica, failures] : o.canary.health_check_failures) {
    if (failures > numbers_.health_check_failures) {
      numbers_.health_check_failures = failures;
      numbers_.health_check_replica = replica;
    }
  }
}

namespace {

// A Prometheus alerting rule's `for`: pending from the first evaluation
// above, firing once it has been above at every evaluation for `for_`.
void ForRule(ForRuleNumbers& rule, bool above, Duration for_, TimePoint at) {
  rule.above = above;
  if (!above) {
    rule.pending_since.reset();
    rule.fired = false;
    return;
  }
  if (!rule.pending_since) rule.pending_since = at;
  rule.fired = at - *rule.pending_since >= for_;
}

}  // namespace

void CanaryAnalysis::EvaluateWindowRules(TimePoint at) {
  numbers_.canary.window = rate_.canary;
  numbers_.baseline.window = rate_.baseline;

  double rate = rate_.canary.Rate();
  numbers_.error_rate.value = rate;
  ForRule(numbers_.error_rate, rate > config_.rollback.error_rate.threshold,
          config_.rollback.error_rate.for_, at);

  const std::vector<uint64_t>& h = rate_.canary_latency;
  uint64_t observations = h.empty() ? 0 : h.back();
  numbers_.canary_window_latency_observations = observations;
  double p99 = kNaN;
  if (observations >= config_.options.min_window_latency_observations &&
      h.size() == prev_canary_.layout.size()) {
    p99 = HistogramQuantile(0.99, prev_canary_.layout, h);
  }
  numbers_.p99_latency.value = p99;
  ForRule(numbers_.p99_latency, p99 > Seconds(config_.rollback.p99_latency.threshold),
          config_.rollback.p99_latency.for_, at);
}

const Verdict& CanaryAnalysis::Observe(const Observation& o) {
  if (have_reference_ && o.at <= last_at_) {
    return ObserveError(absl::InvalidArgumentError(absl::StrCat(
                            "observation at ", FormatTimestamp(o.at),
                            " is not after the previous one at ", FormatTimestamp(last_at_))),
                        last_at_);
  }
  for (auto [group, sample] :
       {std::pair{"canary", &o.canary}, std::pair{"baseline", &o.baseline}}) {
    for (const auto& [name, series] : sample->series) {
      if (absl::Status s = ValidateHistogram(series.latency); !s.ok()) {
        return ObserveError(absl::InvalidArgumentError(
                                absl::StrCat(group, " series ", name, " latency: ", s.message())),
                            o.at);
      }
    }
  }
  numbers_.failed_scrapes = 0;
  numbers_.last_good_scrape = o.at;
  numbers_.source_error.clear();
  EvaluateHealth(o);

  last_at_ = o.at;
  Block& b = scratch_;
  b.at = o.at;
  b.canary = Difference(Group::kCanary, o.canary, prev_canary_, b.canary_latency);
  b.baseline = Difference(Group::kBaseline, o.baseline, prev_baseline_, b.baseline_latency);
  if (!have_reference_) {
    // The first observation is the reference: every series is new.
    have_reference_ = true;
  } else {
    Evict(rate_, o.at);
    Evict(estimate_, o.at);
    // The tests bet with what the estimate window held before this block.
    if (config_.options.compare_error_rate) {
      error_test_.Update(estimate_.canary, estimate_.baseline, b.canary, b.baseline);
      CopyComparison(error_test_, numbers_.error_comparison);
    }
    if (config_.options.compare_latency) {
      UpdateLatencyTest(b);
      CopyComparison(latency_test_, numbers_.latency_comparison);
    }

    numbers_.canary.requests += b.canary;
    numbers_.baseline.requests += b.baseline;
    if (!b.canary_latency.empty()) numbers_.canary.latency_observations += b.canary_latency.back();
    if (!b.baseline_latency.empty()) {
      numbers_.baseline.latency_observations += b.baseline_latency.back();
    }

    Block& slot = Push();
    std::swap(slot, scratch_);
    Add(rate_, slot);
    Add(estimate_, slot);
  }
  EvaluateWindowRules(o.at);

  Rule fired = Rule::kNone;
  if (numbers_.health_check_failures >= config_.rollback.health_check_failures) {
    fired = Rule::kHealthChecks;
  } else if (numbers_.error_rate.fired) {
    fired = Rule::kErrorRate;
  } else if (numbers_.p99_latency.fired) {
    fired = Rule::kP99Latency;
  } else if (numbers_.error_comparison.enabled && numbers_.error_comparison.rejected) {
    fired = Rule::kErrorRateVsBaseline;
  } else if (numbers_.latency_comparison.enabled && numbers_.latency_comparison.rejected) {
    fired = Rule::kLatencyVsBaseline;
  }
  return Decide(o.at, fired, /*good=*/true);
}

const Verdict& CanaryAnalysis::ObserveError(const absl::Status& error, TimePoint at) {
  ++numbers_.failed_scrapes;
  numbers_.source_error = error.ToString();
  TimePoint since = numbers_.last_good_scrape.value_or(started_at_);
  Rule fired =
      at - since >= config_.options.max_source_outage ? Rule::kMetricsUnavailable : Rule::kNone;
  return Decide(at, fired, /*good=*/false);
}

const Verdict& CanaryAnalysis::Decide(TimePoint at, Rule fired, bool good) {
  if (verdict_.final) return verdict_;
  verdict_.at = at;
  verdict_.numbers = numbers_;
  verdict_.rule = Rule::kNone;
  verdict_.decision = Decision::kContinue;
  if (fired != Rule::kNone) {
    verdict_.decision = Decision::kRollback;
    verdict_.rule = fired;
    verdict_.final = true;
    return verdict_;
  }
  if (!good) {
    verdict_.rule = Rule::kMetricsUnavailable;
    return verdict_;
  }
  const Rule pending = numbers_.error_rate.pending_since    ? Rule::kErrorRate
                       : numbers_.p99_latency.pending_since ? Rule::kP99Latency
                                                            : Rule::kNone;
  verdict_.rule = pending;
  if (at < hold_ends_at_ || pending != Rule::kNone) return verdict_;

  const uint64_t min = config_.options.min_requests;
  if (numbers_.canary.requests.trials < min ||
      (config_.options.require_latency && numbers_.canary.latency_observations < min)) {
    verdict_.decision = Decision::kInconclusive;
    verdict_.rule = Rule::kTooFewRequests;
  } else {
    verdict_.decision = Decision::kPromote;
  }
  verdict_.final = true;
  return verdict_;
}

absl::Status CanaryAnalysis::ExtendHold(Duration more) {
  if (more <= Duration(0)) return absl::InvalidArgumentError("hold extension must be > 0");
  if (verdict_.final && verdict_.decision == Decision::kRollback) {
    return absl::FailedPreconditionError("the analysis has rolled back");
  }
  hold_ends_at_ += more;
  ++extensions_;
  numbers_.hold_ends_at = hold_ends_at_;
  verdict_.numbers.hold_ends_at = hold_ends_at_;
  if (verdict_.final) {
    verdict_.final = false;
    verdict_.decision = Decision::kContinue;
    verdict_.rule = Rule::kNone;
  }
  return absl::OkStatus();
}

HoldEndAction ResolveHoldEnd(const Verdict& verdict, spec::InconclusiveAction action,
                             int extensions_so_far) {
  switch (verdict.decision) {
    case Decision::kContinue:
      return HoldEndAction::kContinue;
    case Decision::kPromote:
      return HoldEndAction::kPromote;
    case Decision::kRollback:
      return HoldEndAction::kRollback;
    case Decision::kInconclusive:
      switch (action) {
        case spec::InconclusiveAction::kFail:
          return HoldEndAction::kRollback;
        case spec::InconclusiveAction::kPause:
          return HoldEndAction::kPause;
        case spec::InconclusiveAction::kExtend:
          return extensions_so_far == 0 ? HoldEndAction::kExtend : HoldEndAction::kRollback;
      }
  }
  return HoldEndAction::kRollback;
}

}  // namespace hut::analysis

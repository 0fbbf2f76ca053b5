#ifndef HUT_CONTROLLER_ROLLOUT_TRACE_H_
#define HUT_CONTROLLER_ROLLOUT_TRACE_H_

// A rollout as a trace (docs/traces.md): a root span from the deploy to the
// verdict, a child span per phase it went through (progressing, a canary's
// steps, its rollback window...), and the rollout's events (replicas
// started and serving, weights, analysis verdicts, commands) as events of
// the phase they happened in. The trace id follows from the rollout itself,
// so `hut trace` finds it from `hut rollout status` and a restarted
// controller goes on writing the same trace.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/clock.h"
#include "src/store/store.h"
#include "src/tracing/tracing.h"

namespace hut::controller {

// 32 hex digits from the rollout's environment, service, id and start.
std::string RolloutTraceId(const store::Rollout& rollout);

using SpanSink = std::function<void(tracing::Span)>;

// Not thread-safe: its controller's worker owns it.
class RolloutTracer {
 public:
  explicit RolloutTracer(SpanSink sink) : sink_(std::move(sink)) {}
  // The rollout left phase `before` for `after` at `now`: `before`'s span ends.
  void PhaseChanged(const store::Rollout& rollout, std::string_view before, std::string_view after,
                    const std::string& reason, TimePoint now);
  // Events recorded for the rollout: they join its current phase's span.
  void Recorded(const store::Rollout& rollout, const std::vector<store::Event>& events);
  // The rollout ended (its phase now says how): the root span goes out.
  void Finished(const store::Rollout& rollout, TimePoint now);

 private:
  struct Open {
    std::string phase;
    TimePoint since;
    std::vector<tracing::SpanEvent> events;
  };
  Open& OpenOf(const store::Rollout& rollout);
  SpanSink sink_;
  std::map<int64_t, Open> open_;  // by rollout id: its current phase
};

}  // namespace hut::controller

#endif  // HUT_CONTROLLER_ROLLOUT_TRACE_H_

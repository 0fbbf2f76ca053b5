#include "src/controller/rollout_trace.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hut::controller {
namespace {

uint64_t Fnv1a(std::string_view s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

int64_t Ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string RootSpanId(const std::string& trace_id) { return trace_id.substr(0, 16); }

}  // namespace

std::string RolloutTraceId(const store::Rollout& r) {
  const std::string key = absl::StrCat(r.environment, "/", r.service, "/", r.id, "/", Ms(r.created_at));
  // Two FNV-1a hashes with different offsets: 128 bits, never all zero in practice.
  return absl::StrFormat("%016x%016x", Fnv1a(key, 14695981039346656037ull),
                         Fnv1a(key, 0x9e3779b97f4a7c15ull));
}

RolloutTracer::Open& RolloutTracer::OpenOf(const store::Rollout& rollout) {
  auto it = open_.find(rollout.id);
  if (it == open_.end()) {
    // Started before this controller: its phase as stored, since it started.
    it = open_.emplace(rollout.id, Open{std::string(store::PhaseName(rollout.phase)), rollout.created_at, {}})
             .first;
  }
  return it->second;
}

void RolloutTracer::PhaseChanged(const store::Rollout& rollout, std::string_view before,
                                 std::string_view after, const std::string& reason, TimePoint now) {
  Open& open = OpenOf(rollout);
  tracing::Span s;
  s.trace_id = RolloutTraceId(rollout);
  s.span_id = tracing::NewSpanId();
  s.parent_span_id = RootSpanId(s.trace_id);
  s.name = std::string(before);
  s.kind = tracing::SpanKind::kInternal;
  s.start = open.since;
  s.end = now;
  s.attributes = {{"hut.rollout.id", rollout.id}, {"hut.phase.next", std::string(after)}};
  if (!reason.empty()) s.attributes["hut.reason"] = reason;
  s.events = std::move(open.events);
  sink_(std::move(s));
  open = Open{std::string(after), now, {}};
}

void RolloutTracer::Recorded(const store::Rollout& rollout, const std::vector<store::Event>& events) {
  Open& open = OpenOf(rollout);
  for (const store::Event& e : events) {
    if (e.rollout_id != rollout.id) continue;
    tracing::SpanEvent ev;
    ev.name = e.type;
    ev.at = e.at;
    ev.attributes = {{"message", e.message}};
    open.events.push_back(std::move(ev));
  }
}

void RolloutTracer::Finished(const store::Rollout& rollout, TimePoint now) {
  Open open = OpenOf(rollout);
  open_.erase(rollout.id);
  tracing::Span root;
  root.trace_id = RolloutTraceId(rollout);
  root.span_id = RootSpanId(root.trace_id);
  root.name = absl::StrCat("rollout ", rollout.service, " ",
                           rollout.from_revision == 0 ? "" : absl::StrCat("r", rollout.from_revision, " -> "),
                           "r", rollout.to_revision);
  root.kind = tracing::SpanKind::kInternal;
  root.start = rollout.created_at;
  root.end = now;
  const std::string result(store::PhaseName(rollout.phase));
  root.attributes = {{"hut.rollout.id", rollout.id},
                     {"hut.environment", rollout.environment},
                     {"hut.service", rollout.service},
                     {"hut.strategy", std::string(spec::Name(rollout.strategy))},
                     {"hut.revision.from", rollout.from_revision},
                     {"hut.revision.to", rollout.to_revision},
                     {"hut.result", result}};
  if (!rollout.reason.empty()) root.attributes["hut.reason"] = rollout.reason;
  // The verdict's own events (the last phase ends with the rollout).
  root.events = std::move(open.events);
  if (result != "succeeded") {
    root.error = true;
    root.status_message = rollout.reason.empty() ? result : rollout.reason;
  }
  sink_(std::move(root));
}

}  // namespace hut::controller

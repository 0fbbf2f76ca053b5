#ifndef HUT_TRACING_JAEGER_QUERY_H_
#define HUT_TRACING_JAEGER_QUERY_H_

// Reads one trace from Jaeger's query API (GET /api/traces/ID, its JSON
// model: spans with references, microsecond times, tags and processes).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace hut::tracing {

struct TraceSpan {
  std::string span_id, parent_id;  // parent "" for the root (or a parent not in the trace)
  std::string service, name;
  int64_t start_us = 0, duration_us = 0;
  bool error = false;
  nlohmann::json attributes = nlohmann::json::object();
};

// `query_url` is http://HOST:PORT. NotFound when Jaeger has no such trace.
// Spans come oldest first.
absl::StatusOr<std::vector<TraceSpan>> ReadTrace(const std::string& query_url, const std::string& trace_id);

// Jaeger's answer (its "data"'s first trace) as spans, oldest first.
absl::StatusOr<std::vector<TraceSpan>> ParseJaegerTrace(const nlohmann::json& answer);

nlohmann::json TraceSpanJson(const TraceSpan& s);

}  // namespace hut::tracing

#endif  // HUT_TRACING_JAEGER_QUERY_H_

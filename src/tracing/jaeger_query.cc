#include "src/tracing/jaeger_query.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/http/client.h"
#include "src/http/url.h"

namespace hut::tracing {

using json = nlohmann::json;

absl::StatusOr<std::vector<TraceSpan>> ParseJaegerTrace(const json& answer) {
  if (!answer.is_object() || !answer.contains("data") || !answer["data"].is_array()) {
    return absl::DataLossError("Jaeger: an answer without \"data\"");
  }
  if (answer["data"].empty()) return absl::NotFoundError("Jaeger has no such trace");
  const json& trace = answer["data"][0];
  const json processes = trace.value("processes", json::object());
  std::vector<TraceSpan> out;
  for (const json& s : trace.value("spans", json::array())) {
    TraceSpan t;
    t.span_id = s.value("spanID", "");
    t.name = s.value("operationName", "");
    t.start_us = s.value("startTime", int64_t{0});
    t.duration_us = s.value("duration", int64_t{0});
    for (const json& ref : s.value("references", json::array())) {
      if (ref.value("refType", "") == "CHILD_OF") t.parent_id = ref.value("spanID", "");
    }
    const std::string pid = s.value("processID", "");
    if (processes.contains(pid)) t.service = processes[pid].value("serviceName", "");
    for (const json& tag : s.value("tags", json::array())) {
      const std::string key = tag.value("key", "");
      if (key == "error" && tag.value("value", json(false)) == json(true)) t.error = true;
      if (key == "otel.status_code" && tag.value("value", json("")) == json("ERROR")) t.error = true;
      if (key.starts_with("otel.") || key == "span.kind" || key == "error") continue;
      t.attributes[key] = tag.value("value", json());
    }
    out.push_back(std::move(t));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const TraceSpan& a, const TraceSpan& b) { return a.start_us < b.start_us; });
  return out;
}

absl::StatusOr<std::vector<TraceSpan>> ReadTrace(const std::string& query_url, const std::string& trace_id) {
  absl::StatusOr<http::HttpUrl> url = http::ParseHttpUrl(query_url);
  if (!url.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Jaeger query URL \"", query_url, "\": expected http://HOST:PORT"));
  }
  http::ClientRequest r;
  r.host = url->host;
  r.port = url->port;
  r.target = absl::StrCat("/api/traces/", trace_id);
  r.timeout = std::chrono::milliseconds(5000);
  absl::StatusOr<http::ClientResponse> response = http::Fetch(r);
  if (!response.ok()) {
    return absl::UnavailableError(absl::StrCat("Jaeger at ", query_url, ": ", response.status().message()));
  }
  if (response->status == 404) return absl::NotFoundError("Jaeger has no such trace");
  if (response->status != 200) {
    return absl::UnavailableError(absl::StrCat("Jaeger at ", query_url, ": HTTP ", response->status));
  }
  return ParseJaegerTrace(json::parse(response->body, nullptr, false));
}

json TraceSpanJson(const TraceSpan& s) {
  return {{"span_id", s.span_id},       {"parent_id", s.parent_id}, {"service", s.service},
          {"name", s.name},             {"start_us", s.start_us},   {"duration_us", s.duration_us},
          {"error", s.error},           {"attributes", s.attributes}};
}

}  // namespace hut::tracing

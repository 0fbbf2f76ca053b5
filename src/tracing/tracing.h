#ifndef HUT_TRACING_TRACING_H_
#define HUT_TRACING_TRACING_H_

// Distributed traces (docs/traces.md): spans in OpenTelemetry's model, sent
// as OTLP/HTTP JSON (what Jaeger and AWS's collector for X-Ray take) by an
// exporter that never blocks the caller: a bounded queue, batches from a
// thread of its own, drops counted. ScopedSpan keeps the span a thread is
// in, so a call deep inside a request (a SQL query, a cache read) becomes
// a child of the request's span without being handed it.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "src/common/clock.h"
#include "src/http/url.h"

namespace hut::tracing {

enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3 };

// Something that happened at a moment within a span (OTLP Span.Event).
struct SpanEvent {
  std::string name;
  TimePoint at;
  nlohmann::json attributes = nlohmann::json::object();
};

struct Span {
  std::string trace_id;        // 32 lowercase hex
  std::string span_id;         // 16 lowercase hex
  std::string parent_span_id;  // "" for a root
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  TimePoint start, end;
  nlohmann::json attributes = nlohmann::json::object();  // string, integer, number or bool values
  bool error = false;
  std::string status_message;
  std::vector<SpanEvent> events;
};

// 16 hex digits, never all zero: a span id (not a secret: a per-thread PRNG).
std::string NewSpanId();

struct ExporterOptions {
  std::string endpoint;  // http://HOST:PORT/v1/traces
  // Resource attributes: service.name is required ("backend", "hut").
  std::map<std::string, std::string> resource;
  size_t max_queue = 4096;  // spans waiting; past it they are dropped
  size_t max_batch = 512;
  std::chrono::milliseconds interval{500};  // at most this long between a span and its send
  std::chrono::milliseconds timeout{2000};  // one POST
};

// The OTLP/JSON body of one export request (ExportTraceServiceRequest).
std::string OtlpJson(const std::vector<Span>& spans, const std::map<std::string, std::string>& resource);

class Exporter {
 public:
  // InvalidArgument when the endpoint is not http://HOST:PORT/PATH or
  // service.name is missing.
  static absl::StatusOr<std::unique_ptr<Exporter>> Start(ExporterOptions options);
  ~Exporter();  // sends what is queued (one try), then stops

  void Export(Span span);  // never blocks on the network
  // Returns once every span exported before the call was sent or given up.
  void Flush();

  struct Stats {
    uint64_t exported = 0, dropped = 0, failed = 0;  // spans
  };
  Stats stats() const;

 private:
  explicit Exporter(ExporterOptions options) : options_(std::move(options)) {}
  void Loop();
  void Send(std::vector<Span> batch);

  const ExporterOptions options_;
  http::HttpUrl url_;
  mutable absl::Mutex mu_;
  std::deque<Span> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t queued_ ABSL_GUARDED_BY(mu_) = 0;  // taken into the queue, ever
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int flushes_ ABSL_GUARDED_BY(mu_) = 0;  // callers waiting in Flush
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Where a span sits in its trace, for its children.
struct SpanContext {
  std::string trace_id, span_id;
};

// The span the calling thread is in now (a ScopedSpan's), or nullopt.
std::optional<SpanContext> CurrentSpan();

// One span, from construction to destruction, current on this thread
// meanwhile. Inactive (records nothing) without an exporter, or when it is
// a child and the thread is in no span.
class ScopedSpan {
 public:
  // A child of the thread's current span.
  ScopedSpan(Exporter* exporter, const Clock& clock, std::string name, SpanKind kind);
  // A span of trace `trace_id` with the given ids (a server span: the ids of
  // the request's traceparent); `parent_span_id` "" for a root.
  ScopedSpan(Exporter* exporter, const Clock& clock, std::string name, SpanKind kind,
             std::string trace_id, std::string span_id, std::string parent_span_id);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

  bool active() const { return exporter_ != nullptr; }
  void SetAttribute(const std::string& key, nlohmann::json value);
  void SetError(std::string message);
  const Span& span() const { return span_; }

 private:
  void Begin();
  Exporter* exporter_;
  const Clock& clock_;
  Span span_;
  std::optional<SpanContext> previous_;
};

}  // namespace hut::tracing

#endif  // HUT_TRACING_TRACING_H_

#include "src/tracing/tracing.h"

#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/http/client.h"

namespace hut::tracing {
namespace {

using json = nlohmann::json;

thread_local std::optional<SpanContext> current;

}  // namespace

// Not a secret, so a per-thread PRNG (seeded once from the system) rather
// than a system call per span.
std::string NewSpanId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t v;
  do {
    v = rng();
  } while (v == 0);
  return absl::StrFormat("%016x", v);
}

namespace {

std::string UnixNanos(TimePoint t) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// JSON string contents; UTF-8 passes through as it is.
void AppendEscaped(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
}

void AppendString(std::string& out, std::string_view s) {
  out += '"';
  AppendEscaped(out, s);
  out += '"';
}

// An OTLP AnyValue: {"stringValue": ..} | {"intValue": "N"} | {"doubleValue": x} | {"boolValue": b}.
void AppendValue(std::string& out, const json& v) {
  if (v.is_string()) {
    out += "{\"stringValue\":";
    AppendString(out, v.get_ref<const std::string&>());
    out += '}';
  } else if (v.is_boolean()) {
    out += v.get<bool>() ? "{\"boolValue\":true}" : "{\"boolValue\":false}";
  } else if (v.is_number_integer()) {
    absl::StrAppend(&out, "{\"intValue\":\"", v.get<int64_t>(), "\"}");
  } else if (v.is_number()) {
    out += "{\"doubleValue\":";
    out += json(v.get<double>()).dump();
    out += '}';
  } else {
    out += "{\"stringValue\":";
    AppendString(out, v.dump(-1, ' ', false, json::error_handler_t::replace));
    out += '}';
  }
}

void AppendAttributes(std::string& out, const json& object) {
  out += '[';
  bool first = true;
  for (const auto& [k, v] : object.items()) {
    if (!first) out += ',';
    first = false;
    out += "{\"key\":";
    AppendString(out, k);
    out += ",\"value\":";
    AppendValue(out, v);
    out += '}';
  }
  out += ']';
}

}  // namespace

// Written by hand rather than through a JSON document: this runs for every
// span on a service's export thread.
std::string OtlpJson(const std::vector<Span>& spans, const std::map<std::string, std::string>& resource) {
  std::string out;
  out.reserve(256 + spans.size() * 320);
  out += "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
  bool first = true;
  for (const auto& [k, v] : resource) {
    if (!first) out += ',';
    first = false;
    out += "{\"key\":";
    AppendString(out, k);
    out += ",\"value\":{\"stringValue\":";
    AppendString(out, v);
    out += "}}";
  }
  out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"hut.foohut.dev/tracing\"},\"spans\":[";
  for (size_t i = 0; i < spans.size(); ++i) {
    const Span& s = spans[i];
    if (i > 0) out += ',';
    out += "{\"traceId\":";
    AppendString(out, s.trace_id);
    out += ",\"spanId\":";
    AppendString(out, s.span_id);
    if (!s.parent_span_id.empty()) {
      out += ",\"parentSpanId\":";
      AppendString(out, s.parent_span_id);
    }
    out += ",\"name\":";
    AppendString(out, s.name);
    absl::StrAppend(&out, ",\"kind\":", static_cast<int>(s.kind), ",\"startTimeUnixNano\":\"",
                    UnixNanos(s.start), "\",\"endTimeUnixNano\":\"", UnixNanos(s.end),
                    "\",\"attributes\":");
    AppendAttributes(out, s.attributes);
    if (!s.events.empty()) {
      out += ",\"events\":[";
      for (size_t e = 0; e < s.events.size(); ++e) {
        if (e > 0) out += ',';
        absl::StrAppend(&out, "{\"timeUnixNano\":\"", UnixNanos(s.events[e].at), "\",\"name\":");
        AppendString(out, s.events[e].name);
        out += ",\"attributes\":";
        AppendAttributes(out, s.events[e].attributes);
        out += '}';
      }
      out += ']';
    }
    if (s.error) {
      out += ",\"status\":{\"code\":2,\"message\":";
      AppendString(out, s.status_message);
      out += "}}";
    } else {
      out += ",\"status\":{\"code\":0}}";
    }
  }
  out += "]}]}]}";
  return out;
}

absl::StatusOr<std::unique_ptr<Exporter>> Exporter::Start(ExporterOptions options) {
  if (!options.resource.contains("service.name")) {
    return absl::InvalidArgumentError("trace exporter: resource service.name is required");
  }
  absl::StatusOr<http::HttpUrl> url = http::ParseHttpUrl(options.endpoint);
  if (!url.ok() || url->path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trace exporter: endpoint \"", options.endpoint, "\": expected http://HOST:PORT/PATH (OTLP/HTTP, e.g. "
        "http://127.0.0.1:4318/v1/traces)"));
  }
  std::unique_ptr<Exporter> x(new Exporter(std::move(options)));
  x->url_ = std::move(*url);
  x->thread_ = std::thread([p = x.get()] { p->Loop(); });
  return x;
}

Exporter::~Exporter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Exporter::Export(Span span) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= options_.max_queue) {
    ++stats_.dropped;
    return;
  }
  queue_.push_back(std::move(span));
  ++queued_;
}

void Exporter::Flush() {
  absl::MutexLock lock(&mu_);
  const uint64_t target = queued_;
  ++flushes_;  // the sender goes now, not at the interval
  auto done = [this, target]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stats_.exported + stats_.failed >= target;
  };
  mu_.Await(absl::Condition(&done));
  --flushes_;
}

Exporter::Stats Exporter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Exporter::Loop() {
  for (;;) {
    std::vector<Span> batch;
    bool stop;
    {
      absl::MutexLock lock(&mu_);
      // Wait for a full batch, the interval, or the end.
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return queue_.size() >= options_.max_batch || stopping_ || (flushes_ > 0 && !queue_.empty());
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(options_.interval.count()));
      stop = stopping_;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) Send(std::move(batch));
    if (stop) {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return;
    }
  }
}

void Exporter::Send(std::vector<Span> batch) {
  http::ClientRequest r;
  r.method = "POST";
  r.host = url_.host;
  r.port = url_.port;
  r.target = url_.path;
  r.headers.emplace("Content-Type", "application/json");
  r.body = OtlpJson(batch, options_.resource);
  r.timeout = options_.timeout;
  absl::StatusOr<http::ClientResponse> response = http::Fetch(r);
  const bool ok = response.ok() && response->status / 100 == 2;
  absl::MutexLock lock(&mu_);
  (ok ? stats_.exported : stats_.failed) += batch.size();
}

std::optional<SpanContext> CurrentSpan() { return current; }

ScopedSpan::ScopedSpan(Exporter* exporter, const Clock& clock, std::string name, SpanKind kind)
    : exporter_(current ? exporter : nullptr), clock_(clock) {
  if (!active()) return;
  span_.trace_id = current->trace_id;
  span_.parent_span_id = current->span_id;
  span_.span_id = NewSpanId();
  span_.name = std::move(name);
  span_.kind = kind;
  Begin();
}

ScopedSpan::ScopedSpan(Exporter* exporter, const Clock& clock, std::string name, SpanKind kind,
                       std::string trace_id, std::string span_id, std::string parent_span_id)
    : exporter_(exporter), clock_(clock) {
  if (!active()) return;
  span_.trace_id = std::move(trace_id);
  span_.span_id = std::move(span_id);
  span_.parent_span_id = std::move(parent_span_id);
  span_.name = std::move(name);
  span_.kind = kind;
  Begin();
}

void ScopedSpan::Begin() {
  span_.start = clock_.Now();
  previous_ = current;
  current = SpanContext{span_.trace_id, span_.span_id};
}

ScopedSpan::~ScopedSpan() {
  if (!active()) return;
  current = previous_;
  span_.end = clock_.Now();
  exporter_->Export(std::move(span_));
}

void ScopedSpan::SetAttribute(const std::string& key, nlohmann::json value) {
  if (active()) span_.attributes[key] = std::move(value);
}

void ScopedSpan::SetError(std::string message) {
  if (!active()) return;
  span_.error = true;
  span_.status_message = std::move(message);
}

}  // namespace hut::tracing

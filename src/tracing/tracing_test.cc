// Spans, their nesting on a thread, and the OTLP/HTTP JSON exporter against
// a local receiver that checks the wire format (OTLP 1.x, JSON encoding).
#include "src/tracing/tracing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "src/http/server.h"
#include "testing/fake_clock.h"

namespace hut::tracing {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

// An OTLP/HTTP receiver: POST /v1/traces, JSON; keeps the spans it got.
class Receiver {
 public:
  Receiver() {
    auto s = http::Server::Start({}, [this](const http::Request& r) {
      if (r.method != "POST" || r.path != "/v1/traces" ||
          r.Header("Content-Type").value_or("") != "application/json") {
        return http::Response::Error(400, "not OTLP/HTTP JSON");
      }
      json body = json::parse(r.body, nullptr, false);
      absl::MutexLock lock(&mu_);
      ++requests_;
      for (const json& rs : body["resourceSpans"]) {
        for (const json& ss : rs["scopeSpans"]) {
          for (const json& span : ss["spans"]) spans_.push_back({rs["resource"], span});
        }
      }
      return http::Response::Json(200, json::object());
    });
    EXPECT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }
  std::string endpoint() const { return absl::StrCat("http://127.0.0.1:", server_->port(), "/v1/traces"); }
  std::vector<std::pair<json, json>> spans() {
    absl::MutexLock lock(&mu_);
    return spans_;
  }
  int requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<json, json>> spans_;  // resource, span
  int requests_ = 0;
  std::unique_ptr<http::Server> server_;
};

std::string Attr(const json& attributes, const std::string& key) {
  for (const json& a : attributes) {
    if (a["key"] == key) return a["value"].dump();
  }
  return "";
}

TEST(OtlpJsonTest, FollowsTheJsonEncodingOfOtlp) {
  Span s;
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.span_id = "00f067aa0ba902b7";
  s.parent_span_id = "b7ad6b7169203331";
  s.name = "GET /api/v1/pages";
  s.kind = SpanKind::kServer;
  s.start = TimePoint(std::chrono::seconds(1'796'419'320));
  s.end = s.start + milliseconds(3);
  s.attributes = {{"http.response.status_code", 500}, {"url.path", "/api/v1/pages"}, {"ratio", 0.5}, {"ok", false}};
  s.error = true;
  s.status_message = "HTTP 500";
  const json j = json::parse(OtlpJson({s}, {{"service.name", "backend"}}));
  const json& rs = j["resourceSpans"][0];
  EXPECT_EQ(Attr(rs["resource"]["attributes"], "service.name"), R"({"stringValue":"backend"})");
  const json& span = rs["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(span["traceId"], s.trace_id);  // hex, not base64
  EXPECT_EQ(span["spanId"], s.span_id);
  EXPECT_EQ(span["parentSpanId"], s.parent_span_id);
  EXPECT_EQ(span["kind"], 2);
  EXPECT_EQ(span["startTimeUnixNano"], "1796419320000000000");  // 64-bit integers as strings
  EXPECT_EQ(span["endTimeUnixNano"], "1796419320003000000");
  EXPECT_EQ(Attr(span["attributes"], "http.response.status_code"), R"({"intValue":"500"})");
  EXPECT_EQ(Attr(span["attributes"], "url.path"), R"({"stringValue":"/api/v1/pages"})");
  EXPECT_EQ(Attr(span["attributes"], "ratio"), R"({"doubleValue":0.5})");
  EXPECT_EQ(Attr(span["attributes"], "ok"), R"({"boolValue":false})");
  EXPECT_EQ(span["status"], (json{{"code", 2}, {"message", "HTTP 500"}}));
  // Names and values are escaped: what goes out parses back the same.
  s.name = "GET /a\"b\\c\n\x01é";
  s.attributes = {{"q", "x\"y"}};
  const json odd = json::parse(OtlpJson({s}, {{"service.name", "b\"e"}}));
  EXPECT_EQ(odd["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"], s.name);
  EXPECT_EQ(Attr(odd["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"], "q"), R"({"stringValue":"x\"y"})");
  EXPECT_EQ(Attr(odd["resourceSpans"][0]["resource"]["attributes"], "service.name"), R"({"stringValue":"b\"e"})");
  s.parent_span_id.clear();
  EXPECT_FALSE(json::parse(OtlpJson({s}, {{"service.name", "x"}}))["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
                   .contains("parentSpanId"));
}

TEST(ExporterTest, SendsEverySpanInBatches) {
  Receiver receiver;
  ExporterOptions o;
  o.endpoint = receiver.endpoint();
  o.resource = {{"service.name", "backend"}, {"service.version", "1.0.0"}};
  o.max_batch = 100;
  auto exporter = Exporter::Start(o);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  for (int i = 0; i < 250; ++i) {
    Span s;
    s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    s.span_id = absl::StrCat("00f067aa0ba9", absl::Hex(i, absl::kZeroPad4));
    s.name = "x";
    (*exporter)->Export(std::move(s));
  }
  (*exporter)->Flush();
  EXPECT_EQ(receiver.spans().size(), 250u);
  EXPECT_GE(receiver.requests(), 3);
  EXPECT_EQ((*exporter)->stats().exported, 250u);
  EXPECT_EQ(Attr(receiver.spans()[0].first["attributes"], "service.version"), R"({"stringValue":"1.0.0"})");
}

TEST(ExporterTest, ANoneAnsweringCollectorCostsCountedSpansNotBlockedCallers) {
  ExporterOptions o;
  o.endpoint = "http://127.0.0.1:1/v1/traces";  // nothing listens
  o.resource = {{"service.name", "backend"}};
  o.max_queue = 10;
  o.timeout = milliseconds(200);
  auto exporter = Exporter::Start(o);
  ASSERT_TRUE(exporter.ok());
  for (int i = 0; i < 1000; ++i) (*exporter)->Export(Span{});
  (*exporter)->Flush();
  const Exporter::Stats s = (*exporter)->stats();
  EXPECT_GT(s.dropped, 0u);
  EXPECT_EQ(s.exported, 0u);
  EXPECT_EQ(s.dropped + s.failed, 1000u);
}

ExporterOptions To(std::string endpoint, std::map<std::string, std::string> resource) {
  ExporterOptions o;
  o.endpoint = std::move(endpoint);
  o.resource = std::move(resource);
  return o;
}

TEST(ExporterTest, BadOptionsAreClear) {
  for (const char* e : {"127.0.0.1:4318/v1/traces", "https://x:4318/v1/traces", "http://x/v1/traces",
                        "http://x:0/v1/traces", "http://x:4318"}) {
    auto x = Exporter::Start(To(e, {{"service.name", "a"}}));
    ASSERT_FALSE(x.ok()) << e;
    EXPECT_THAT(x.status().message(), ::testing::HasSubstr("expected http://HOST:PORT/PATH")) << e;
  }
  auto x = Exporter::Start(To("http://127.0.0.1:4318/v1/traces", {}));
  EXPECT_THAT(x.status().message(), ::testing::HasSubstr("service.name"));
}

TEST(ScopedSpanTest, ChildrenNestUnderTheThreadsCurrentSpan) {
  Receiver receiver;
  auto exporter = Exporter::Start(To(receiver.endpoint(), {{"service.name", "backend"}}));
  ASSERT_TRUE(exporter.ok());
  testing::FakeClock clock;
  {
    ScopedSpan orphan(exporter->get(), clock, "no parent", SpanKind::kClient);
    EXPECT_FALSE(orphan.active());  // a child needs a current span
  }
  {
    ScopedSpan server(exporter->get(), clock, "GET /x", SpanKind::kServer, "4bf92f3577b34da6a3ce929d0e0e4736",  // pragma: allowlist secret (W3C's example trace id)
                      "00f067aa0ba902b7", "b7ad6b7169203331");  // pragma: allowlist secret (a test span id)
    ASSERT_TRUE(server.active());
    EXPECT_EQ(CurrentSpan()->span_id, "00f067aa0ba902b7");
    {
      ScopedSpan sql(exporter->get(), clock, "SELECT pages", SpanKind::kClient);
      clock.Advance(milliseconds(2));
      sql.SetAttribute("db.system", "postgresql");
      sql.SetError("timeout");
      EXPECT_EQ(CurrentSpan()->span_id, sql.span().span_id);
    }
    EXPECT_EQ(CurrentSpan()->span_id, "00f067aa0ba902b7");
  }
  EXPECT_FALSE(CurrentSpan().has_value());
  (*exporter)->Flush();
  const auto spans = receiver.spans();
  ASSERT_EQ(spans.size(), 2u);
  const json& sql = spans[0].second;
  const json& server = spans[1].second;
  EXPECT_EQ(sql["name"], "SELECT pages");
  EXPECT_EQ(sql["parentSpanId"], "00f067aa0ba902b7");
  EXPECT_EQ(sql["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");  // pragma: allowlist secret (W3C's example trace id)
  EXPECT_EQ(sql["kind"], 3);
  EXPECT_EQ(sql["status"]["code"], 2);
  EXPECT_EQ(std::stoll(sql["endTimeUnixNano"].get<std::string>()) -
                std::stoll(sql["startTimeUnixNano"].get<std::string>()),
            2'000'000);
  EXPECT_EQ(server["parentSpanId"], "b7ad6b7169203331");  // pragma: allowlist secret (a test span id)
}

}  // namespace
}  // namespace hut::tracing

// The central log store (docs/logs.md): ingestion rate of foohut-api-like
// JSON lines through LogService (sink -> queue -> writer thread -> hot
// tier), and `hut logs --trace ID` / `--since` query times over what was
// stored. Goals (F7): >= 50,000 lines/s on one core; --trace over 10
// million lines under 1 s.
//
//   log_store_bench [--lines N] [--days D] [--dir DIR] [--queries Q]

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "src/logs/log_service.h"
#include "testing/fake_clock.h"

namespace {

using namespace hut;
using Wall = std::chrono::steady_clock;

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string Hex(std::mt19937_64& rng, int n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(n, '0');
  for (char& c : s) c = kDigits[rng() & 15];
  return s;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"log store: ingestion and query"};
  int64_t lines = 1'000'000;
  int days = 3;
  int queries = 20;
  std::string dir = "/tmp/hut-log-bench";
  app.add_option("--lines", lines, "lines to ingest")->check(CLI::PositiveNumber);
  app.add_option("--days", days, "days the lines span (one hot database each)")->check(CLI::PositiveNumber);
  app.add_option("--queries", queries, "queries of each kind")->check(CLI::PositiveNumber);
  app.add_option("--dir", dir, "scratch folder (emptied first)");
  CLI11_PARSE(app, argc, argv);

  std::filesystem::remove_all(dir);
  const int64_t start_ms = 1'796'342'400'000;  // 2026-12-04T00:00:00Z
  const int64_t span_ms = int64_t{days} * 86'400'000;
  // The clock stands at the end of the span: nothing is due for retention.
  testing::FakeClock clock(TimePoint(std::chrono::milliseconds(start_ms + span_ms)));

  logs::LogServiceOptions o;
  o.hot_dir = dir + "/hot";
  o.max_queued_lines = 1'000'000;
  auto service = logs::LogService::Start(o, clock);
  if (!service.ok()) {
    std::fprintf(stderr, "%s\n", std::string(service.status().message()).c_str());
    return 1;
  }

  // Lines as foohut-api writes them; a trace spans 4 lines (request, SQL,
  // Redis, response) of one replica.
  std::mt19937_64 rng(42);
  const char* services[] = {"backend", "frontend"};
  std::vector<std::string> sample_traces;
  std::vector<std::string> batch;
  batch.reserve(4096);
  LogSink* sinks[] = {&(*service)->SinkFor("backend"), &(*service)->SinkFor("frontend")};
  const double cpu0 = CpuSeconds();
  const auto t0 = Wall::now();
  std::string trace;
  int svc = 0, replica = 1;
  size_t bytes = 0;
  for (int64_t i = 0; i < lines; ++i) {
    if (i % 4 == 0) {
      trace = Hex(rng, 32);
      svc = static_cast<int>(rng() % 10 < 7 ? 0 : 1);
      replica = static_cast<int>(rng() % 5) + 1;
      if ((i / 4) % std::max<int64_t>(1, lines / 4 / queries) == 0) sample_traces.push_back(trace);
    }
    const int64_t ts = start_ms + (i * span_ms) / lines;
    const char* msg = (i % 4 == 0) ? "request started" : (i % 4 == 1) ? "query pages" : (i % 4 == 2) ? "cache get" : "request done";
    const std::string line = absl::StrFormat(
        R"({"ts":"%s","level":"%s","msg":"%s","component":"http","service":"%s","version":"1.4.2",)"
        R"("replica":"%s-%d","trace_id":"%s","request_id":"%s","method":"GET","path":"/api/pages/%d","status":%d,"duration_ms":%.1f})",
        FormatTimestamp(TimePoint(std::chrono::milliseconds(ts))), i % 97 == 0 ? "WARN" : "INFO", msg,
        services[svc], services[svc], replica, trace, trace.substr(0, 16), static_cast<int>(rng() % 10'000),
        i % 97 == 0 ? 500 : 200, (rng() % 1000) / 10.0);
    bytes += line.size();
    sinks[svc]->Write(line);
    // The generator outruns the writer: wait for it every 200,000 lines so
    // that none is dropped (the queue holds 1,000,000) and the rate is the
    // store's.
    if ((i + 1) % 200'000 == 0) (*service)->Flush();
  }
  (*service)->Flush();
  const auto t1 = Wall::now();
  const double cpu1 = CpuSeconds();
  const double wall = std::chrono::duration<double>(t1 - t0).count();
  const auto st = (*service)->stats();
  std::printf("ingest: %lld lines (%.0f bytes each), %d day databases\n", static_cast<long long>(lines),
              static_cast<double>(bytes) / lines, days);
  std::printf("  stored in %.2f s (generating included): %.0f lines/s wall, %.0f lines per CPU-second (generator and writer)\n",
              wall, lines / wall, lines / (cpu1 - cpu0));
  std::printf("  stored %llu, dropped %llu, store errors %llu\n", static_cast<unsigned long long>(st.stored),
              static_cast<unsigned long long>(st.dropped), static_cast<unsigned long long>(st.store_errors));
  uint64_t disk = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) disk += e.file_size();
  }
  std::printf("  hot tier on disk: %.0f MB (%.0f bytes/line)\n", disk / 1e6, static_cast<double>(disk) / lines);

  auto time_query = [&](const char* what, const std::function<logs::LogQuery(int)>& make) {
    std::vector<double> ms;
    size_t found = 0;
    for (int q = 0; q < queries; ++q) {
      const auto a = Wall::now();
      auto r = (*service)->Query(make(q));
      ms.push_back(std::chrono::duration<double, std::milli>(Wall::now() - a).count());
      if (r.ok()) found += r->lines.size();
    }
    std::printf("  %-40s median %8.2f ms, max %8.2f ms (%zu lines found in %d queries)\n", what, Median(ms),
                *std::max_element(ms.begin(), ms.end()), found, queries);
  };
  std::printf("query over %lld lines:\n", static_cast<long long>(lines));
  time_query("--trace ID (every day)", [&](int q) {
    logs::LogQuery lq;
    lq.trace_id = sample_traces[q % sample_traces.size()];
    return lq;
  });
  time_query("backend --since 10m", [&](int) {
    logs::LogQuery lq;
    lq.service = "backend";
    lq.from_ms = start_ms + span_ms - 600'000;
    return lq;
  });
  time_query("backend --since 10m --level WARN", [&](int) {
    logs::LogQuery lq;
    lq.service = "backend";
    lq.level = LogLevel::kWarn;
    lq.from_ms = start_ms + span_ms - 600'000;
    return lq;
  });
  time_query("frontend --since 1h --grep 'pages/42'", [&](int) {
    logs::LogQuery lq;
    lq.service = "frontend";
    lq.grep = "pages/42\"";
    lq.from_ms = start_ms + span_ms - 3'600'000;
    return lq;
  });
  return 0;
}

#ifndef HUT_APPS_FOOHUT_API_METRICS_H_
#define HUT_APPS_FOOHUT_API_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace hut::foohut {

// foohut-api's Prometheus metrics, in a registry this object owns. Label
// values are bounded: `route` is a router pattern (or "unmatched"), `method`
// and `code` come from small sets. Thread-safe.
class Metrics {
 public:
  Metrics(std::string_view version, std::string_view env);
  ~Metrics();

  // Brackets a request: http_requests_in_flight.
  void RequestStarted();
  void RequestFinished();
  void ObserveRequest(std::string_view route, std::string_view method, int code, double seconds);
  void Signup();
  void Login(bool success);
  // A page created; `owners_first`: its owner's first, a signup converted.
  void PageCreated(bool owners_first);
  void CacheLookup(std::string_view result);  // "hit", "miss" or "error"

  // The FOOHUT_VERSION this process serves (a label of foohut_build_info).
  const std::string& version() const { return version_; }

  // foohut_trace_spans_total{result}: what the trace exporter did with the
  // spans (exported, dropped, failed), read at each scrape; set before serving.
  void CountSpansWith(std::function<std::map<std::string, uint64_t>()> read) { spans_ = std::move(read); }
  // foohut_jwt_keys{kid, active}: the JWT key ids this process verifies
  // with, and which one signs (a rotation's test step reads it), read at
  // each scrape; set before serving.
  struct JwtKeyIds {
    std::string active;
    std::vector<std::string> kids;
  };
  void ReportJwtKeysWith(std::function<JwtKeyIds()> read) { jwt_keys_ = std::move(read); }

  // From now on nothing is counted (FOOHUT_METRICS=off: the benchmark of
  // what metrics cost; /metrics still answers, with what was counted).
  void StopRecording() { recording_ = false; }

  // The text exposition format 0.0.4.
  std::string Serialize() const;
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  const std::string version_;
  std::shared_ptr<prometheus::Registry> registry_;
  const std::vector<double> duration_buckets_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* durations_;
  prometheus::Gauge* in_flight_;
  prometheus::Counter* signups_;
  prometheus::Family<prometheus::Counter>* logins_;
  prometheus::Counter* pages_created_;
  prometheus::Counter* conversions_;
  prometheus::Family<prometheus::Counter>* cache_;
  std::function<std::map<std::string, uint64_t>()> spans_;
  std::function<JwtKeyIds()> jwt_keys_;
  bool recording_ = true;
};

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_METRICS_H_

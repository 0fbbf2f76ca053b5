#include "src/local/replica_traffic.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "src/http/client.h"

namespace hut::local {

int64_t ReplicaTraffic::answered() const {
  int64_t n = 0;
  for (int64_t r : responses) n += r;
  return n;
}

TrafficObserver::TrafficObserver(Haproxy& lb, TrafficOptions options)
    : lb_(lb), options_(std::move(options)) {}

absl::StatusOr<std::vector<ReplicaTraffic>> TrafficObserver::Observe(
    const std::string& service, const std::vector<LocalReplica>& replicas) const {
  absl::StatusOr<std::vector<LbServerStats>> stats = lb_.Stats();
  if (!stats.ok()) return stats.status();
  std::map<std::string, const LbServerStats*> by_name;
  for (const LbServerStats& s : *stats) {
    if (s.service == service) by_name[s.server] = &s;
  }
  std::vector<ReplicaTraffic> out;
  for (const LocalReplica& r : replicas) {
    ReplicaTraffic t;
    t.replica = r.name;
    t.revision = r.revision;
    if (auto it = by_name.find(r.name); it != by_name.end()) {
      for (size_t i = 0; i < t.responses.size(); ++i) t.responses[i] = it->second->responses[i];
      t.connection_errors = it->second->connection_errors;
      t.response_errors = it->second->response_errors;
    }
    http::ClientRequest request;
    request.host = r.address;
    request.port = r.port;
    request.target = options_.metrics_path;
    request.timeout = options_.scrape_timeout;
    absl::StatusOr<http::ClientResponse> page = http::Fetch(request);
    if (!page.ok()) {
      t.latency_error = std::string(page.status().message());
    } else if (page->status != 200) {
      t.latency_error = absl::StrCat(options_.metrics_path, " answered HTTP ", page->status);
    } else if (auto samples = metrics::ParseText(page->body); !samples.ok()) {
      t.latency_error = std::string(samples.status().message());
    } else if (auto h = metrics::SumHistogram(*samples, options_.latency_metric,
                                              options_.latency_filter);
               !h.ok()) {
      t.latency_error = std::string(h.status().message());
    } else {
      t.latency = std::move(*h);
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace hut::local

// foohut-api's /metrics page is what hut's canary analysis reads: its latency
// histogram must come out of hut's Prometheus text reader intact.
#include "apps/foohut-api/metrics.h"

#include <gtest/gtest.h>

#include <limits>

#include "src/metrics/prometheus_text.h"

namespace hut::foohut {
namespace {

TEST(MetricsTest, HutReadsTheLatencyHistogramOfTheMetricsPage) {
  Metrics metrics("1.2.3", "staging");
  metrics.ObserveRequest("/healthz", "GET", 200, 0.004);
  metrics.ObserveRequest("/api/v1/pages", "GET", 200, 0.3);
  metrics.ObserveRequest("/api/v1/pages", "GET", 500, 3.0);

  auto samples = metrics::ParseText(metrics.Serialize());
  ASSERT_TRUE(samples.ok()) << samples.status();
  auto h = metrics::SumHistogram(*samples, "http_request_duration_seconds");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->count, 3);
  EXPECT_DOUBLE_EQ(h->sum, 3.304);
  ASSERT_FALSE(h->upper_bounds.empty());
  EXPECT_EQ(h->upper_bounds.back(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(h->cumulative_counts.back(), 3);
  // 0.004 s falls in the first bucket (le 0.005); 3 s only above 2.5 s.
  EXPECT_EQ(h->upper_bounds.front(), 0.005);
  EXPECT_EQ(h->cumulative_counts.front(), 1);
  for (size_t i = 0; i < h->upper_bounds.size(); ++i) {
    if (h->upper_bounds[i] == 2.5) EXPECT_EQ(h->cumulative_counts[i], 2);
  }
}

// A JWT rotation's test step (hut's platform) looks for exactly these lines.
TEST(MetricsTest, TheJwtKeyIdsAreGaugesWithTheSigningOneMarked) {
  Metrics metrics("1.2.3", "staging");
  metrics.ReportJwtKeysWith([] { return Metrics::JwtKeyIds{"k2", {"k1", "k2"}}; });
  const std::string text = metrics.Serialize();
  EXPECT_NE(text.find("foohut_jwt_keys{kid=\"k1\",active=\"false\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("foohut_jwt_keys{kid=\"k2\",active=\"true\"} 1"), std::string::npos) << text;
}

}  // namespace
}  // namespace hut::foohut

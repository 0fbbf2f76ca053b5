#include "src/metrics/prometheus_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace hut::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// What prometheus-cpp's TextSerializer writes for foohut-api (abridged).
constexpr char kPage[] = R"(# HELP http_requests_total HTTP requests answered, by route pattern, method and status code.
# TYPE http_requests_total counter
http_requests_total{code="200",method="GET",route="/healthz"} 12
http_requests_total{code="503",method="GET",route="/readyz"} 2
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_count{method="GET",route="/healthz"} 12
http_request_duration_seconds_sum{method="GET",route="/healthz"} 0.006
http_request_duration_seconds_bucket{method="GET",route="/healthz",le="0.005"} 11
http_request_duration_seconds_bucket{method="GET",route="/healthz",le="2"} 12
http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"} 12
http_request_duration_seconds_count{method="GET",route="/api/v1/pages"} 3
http_request_duration_seconds_sum{method="GET",route="/api/v1/pages"} 4.5
http_request_duration_seconds_bucket{method="GET",route="/api/v1/pages",le="0.005"} 0
http_request_duration_seconds_bucket{method="GET",route="/api/v1/pages",le="2"} 2
http_request_duration_seconds_bucket{method="GET",route="/api/v1/pages",le="+Inf"} 3
foohut_build_info{env="staging",version="1.0.0"} 1 1700000000000
)";

TEST(ParseTextTest, ReadsSamplesLabelsAndSpecialValues) {
  auto samples = ParseText(kPage);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 13u);
  EXPECT_EQ((*samples)[0], (Sample{"http_requests_total",
                                   {{"code", "200"}, {"method", "GET"}, {"route", "/healthz"}},
                                   12}));
  EXPECT_EQ((*samples)[12].name, "foohut_build_info");  // timestamp ignored
  EXPECT_EQ((*samples)[12].labels.at("version"), "1.0.0");

  auto special = ParseText("a +Inf\nb -Inf\nc NaN\nd{x=\"q\\\"\\\\\\n\",} 1.5e3\n  \n# c\n");
  ASSERT_TRUE(special.ok()) << special.status();
  EXPECT_EQ((*special)[0].value, kInf);
  EXPECT_EQ((*special)[1].value, -kInf);
  EXPECT_TRUE(std::isnan((*special)[2].value));
  EXPECT_EQ((*special)[3].labels.at("x"), "q\"\\\n");
  EXPECT_EQ((*special)[3].value, 1500);
}

TEST(ParseTextTest, BadLinesNameTheirNumber) {
  for (const char* bad : {"ok 1\n{x=\"1\"} 2\n", "ok 1\nm{x=1} 2\n", "ok 1\nm{x=\"1\" 2\n",
                          "ok 1\nm 1 2 3\n", "ok 1\nm abc\n", "ok 1\nm\n"}) {
    auto r = ParseText(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("metrics line 2: "))
        << r.status();
  }
}

TEST(SumHistogramTest, AddsTheSeriesOfAReplicaAcrossRoutes) {
  auto samples = ParseText(kPage);
  ASSERT_TRUE(samples.ok());
  auto h = SumHistogram(*samples, "http_request_duration_seconds");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, (Histogram{{0.005, 2, kInf}, {11, 14, 15}, 4.506, 15}));

  auto one = SumHistogram(*samples, "http_request_duration_seconds",
                          {.match = {{"route", "/api/v1/pages"}}});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->cumulative_counts, (std::vector<double>{0, 2, 3}));
  EXPECT_EQ(one->count, 3);

  auto no_probes = SumHistogram(*samples, "http_request_duration_seconds",
                                {.exclude = {{"route", {"/healthz", "/readyz"}}}});
  ASSERT_TRUE(no_probes.ok());
  EXPECT_EQ(*no_probes, *one);
}

TEST(SumHistogramTest, MissingOrInconsistentHistogramsAreErrors) {
  auto samples = ParseText(kPage);
  ASSERT_TRUE(samples.ok());
  EXPECT_EQ(SumHistogram(*samples, "nope").status().code(), absl::StatusCode::kNotFound);
  auto mixed = ParseText("h_bucket{a=\"1\",le=\"1\"} 1\nh_bucket{a=\"1\",le=\"+Inf\"} 1\n"
                         "h_bucket{a=\"2\",le=\"2\"} 1\nh_bucket{a=\"2\",le=\"+Inf\"} 1\n");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(SumHistogram(*mixed, "h").status().code(), absl::StatusCode::kInvalidArgument);
  auto no_inf = ParseText("h_bucket{le=\"1\"} 1\n");
  ASSERT_TRUE(no_inf.ok());
  EXPECT_EQ(SumHistogram(*no_inf, "h").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hut::metrics

#include "src/analysis/histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace hut::analysis {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The rules of histogram_quantile (Prometheus docs, "Functions"), applied by
// hand to le = {0.1, 0.2, 0.5, 1, +Inf}, cumulative counts {10, 30, 80, 95, 100}
// (per bucket: 10, 20, 50, 15, 5).
const std::vector<double> kBounds = {0.1, 0.2, 0.5, 1, kInf};
const std::vector<uint64_t> kCounts = {10, 30, 80, 95, 100};

TEST(HistogramQuantileTest, InterpolatesLinearlyInsideTheBucket) {
  // rank 50 falls in (0.2, 0.5] holding ranks 30..80: 0.2 + 0.3 * 20/50.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, kBounds, kCounts), 0.32);
  // rank 90 in (0.5, 1] holding 80..95: 0.5 + 0.5 * 10/15.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.9, kBounds, kCounts), 0.5 + 0.5 * 10.0 / 15.0);
  // rank 95 is exactly the top of (0.5, 1]: its upper bound.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.95, kBounds, kCounts), 1.0);
}

TEST(HistogramQuantileTest, FirstBucketStartsAtZero) {
  // rank 5 in (0, 0.1] holding 0..10: 0.1 * 5/10.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.05, kBounds, kCounts), 0.05);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0, kBounds, kCounts), 0.0);
}

TEST(HistogramQuantileTest, QuantileInInfBucketIsHighestFiniteBound) {
  // rank 99 > 95: in the +Inf bucket.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, kBounds, kCounts), 1.0);
  EXPECT_DOUBLE_EQ(HistogramQuantile(1, kBounds, kCounts), 1.0);
}

TEST(HistogramQuantileTest, NoObservationsOrMalformedIsNaN) {
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, kBounds, std::vector<uint64_t>{0, 0, 0, 0, 0})));
  // Last bound not +Inf.
  EXPECT_TRUE(std::isnan(
      HistogramQuantile(0.5, std::vector<double>{0.1, 0.2}, std::vector<uint64_t>{1, 2})));
  // Fewer than two buckets.
  EXPECT_TRUE(
      std::isnan(HistogramQuantile(0.5, std::vector<double>{kInf}, std::vector<uint64_t>{7})));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, LatencyHistogram{})));
  EXPECT_TRUE(std::isnan(HistogramQuantile(std::nan(""), kBounds, kCounts)));
}

TEST(HistogramQuantileTest, OutOfRangeQuantiles) {
  EXPECT_EQ(HistogramQuantile(-0.1, kBounds, kCounts), -kInf);
  EXPECT_EQ(HistogramQuantile(1.1, kBounds, kCounts), kInf);
}

TEST(HistogramQuantileTest, NonMonotonicCountsAreRaised) {
  // ensureMonotonic: {10, 8, 20} is read as {10, 10, 20}; rank 10 is the top
  // of the first bucket.
  EXPECT_DOUBLE_EQ(
      HistogramQuantile(0.5, std::vector<double>{0.1, 0.2, kInf}, std::vector<uint64_t>{10, 8, 20}),
      0.1);
  // Total is the largest count: {4, 10, 6}: rank 0.25 * 10 = 2.5 in the first.
  EXPECT_DOUBLE_EQ(
      HistogramQuantile(0.25, std::vector<double>{0.1, 0.2, kInf}, std::vector<uint64_t>{4, 10, 6}),
      0.1 * 2.5 / 4);
}

TEST(HistogramQuantileTest, NonPositiveFirstBoundIsReturnedAsIs) {
  EXPECT_DOUBLE_EQ(
      HistogramQuantile(0.25, std::vector<double>{0, 1, kInf}, std::vector<uint64_t>{5, 10, 10}),
      0.0);
}

// The P99 edges the engine's 2 s rule relies on (foohut-api's buckets have 2).
TEST(HistogramQuantileTest, P99AroundTwoSeconds) {
  std::vector<double> b = {0.5, 1, 2, 2.5, kInf};
  // 1000 requests, rank 990. cum(2) = 990: exactly 2.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, b, std::vector<uint64_t>{900, 989, 990, 1000, 1000}),
                   2.0);
  // cum(2) = 989: rank 990 is the first of 11 in (2, 2.5]: 2 + 0.5/11.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, b, std::vector<uint64_t>{900, 989, 989, 1000, 1000}),
                   2 + 0.5 / 11);
  // cum(1) = 900, cum(2) = 991: 1 + 90/91.
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, b, std::vector<uint64_t>{800, 900, 991, 1000, 1000}),
                   1 + 90.0 / 91);
}

TEST(ValidateHistogramTest, AcceptsWellFormedAndEmpty) {
  EXPECT_TRUE(ValidateHistogram({kBounds, kCounts}).ok());
  EXPECT_TRUE(ValidateHistogram({}).ok());
}

TEST(ValidateHistogramTest, RejectsMalformed) {
  EXPECT_FALSE(ValidateHistogram({{0.1, kInf}, {1}}).ok());              // lengths
  EXPECT_FALSE(ValidateHistogram({{0.1, 0.2}, {1, 2}}).ok());            // no +Inf
  EXPECT_FALSE(ValidateHistogram({{0.2, 0.1, kInf}, {1, 2, 3}}).ok());   // order
  EXPECT_FALSE(ValidateHistogram({{0.1, 0.1, kInf}, {1, 2, 3}}).ok());   // repeat
  EXPECT_FALSE(ValidateHistogram({{0.1, 0.2, kInf}, {5, 2, 6}}).ok());   // decreasing
  EXPECT_FALSE(ValidateHistogram({{std::nan(""), kInf}, {1, 2}}).ok());  // NaN
}

}  // namespace
}  // namespace hut::analysis

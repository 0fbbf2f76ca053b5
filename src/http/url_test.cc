#include "src/http/url.h"

#include <gtest/gtest.h>

namespace hut::http {
namespace {

TEST(ParseHttpUrlTest, HostPortAndPath) {
  auto u = ParseHttpUrl("http://127.0.0.1:4318/v1/traces");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 4318);
  EXPECT_EQ(u->path, "/v1/traces");
  u = ParseHttpUrl("http://jaeger:16686");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "jaeger");
  EXPECT_EQ(u->path, "");
}

TEST(ParseHttpUrlTest, AnythingElseIsRefused) {
  for (const char* bad : {"https://x:1/", "x:4318", "http://x/v1", "http://:80", "http://x:0",
                          "http://x:65536", "http://x:port/"}) {
    EXPECT_EQ(ParseHttpUrl(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace hut::http

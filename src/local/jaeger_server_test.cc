// The real Jaeger scripts/jaeger.sh builds: spans from hut's OTLP exporter
// come back from its query API as one trace, parents kept.
#include "src/local/jaeger_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/common/ports.h"
#include "src/common/status.h"
#include "src/tracing/jaeger_query.h"
#include "src/tracing/tracing.h"
#include "testing/test_env.h"

namespace hut::local {
namespace {

using std::chrono::milliseconds;

// A Jaeger in a temporary folder `name`, on free ports.
absl::StatusOr<std::unique_ptr<JaegerServer>> StartJaeger(const std::string& name) {
  JaegerOptions o;
  o.dir = ::testing::TempDir() + "/" + name;
  HUT_ASSIGN_OR_RETURN(o.query_port, FreeLoopbackPort());
  HUT_ASSIGN_OR_RETURN(o.otlp_port, FreeLoopbackPort());
  return JaegerServer::Start(o);
}

TEST(JaegerServerTest, TheVersionIsTheOneTheBuildScriptBuilds) {
  std::ifstream in(testing::SourceDir() + "/scripts/jaeger.sh");
  std::stringstream script;
  script << in.rdbuf();
  EXPECT_THAT(script.str(), ::testing::HasSubstr(absl::StrCat("\nJAEGER=", kJaegerVersion, " ")));
}

TEST(JaegerServerTest, SpansSentAsOtlpComeBackAsOneTrace) {
  auto jaeger = StartJaeger("jaeger-test");
  ASSERT_TRUE(jaeger.ok()) << jaeger.status();

  tracing::ExporterOptions e;
  e.endpoint = (*jaeger)->otlp_endpoint();
  e.resource = {{"service.name", "backend"}};
  auto exporter = tracing::Exporter::Start(e);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  RealClock clock;
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";  // pragma: allowlist secret (W3C's example trace id)
  {
    tracing::ScopedSpan server(exporter->get(), clock, "GET /api/v1/pages/{id}", tracing::SpanKind::kServer,
                               trace, "00f067aa0ba902b7", "");
    tracing::ScopedSpan sql(exporter->get(), clock, "SELECT pages", tracing::SpanKind::kClient);
    sql.SetAttribute("db.system.name", "postgresql");
  }
  (*exporter)->Flush();
  EXPECT_EQ((*exporter)->stats().exported, 2u);

  absl::StatusOr<std::vector<tracing::TraceSpan>> spans;
  for (int i = 0; i < 50; ++i) {
    spans = tracing::ReadTrace((*jaeger)->query_url(), trace);
    if (spans.ok() && spans->size() == 2) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(spans.ok()) << spans.status();
  ASSERT_EQ(spans->size(), 2u);
  const tracing::TraceSpan& root = (*spans)[0];
  const tracing::TraceSpan& child = (*spans)[1];
  EXPECT_EQ(root.name, "GET /api/v1/pages/{id}");
  EXPECT_EQ(root.parent_id, "");
  EXPECT_EQ(root.service, "backend");
  EXPECT_EQ(child.parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(child.attributes["db.system.name"], "postgresql");
  EXPECT_EQ(tracing::ReadTrace((*jaeger)->query_url(), "0123456789abcdef0123456789abcdef").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(JaegerServerTest, AKilledJaegerIsSeenDownAndRestartsOnItsPorts) {
  auto jaeger = StartJaeger("jaeger-restart");
  ASSERT_TRUE(jaeger.ok()) << jaeger.status();
  EXPECT_FALSE((*jaeger)->Down().has_value());
  ASSERT_EQ(kill((*jaeger)->pid(), SIGKILL), 0);
  std::optional<std::string> down;
  for (int i = 0; i < 100 && !(down = (*jaeger)->Down()); ++i) std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(down.has_value());
  ASSERT_TRUE((*jaeger)->Restart().ok());
  EXPECT_FALSE((*jaeger)->Down().has_value());
  EXPECT_EQ(tracing::ReadTrace((*jaeger)->query_url(), "0123456789abcdef0123456789abcdef").status().code(),
            absl::StatusCode::kNotFound);  // it answers again, on the same port
}

TEST(JaegerServerTest, AMissingBinarySaysHowToBuildIt) {
  setenv("HUT_JAEGER_CACHE", "/nonexistent", 1);
  auto found = FindJaeger();
  unsetenv("HUT_JAEGER_CACHE");
  ASSERT_FALSE(found.ok());
  EXPECT_THAT(found.status().message(), ::testing::HasSubstr("scripts/jaeger.sh build"));
}

}  // namespace
}  // namespace hut::local

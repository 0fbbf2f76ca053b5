#include "src/http/client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "src/http/server.h"
#include "testing/test_socket.h"

namespace hut::http {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(FetchTest, AnyHttpStatusIsAValue) {
  auto server = Server::Start({}, [](const Request& r) {
    Response out = Response::Error(503, "not ready");
    out.SetHeader("X-Echo", r.Header("X-In").value_or(""));
    out.SetHeader("X-Host", r.Header("Host").value_or(""));
    return out;
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const uint16_t port = (*server)->port();
  auto r = Fetch({.port = port, .target = "/readyz", .headers = {{"X-In", "v"}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->Header("x-echo"), "v");
  EXPECT_EQ(r->Header("X-Host"), "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["code"], 503);
}

TEST(FetchTest, ResolvesHostNames) {
  auto server = Server::Start({}, [](const Request&) { return Response::Text(200, "ok"); });
  ASSERT_TRUE(server.ok()) << server.status();
  auto r = Fetch({.host = "localhost", .port = (*server)->port()});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "ok");
}

TEST(FetchTest, RefusedNamesHostPortAndCause) {
  uint16_t port;
  {
    auto server = Server::Start({}, [](const Request&) { return Response::Text(200, ""); });
    ASSERT_TRUE(server.ok());
    port = (*server)->port();
  }
  auto r = Fetch({.port = port, .target = "/x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  const std::string message(r.status().message());
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
  EXPECT_NE(message.find("refused"), std::string::npos) << message;
}

TEST(FetchTest, SilentServerTimesOut) {
  // A listening socket that never answers: the kernel accepts, nobody reads.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const uint16_t port = ntohs(addr.sin_port);

  const auto start = Clock::now();
  auto r = Fetch({.port = port, .timeout = milliseconds(200)});
  const auto elapsed = Clock::now() - start;
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_NE(r.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos);
  EXPECT_GE(elapsed, milliseconds(190));
  EXPECT_LT(elapsed, milliseconds(2000));
}

TEST(FetchTest, BadMethodIsInvalidArgument) {
  EXPECT_EQ(Fetch({.method = "GE T", .port = 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

int OpenDescriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

// Each thread reuses one event loop: a thousand requests cost no descriptor
// (an io_context per request cost two, an epoll and an eventfd).
TEST(FetchTest, RequestsReuseTheThreadsEventLoop) {
  auto server = Server::Start({}, [](const Request&) { return Response::Text(200, "ok"); });
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(Fetch({.port = (*server)->port()}).ok());  // the loop exists from here on
  const int before = OpenDescriptors();
  for (int i = 0; i < 1000; ++i) {
    auto r = Fetch({.port = (*server)->port(), .target = "/n"});
    ASSERT_TRUE(r.ok()) << r.status();
  }
  EXPECT_LE(OpenDescriptors(), before + 2);  // a connection or two still closing
  // A refused connection and a timeout leave the loop usable.
  EXPECT_FALSE(Fetch({.port = 1, .timeout = milliseconds(200)}).ok());
  EXPECT_TRUE(Fetch({.port = (*server)->port()}).ok());
}

}  // namespace
}  // namespace hut::http

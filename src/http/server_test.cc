#include "src/http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <regex>
#include <thread>

#include "src/http/client.h"
#include "testing/test_socket.h"

namespace hut::http {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Echoes the request as JSON; "/slow?ms=N" sleeps N ms first; "/throw" throws.
Response Echo(const Request& r) {
  if (r.path == "/throw") throw std::runtime_error("boom");
  if (r.path == "/slow") {
    std::this_thread::sleep_for(milliseconds(std::stoi(r.query.at("ms"))));
  }
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [name, value] : r.headers) headers[name] = value;
  return Response::Json(200, {{"method", r.method},
                              {"target", r.target},
                              {"path", r.path},
                              {"query", r.query},
                              {"body", r.body},
                              {"headers", headers},
                              {"remote", r.remote_address}});
}

std::unique_ptr<Server> StartServer(ServerOptions options = {}, Handler handler = Echo) {
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, handler);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

absl::StatusOr<ClientResponse> Get(uint16_t port, std::string target) {
  return Fetch({.port = port, .target = std::move(target)});
}

nlohmann::json Body(const ClientResponse& r) { return nlohmann::json::parse(r.body); }

// Polls `done` every millisecond for at most `limit`.
template <typename F>
bool WaitFor(F done, milliseconds limit = milliseconds(3000)) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

TEST(ServerTest, GetWithQuery) {
  auto server = StartServer();
  auto r = Get(server->port(), "/a%20b/c?x=1&y=two%20words");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-type"), "application/json");
  nlohmann::json body = Body(*r);
  EXPECT_EQ(body["method"], "GET");
  EXPECT_EQ(body["target"], "/a%20b/c?x=1&y=two%20words");
  EXPECT_EQ(body["path"], "/a b/c");
  EXPECT_EQ(body["query"], (nlohmann::json{{"x", "1"}, {"y", "two words"}}));
  EXPECT_TRUE(std::string(body["remote"]).starts_with("127.0.0.1:"));
  EXPECT_TRUE(server->Shutdown(milliseconds(1000)));
}

TEST(ServerTest, PostWithBodyAndHeaders) {
  auto server = StartServer();
  const std::string payload = R"({"title": "hello"})";
  auto r = Fetch({.method = "POST",
                  .port = server->port(),
                  .target = "/pages",
                  .headers = {{"Content-Type", "application/json"}, {"X-Custom", "Value"}},
                  .body = payload});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  nlohmann::json body = Body(*r);
  EXPECT_EQ(body["method"], "POST");
  EXPECT_EQ(body["body"], payload);
  EXPECT_EQ(body["headers"]["X-Custom"], "Value");
}

TEST(ServerTest, HeadSendsHeadersWithoutBody) {
  auto server =
      StartServer({}, [](const Request& r) { return Response::Text(200, "twelve bytes"); });
  auto r = Fetch({.method = "HEAD", .port = server->port(), .target = "/"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->Header("Content-Length"), "12");
  // And the connection stays usable: HEAD then GET on one connection.
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::optional<std::string> head = s.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_TRUE(head->ends_with("\r\n\r\n")) << *head;
  std::optional<std::string> get = s.ReadResponse();
  ASSERT_TRUE(get.has_value());
  EXPECT_TRUE(get->ends_with("twelve bytes")) << *get;
}

TEST(ServerTest, NoContentHasNoBody) {
  auto server = StartServer({}, [](const Request&) { return Response::Text(204, "ignored"); });
  auto r = Get(server->port(), "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->body, "");
}

TEST(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  auto server = StartServer();
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::optional<std::string> first = s.ReadResponse();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->starts_with("HTTP/1.1 200")) << *first;
  EXPECT_EQ(first->find("Connection: close"), std::string::npos) << *first;
  ASSERT_TRUE(s.Send("POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
  std::optional<std::string> second = s.ReadResponse();
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->find(R"("path":"/two")"), std::string::npos) << *second;
  EXPECT_NE(second->find(R"("body":"abc")"), std::string::npos) << *second;
}

TEST(ServerTest, PipelinedRequestsAnsweredInOrder) {
  auto server = StartServer();
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET /slow?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::optional<std::string> a = s.ReadResponse();
  std::optional<std::string> b = s.ReadResponse();
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_NE(a->find(R"("path":"/slow")"), std::string::npos);
  EXPECT_NE(b->find(R"("path":"/b")"), std::string::npos);
}

TEST(ServerTest, ExpectContinue) {
  ServerOptions options;
  options.max_body_bytes = 1000;
  auto server = StartServer(options);
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     "Content-Length: 5\r\n\r\n"));
  std::optional<std::string> interim = s.ReadResponse();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(*interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(s.Send("hello"));
  std::optional<std::string> r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->starts_with("HTTP/1.1 200")) << *r;
  EXPECT_NE(r->find(R"("body":"hello")"), std::string::npos) << *r;

  // Too big: refused before the body is sent.
  TestSocket big;
  ASSERT_TRUE(big.Connect(server->port()));
  ASSERT_TRUE(big.Send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       "Content-Length: 5000\r\n\r\n"));
  r = big.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->starts_with("HTTP/1.1 413")) << *r;
}

TEST(ServerTest, AbsoluteFormTarget) {
  auto server = StartServer();
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET http://example.com:80/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
                     "GET HTTP://example.com?y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  std::optional<std::string> r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->find(R"("path":"/a/b")"), std::string::npos) << *r;
  EXPECT_NE(r->find(R"("query":{"x":"1"})"), std::string::npos) << *r;
  r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->find(R"("path":"/")"), std::string::npos) << *r;
  EXPECT_NE(r->find(R"("query":{"y":"2"})"), std::string::npos) << *r;
}

TEST(ServerTest, SendsDateHeader) {
  auto server = StartServer();
  auto r = Get(server->port(), "/");
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string date = r->Header("Date").value_or("");
  EXPECT_TRUE(std::regex_match(date, std::regex("(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
                                                "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|"
                                                "Dec) 20[0-9]{2} [0-2][0-9]:[0-5][0-9]:[0-6][0-9] "
                                                "GMT")))
      << date;
}

TEST(ServerTest, Http10ClosesAfterResponse) {
  auto server = StartServer();
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET / HTTP/1.0\r\n\r\n"));
  std::optional<std::string> r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->starts_with("HTTP/1.0 200")) << *r;
  EXPECT_TRUE(s.WaitClosed());
}

TEST(ServerTest, GarbageGets400AndClose) {
  auto server = StartServer();
  for (const char* garbage : {"this is not http\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                              "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                              "GET noslash HTTP/1.1\r\nHost: x\r\n\r\n",
                              "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"}) {
    TestSocket s;
    ASSERT_TRUE(s.Connect(server->port()));
    ASSERT_TRUE(s.Send(garbage));
    std::optional<std::string> r = s.ReadResponse();
    ASSERT_TRUE(r.has_value()) << garbage;
    EXPECT_TRUE(r->starts_with("HTTP/1.1 400")) << *r;
    EXPECT_NE(r->find("Connection: close"), std::string::npos) << *r;
    EXPECT_NE(r->find(R"({"error":{"code":400,)"), std::string::npos) << *r;
    EXPECT_TRUE(s.WaitClosed()) << garbage;
  }
  // The server still works.
  auto r = Get(server->port(), "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST(ServerTest, BodyOverLimitGets413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartServer(options);
  auto ok = Fetch({.method = "POST", .port = server->port(), .body = std::string(1024, 'x')});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
  auto r = Fetch({.method = "POST", .port = server->port(), .body = std::string(100'000, 'x')});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Body(*r)["error"]["code"], 413);
  // Chunked bodies are limited too.
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  std::string chunk(2000, 'y');
  ASSERT_TRUE(s.Send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
                     chunk + "\r\n0\r\n\r\n"));
  std::optional<std::string> raw = s.ReadResponse();
  ASSERT_TRUE(raw.has_value());
  EXPECT_TRUE(raw->starts_with("HTTP/1.1 413")) << *raw;
}

TEST(ServerTest, HugeHeaderGets431) {
  auto server = StartServer();
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nX-Big: " + std::string(20'000, 'h') + "\r\n\r\n"));
  std::optional<std::string> r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->starts_with("HTTP/1.1 431")) << *r;
}

TEST(ServerTest, HandlerExceptionGets500AndServerLives) {
  auto server = StartServer();
  auto r = Get(server->port(), "/throw");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(Body(*r)["error"]["code"], 500);
  r = Get(server->port(), "/fine");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST(ServerTest, InvalidStatusFromHandlerGets500) {
  auto server = StartServer({}, [](const Request&) { return Response::Text(0, ""); });
  auto r = Get(server->port(), "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 500);
}

TEST(ServerTest, HandlerHeadersCannotBreakFraming) {
  auto server = StartServer({}, [](const Request&) {
    Response r = Response::Text(200, "body");
    r.headers.emplace("Content-Length", "999");
    r.headers.emplace("X-Injected", "a\r\nSet-Cookie: evil=1");
    r.headers.emplace("X-Fine", "yes");
    return r;
  });
  auto r = Get(server->port(), "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "body");
  EXPECT_EQ(r->Header("Set-Cookie"), std::nullopt);
  EXPECT_EQ(r->Header("X-Fine"), "yes");
}

TEST(ServerTest, PortTakenIsAClearError) {
  auto server = StartServer();
  ServerOptions options;
  options.port = server->port();
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(options, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(),
            "cannot listen on 127.0.0.1:" + std::to_string(server->port()) +
                ": Address already in use");
}

TEST(ServerTest, BadAddressIsAnError) {
  ServerOptions options;
  options.address = "not-an-ip";
  EXPECT_EQ(Server::Start(options, Echo).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ServerTest, ConcurrentClients) {
  ServerOptions options;
  options.worker_threads = 4;
  auto server = StartServer(options);
  constexpr int kThreads = 8;
  constexpr int kRequests = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        const std::string target = "/t" + std::to_string(t) + "/" + std::to_string(i);
        auto r = Get(server->port(), target);
        if (r.ok() && r->status == 200 && Body(*r)["target"] == target) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
  EXPECT_TRUE(server->Shutdown(milliseconds(2000)));
}

TEST(ServerTest, ReadTimeoutClosesHalfSentRequest) {
  ServerOptions options;
  options.read_timeout = milliseconds(200);
  auto server = StartServer(options);
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: x\r\n"));
  const auto start = Clock::now();
  EXPECT_TRUE(s.WaitClosed());
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
}

TEST(ServerTest, IdleTimeoutClosesQuietConnection) {
  ServerOptions options;
  options.idle_timeout = milliseconds(200);
  auto server = StartServer(options);
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(s.ReadResponse().has_value());
  const auto start = Clock::now();
  EXPECT_TRUE(s.WaitClosed());
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
}

// --- Graceful shutdown ---

TEST(ServerShutdownTest, InFlightRequestFinishesWithConnectionClose) {
  auto server = StartServer();
  const uint16_t port = server->port();
  auto slow = std::async(std::launch::async, [port] { return Get(port, "/slow?ms=500"); });
  ASSERT_TRUE(WaitFor([&] { return server->in_flight() == 1; }));

  auto shutdown = std::async(std::launch::async,
                             [&] { return server->Shutdown(milliseconds(5000)); });
  // New connections are refused while the slow request is still running.
  ASSERT_TRUE(WaitFor([port] {
    TestSocket probe;
    return !probe.Connect(port);
  }));
  EXPECT_EQ(server->in_flight(), 1);

  absl::StatusOr<ClientResponse> r = slow.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(shutdown.get());
  EXPECT_FALSE(Get(port, "/").ok());
}

TEST(ServerShutdownTest, RequestBeingReadIsFinished) {
  auto server = StartServer();
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc"));
  // A small bounded wait: the server must have read the first bytes, or the
  // connection would count as idle and be closed.
  std::this_thread::sleep_for(milliseconds(100));
  auto shutdown = std::async(std::launch::async,
                             [&] { return server->Shutdown(milliseconds(5000)); });
  std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(s.Send("def"));
  std::optional<std::string> r = s.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->starts_with("HTTP/1.1 200")) << *r;
  EXPECT_NE(r->find("Connection: close"), std::string::npos) << *r;
  EXPECT_NE(r->find(R"("body":"abcdef")"), std::string::npos) << *r;
  EXPECT_TRUE(s.WaitClosed());
  EXPECT_TRUE(shutdown.get());
}

TEST(ServerShutdownTest, IdleKeepAliveConnectionIsClosed) {
  auto server = StartServer();
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(s.ReadResponse().has_value());
  TestSocket never_sent;
  ASSERT_TRUE(never_sent.Connect(server->port()));

  const auto start = Clock::now();
  EXPECT_TRUE(server->Shutdown(milliseconds(5000)));
  EXPECT_LT(Clock::now() - start, milliseconds(1000));  // did not wait for idle clients
  EXPECT_TRUE(s.WaitClosed());
  EXPECT_TRUE(never_sent.WaitClosed());
}

TEST(ServerShutdownTest, HandlerSlowerThanGraceIsCut) {
  auto server = StartServer();
  const uint16_t port = server->port();
  const auto start = Clock::now();
  auto slow = std::async(std::launch::async, [port] {
    absl::StatusOr<ClientResponse> r = Get(port, "/slow?ms=1500");
    return std::make_pair(r.ok(), Clock::now());
  });
  ASSERT_TRUE(WaitFor([&] { return server->in_flight() == 1; }));
  EXPECT_FALSE(server->Shutdown(milliseconds(100)));
  auto [ok, answered_at] = slow.get();
  EXPECT_FALSE(ok);
  // The client learns when the grace is over, not when the handler returns.
  EXPECT_LT(answered_at - start, milliseconds(1400));
  EXPECT_FALSE(server->Shutdown(milliseconds(100)));  // idempotent: same answer
}

TEST(ServerShutdownTest, UnderLoadEveryAnswerIsCompleteOrTheConnectionFails) {
  ServerOptions options;
  options.worker_threads = 4;
  auto server = StartServer(options);
  const uint16_t port = server->port();
  std::atomic<int> answered{0};
  std::atomic<int> bad{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t) {
    clients.emplace_back([&, t] {
      // Raw keep-alive connections, as a load balancer would hold them.
      while (!stop) {
        TestSocket s;
        if (!s.Connect(port)) return;  // refused: shutdown has begun
        for (int i = 0; i < 50 && !stop; ++i) {
          if (!s.Send("GET /slow?ms=" + std::to_string(i % 3) + " HTTP/1.1\r\nHost: x\r\n\r\n")) {
            break;
          }
          std::optional<std::string> r = s.ReadResponse();
          if (!r) break;  // closed while idle: the client would retry
          if (r->starts_with("HTTP/1.1 200")) {
            ++answered;
          } else {
            ++bad;
          }
          if (r->find("Connection: close") != std::string::npos) break;
        }
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return answered.load() > 200; }));
  EXPECT_TRUE(server->Shutdown(milliseconds(3000)));
  stop = true;
  for (std::thread& c : clients) c.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ServerShutdownTest, IdempotentAndConcurrent) {
  auto server = StartServer();
  std::vector<std::future<bool>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::async(std::launch::async,
                               [&] { return server->Shutdown(milliseconds(1000)); }));
  }
  for (auto& c : calls) EXPECT_TRUE(c.get());
  EXPECT_TRUE(server->Shutdown(milliseconds(0)));
}

TEST(ServerShutdownTest, DestructorShutsDown) {
  uint16_t port;
  {
    auto server = StartServer();
    port = server->port();
    ASSERT_TRUE(Get(port, "/").ok());
  }
  TestSocket probe;
  EXPECT_FALSE(probe.Connect(port));
}

// A flood of idle connections past max_connections costs the oldest of them,
// never a real client: the newest connection still gets its answer.
TEST(ServerTest, ConnectionLimitEvictsTheOldestIdleConnection) {
  ServerOptions options;
  options.max_connections = 8;
  auto server = StartServer(options);
  std::vector<std::unique_ptr<TestSocket>> idle;
  for (int i = 0; i < 40; ++i) {
    idle.push_back(std::make_unique<TestSocket>());
    ASSERT_TRUE(idle.back()->Connect(server->port(), milliseconds(3000)));
  }
  auto r = Get(server->port(), "/after-the-flood");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // The first connections were closed to make room; the newest are open.
  EXPECT_TRUE(idle.front()->WaitClosed());
  ASSERT_TRUE(idle.back()->Send("GET /still-here HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::optional<std::string> answer = idle.back()->ReadResponse();
  ASSERT_TRUE(answer.has_value());
  EXPECT_NE(answer->find("200 OK"), std::string::npos);
}

// Slowloris: clients that never finish their request headers are evicted
// (after every idle one), so they cannot lock real clients out either.
TEST(ServerTest, ConnectionLimitEvictsSlowClientsToo) {
  ServerOptions options;
  options.max_connections = 6;
  auto server = StartServer(options);
  std::vector<std::unique_ptr<TestSocket>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<TestSocket>());
    ASSERT_TRUE(slow.back()->Connect(server->port(), milliseconds(3000)));
    ASSERT_TRUE(slow.back()->Send("GET / HTTP/1.1\r\nX-Slow: "));
  }
  for (int i = 0; i < 5; ++i) {
    auto r = Get(server->port(), "/real");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_TRUE(slow.front()->WaitClosed());
}

// Connections opening and closing fast at the cap, from many threads: the
// evictions race with sessions ending, and the server keeps answering.
TEST(ServerTest, ConnectionChurnAtTheLimitKeepsTheServerAnswering) {
  ServerOptions options;
  options.max_connections = 4;
  auto server = StartServer(options);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        TestSocket s;
        if (!s.Connect(server->port(), milliseconds(500))) continue;
        if (i % 3 == 0) s.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      }  // closed at once, often while being evicted
    });
  }
  for (auto& t : threads) t.join();
  // Answers to departed clients may still be going out: at the cap with
  // every connection busy a newcomer is refused, so ask until one is taken.
  absl::StatusOr<ClientResponse> r;
  ASSERT_TRUE(WaitFor([&] {
    r = Fetch({.port = server->port(), .target = "/after", .timeout = milliseconds(1000)});
    return r.ok();
  })) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(server->Shutdown(milliseconds(2000)));
}

// Busy connections are never evicted: at the limit with every connection
// handling a request, a new one is refused and the busy ones complete.
TEST(ServerTest, ConnectionLimitNeverCutsARequestBeingHandled) {
  ServerOptions options;
  options.max_connections = 2;
  auto server = StartServer(options);
  auto a = std::async(std::launch::async, [&] { return Get(server->port(), "/slow?ms=600"); });
  auto b = std::async(std::launch::async, [&] { return Get(server->port(), "/slow?ms=600"); });
  ASSERT_TRUE(WaitFor([&] { return server->in_flight() == 2; }));
  TestSocket extra;
  ASSERT_TRUE(extra.Connect(server->port(), milliseconds(3000)));
  EXPECT_TRUE(extra.WaitClosed());
  auto ra = a.get();
  auto rb = b.get();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(ra->status, 200);
  EXPECT_EQ(rb->status, 200);
}

}  // namespace
}  // namespace hut::http

// Streamed responses (Response::Stream) end to end: the server writing them,
// FetchStream reading them, and what happens when either side goes away.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/http/client.h"
#include "src/http/server.h"
#include "src/http/sse.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/test_socket.h"

namespace hut::http {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using Events = std::vector<SseEvent>;

// Bounds for what should happen at once; generous, for noisy machines.
constexpr milliseconds kLong{10'000};

// A counter that one thread raises and another waits on, with a bound.
class Level {
 public:
  void Set(int value) {
    absl::MutexLock lock(&mu_);
    value_ = value;
  }
  void Add(int delta) {
    absl::MutexLock lock(&mu_);
    value_ += delta;
  }
  bool WaitAtLeast(int value, milliseconds limit = kLong) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return value_ >= value; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::FromChrono(limit));
  }

 private:
  absl::Mutex mu_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
};

// Blocks a body function until its stream closes (via OnClose, not a write),
// for at most `limit`. True if the close ended the wait.
bool WaitUntilClosed(StreamWriter& writer, milliseconds limit) {
  Level closed;
  writer.OnClose([&closed] { closed.Set(1); });
  return closed.WaitAtLeast(1, limit) && !writer.open();
}

std::unique_ptr<Server> StartServer(ServerOptions options, Handler handler) {
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Polls `done` every millisecond for at most `limit`.
template <typename F>
bool WaitFor(F done, milliseconds limit = kLong) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Reads an event stream with FetchStream, collecting its events.
struct EventReader {
  SseParser parser;
  Events events;
  Level count;
  absl::Status parse_status;

  bool OnData(std::string_view piece) {
    absl::StatusOr<Events> got = parser.Feed(piece);
    if (!got.ok()) {
      parse_status = got.status();
      return false;
    }
    events.insert(events.end(), got->begin(), got->end());
    count.Set(static_cast<int>(events.size()));
    return true;
  }
  StreamCallback Callback() {
    return [this](std::string_view piece) { return OnData(piece); };
  }
};

std::string Step(int i) { return "{\"step\":" + std::to_string(i) + "}"; }

TEST(StreamTest, EachEventReachesTheClientBeforeTheNextIsWritten) {
  Level received;
  std::atomic<bool> in_lockstep{true};
  auto server = StartServer({}, [&](const Request&) {
    return SseResponse([&](StreamWriter& writer) {
      for (int i = 1; i <= 3; ++i) {
        if (!writer.Write(FormatSseEvent("progress", std::to_string(i), Step(i)))) {
          in_lockstep = false;
          return;
        }
        // Had the event been held back in a buffer, the client could not
        // have seen it, and this wait would time out.
        if (!received.WaitAtLeast(i)) {
          in_lockstep = false;
          return;
        }
      }
    });
  });
  EventReader reader;
  absl::StatusOr<ClientResponse> r =
      FetchStream({.port = server->port(), .target = "/api/v1/events/stream", .timeout = 2 * kLong},
                  [&](std::string_view piece) {
                    if (!reader.OnData(piece)) return false;
                    received.Set(static_cast<int>(reader.events.size()));
                    return true;
                  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Content-Type"), "text/event-stream");
  EXPECT_EQ(r->Header("Cache-Control"), "no-cache");
  EXPECT_EQ(r->Header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r->Header("Content-Length"), std::nullopt);
  EXPECT_EQ(r->body, "");
  EXPECT_TRUE(in_lockstep);
  EXPECT_TRUE(reader.parse_status.ok()) << reader.parse_status;
  EXPECT_EQ(
      reader.events,
      (Events{{"progress", "1", Step(1)}, {"progress", "2", Step(2)}, {"progress", "3", Step(3)}}));
}

TEST(StreamTest, ChunkedOnTheWireAndConnectionCloses) {
  auto server = StartServer({}, [](const Request&) {
    return Response::Stream(200, "text/plain", [](StreamWriter& writer) {
      writer.Write("hello");
      writer.Write("");  // sends nothing: an empty chunk would end the body
      writer.Write(" world!");
    });
  });
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::optional<std::string> head = s.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_TRUE(head->starts_with("HTTP/1.1 200 OK\r\n")) << *head;
  EXPECT_NE(head->find("Transfer-Encoding: chunked\r\n"), std::string::npos) << *head;
  EXPECT_NE(head->find("Connection: close\r\n"), std::string::npos) << *head;
  EXPECT_NE(head->find("Cache-Control: no-cache\r\n"), std::string::npos) << *head;
  EXPECT_NE(head->find("Date: "), std::string::npos) << *head;
  EXPECT_EQ(head->find("Content-Length"), std::string::npos) << *head;
  EXPECT_EQ(s.ReadUntilClosed(), "5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n");
}

TEST(StreamTest, Http10GetsACloseDelimitedBody) {
  auto server = StartServer({}, [](const Request&) {
    return Response::Stream(200, "text/plain", [](StreamWriter& writer) {
      writer.Write("hello");
      writer.Write(" world");
    });
  });
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET /s HTTP/1.0\r\n\r\n"));
  std::optional<std::string> head = s.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_TRUE(head->starts_with("HTTP/1.0 200 OK\r\n")) << *head;
  EXPECT_EQ(head->find("Transfer-Encoding"), std::string::npos) << *head;
  EXPECT_EQ(head->find("Content-Length"), std::string::npos) << *head;
  EXPECT_EQ(s.ReadUntilClosed(), "hello world");
}

TEST(StreamTest, HeadGetsTheHeadersAndTheBodyDoesNotRun) {
  std::atomic<bool> ran{false};
  auto server = StartServer(
      {}, [&](const Request&) { return SseResponse([&](StreamWriter&) { ran = true; }); });
  absl::StatusOr<ClientResponse> r =
      Fetch({.method = "HEAD", .port = server->port(), .target = "/events"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Content-Type"), "text/event-stream");
  EXPECT_EQ(r->body, "");
  server->Shutdown(kLong);
  EXPECT_FALSE(ran.load());
}

TEST(StreamTest, ClientLeavingMakesWriteReturnFalse) {
  std::promise<void> writes;
  auto server = StartServer({}, [&](const Request&) {
    return SseResponse([&](StreamWriter& writer) {
      int n = 0;
      while (writer.Write(FormatSseEvent("tick", "", std::to_string(n)))) {
        ++n;
        std::this_thread::sleep_for(milliseconds(10));  // pacing, not waiting
      }
      EXPECT_FALSE(writer.open());
      writes.set_value();
    });
  });
  EventReader reader;
  absl::StatusOr<ClientResponse> r =
      FetchStream({.port = server->port(), .target = "/events"}, [&](std::string_view piece) {
        reader.OnData(piece);
        return reader.events.empty();  // stop after the first event
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  ASSERT_FALSE(reader.events.empty());
  EXPECT_EQ(reader.events[0].data, "0");
  std::future<void> returned = writes.get_future();
  // (Even the write that reached the client may report false, if the client
  // was seen leaving before the write's completion was.)
  ASSERT_EQ(returned.wait_for(kLong), std::future_status::ready) << "the body never returned";
  EXPECT_TRUE(WaitFor([&] { return server->open_streams() == 0 && server->in_flight() == 0; }));
}

TEST(StreamTest, ClientLeavingWakesABodyWaitingForItsOwnEvents) {
  std::promise<bool> woken;
  auto server = StartServer({}, [&](const Request&) {
    return SseResponse([&](StreamWriter& writer) {
      writer.Write(FormatSseEvent("hello", "", "x"));
      woken.set_value(WaitUntilClosed(writer, milliseconds(60'000)));
    });
  });
  TestSocket s;
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(s.ReadResponse(/*head_request=*/true).has_value());
  ASSERT_TRUE(WaitFor([&] { return server->open_streams() == 1; }));
  const auto start = Clock::now();
  s.Close();
  std::future<bool> returned = woken.get_future();
  ASSERT_EQ(returned.wait_for(kLong), std::future_status::ready) << "the body was not woken";
  EXPECT_TRUE(returned.get());
  EXPECT_LT(Clock::now() - start, kLong);
}

TEST(StreamTest, ShutdownEndsOpenStreamsWellWithinGrace) {
  std::promise<void> writer_returned;
  std::promise<bool> waiter_returned;
  auto server = StartServer({}, [&](const Request& request) {
    if (request.path == "/writing") {
      // Endless: a keepalive every 20 ms until told to stop.
      return SseResponse([&](StreamWriter& writer) {
        while (writer.Write(kSseKeepalive)) std::this_thread::sleep_for(milliseconds(20));
        writer_returned.set_value();
      });
    }
    // Endless too, but quiet: waits for events that never come.
    return SseResponse([&](StreamWriter& writer) {
      writer.Write(kSseKeepalive);
      waiter_returned.set_value(WaitUntilClosed(writer, milliseconds(60'000)));
    });
  });
  const uint16_t port = server->port();
  Level started;
  auto read = [&](std::string target) {
    return std::async(std::launch::async, [&started, port, target] {
      bool counted = false;
      return FetchStream({.port = port, .target = target, .timeout = 2 * kLong},
                         [&](std::string_view) {
                           if (!counted) started.Add(1);
                           counted = true;
                           return true;
                         });
    });
  };
  auto writing = read("/writing");
  auto quiet = read("/quiet");
  ASSERT_TRUE(started.WaitAtLeast(2));
  EXPECT_EQ(server->open_streams(), 2);

  const auto start = Clock::now();
  EXPECT_TRUE(server->Shutdown(milliseconds(30'000)));
  EXPECT_LT(Clock::now() - start, kLong);  // not the 30 s grace
  // Both streams ended properly (final chunk), not cut.
  for (auto* f : {&writing, &quiet}) {
    absl::StatusOr<ClientResponse> r = f->get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(writer_returned.get_future().wait_for(milliseconds(0)), std::future_status::ready);
  std::future<bool> waiter = waiter_returned.get_future();
  ASSERT_EQ(waiter.wait_for(milliseconds(0)), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
}

TEST(StreamTest, StreamStartingDuringShutdownGets503) {
  Level release;
  std::atomic<bool> ran{false};
  auto server = StartServer({}, [&](const Request&) {
    release.WaitAtLeast(1);
    return SseResponse([&](StreamWriter&) { ran = true; });
  });
  const uint16_t port = server->port();
  auto r = std::async(std::launch::async, [port] {
    return Fetch({.port = port, .target = "/events", .timeout = 2 * kLong});
  });
  ASSERT_TRUE(WaitFor([&] { return server->in_flight() == 1; }));
  auto shutdown = std::async(std::launch::async, [&] { return server->Shutdown(kLong); });
  ASSERT_TRUE(WaitFor([port] {  // shutdown has begun: new connections are refused
    TestSocket probe;
    return !probe.Connect(port);
  }));
  release.Set(1);
  absl::StatusOr<ClientResponse> answer = r.get();
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status, 503);
  EXPECT_EQ(nlohmann::json::parse(answer->body)["error"]["message"], "server is shutting down");
  EXPECT_TRUE(shutdown.get());
  EXPECT_FALSE(ran.load());
}

TEST(StreamTest, StreamsBeyondMaxStreamsGet503) {
  hut::testing::CaptureLogSink sink;
  hut::testing::FakeClock clock;
  ServerOptions options;
  options.max_streams = 2;
  options.logger.emplace(sink, clock, "http");
  auto server = StartServer(options, [](const Request& request) {
    if (request.path == "/plain") return Response::Text(200, "plain");
    return SseResponse([](StreamWriter& writer) {
      writer.Write(kSseKeepalive);
      WaitUntilClosed(writer, milliseconds(60'000));
    });
  });
  const uint16_t port = server->port();
  Level started;
  std::vector<std::future<absl::StatusOr<ClientResponse>>> streams;
  for (int i = 0; i < 2; ++i) {
    streams.push_back(std::async(std::launch::async, [&started, port] {
      bool counted = false;
      return FetchStream({.port = port, .target = "/events", .timeout = 2 * kLong},
                         [&](std::string_view) {
                           if (!counted) started.Add(1);
                           counted = true;
                           return true;
                         });
    }));
  }
  ASSERT_TRUE(started.WaitAtLeast(2));
  EXPECT_EQ(server->open_streams(), 2);
  EXPECT_EQ(server->in_flight(), 2);

  bool called = false;
  absl::StatusOr<ClientResponse> third =
      FetchStream({.port = port, .target = "/events"}, [&](std::string_view) {
        called = true;
        return true;
      });
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->status, 503);
  EXPECT_FALSE(called);  // an error is not streamed: its body is in the response
  nlohmann::json error = nlohmann::json::parse(third->body);
  EXPECT_EQ(error["error"]["code"], 503);
  EXPECT_EQ(error["error"]["message"], "too many open streams (limit 2)");
  bool logged = false;
  for (const nlohmann::json& line : sink.Parsed()) {
    if (line["msg"] == "stream refused: too many open streams") logged = line["limit"] == 2;
  }
  EXPECT_TRUE(logged);

  // Ordinary requests are still served.
  absl::StatusOr<ClientResponse> plain = Fetch({.port = port, .target = "/plain"});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->body, "plain");

  EXPECT_TRUE(server->Shutdown(kLong));
  for (auto& s : streams) {
    absl::StatusOr<ClientResponse> r = s.get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
}

TEST(StreamTest, StreamsAlwaysLeaveAWorkerForOrdinaryRequests) {
  ServerOptions options;
  options.worker_threads = 2;  // max_streams stays 8: the limit becomes 1
  auto server = StartServer(options, [](const Request& request) {
    if (request.path == "/plain") return Response::Text(200, "plain");
    return SseResponse([](StreamWriter& writer) {
      writer.Write(kSseKeepalive);
      WaitUntilClosed(writer, milliseconds(60'000));
    });
  });
  const uint16_t port = server->port();
  Level started;
  auto stream = std::async(std::launch::async, [&started, port] {
    return FetchStream({.port = port, .target = "/events", .timeout = 2 * kLong},
                       [&](std::string_view) {
                         started.Set(1);
                         return true;
                       });
  });
  ASSERT_TRUE(started.WaitAtLeast(1));
  absl::StatusOr<ClientResponse> second = Fetch({.port = port, .target = "/events"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->status, 503);
  absl::StatusOr<ClientResponse> plain = Fetch({.port = port, .target = "/plain"});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->body, "plain");
  EXPECT_TRUE(server->Shutdown(kLong));
  EXPECT_TRUE(stream.get().ok());
}

TEST(StreamTest, NegativeMaxStreamsIsAnError) {
  ServerOptions options;
  options.max_streams = -1;
  EXPECT_EQ(Server::Start(options, [](const Request&) { return Response::Text(200, ""); })
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StreamTest, BodyThatThrowsCutsTheStreamAndIsLogged) {
  hut::testing::CaptureLogSink sink;
  hut::testing::FakeClock clock;
  ServerOptions options;
  options.logger.emplace(sink, clock, "http");
  auto server = StartServer(options, [](const Request&) {
    return Response::Stream(200, "text/plain", [](StreamWriter& writer) {
      writer.Write("first");
      throw std::runtime_error("boom");
    });
  });
  std::string got;
  absl::StatusOr<ClientResponse> r =
      FetchStream({.port = server->port(), .target = "/s"}, [&](std::string_view piece) {
        got += piece;
        return true;
      });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(got, "first");
  EXPECT_TRUE(server->Shutdown(kLong));
  bool logged = false;
  for (const nlohmann::json& line : sink.Parsed()) {
    if (line["msg"] == "stream body threw") logged = line["error"] == "boom";
  }
  EXPECT_TRUE(logged);
}

TEST(StreamTest, WriteFailsWhenTheClientStopsReading) {
  ServerOptions options;
  options.read_timeout = milliseconds(300);  // also bounds each write
  std::promise<void> returned;
  auto server = StartServer(options, [&](const Request&) {
    return Response::Stream(200, "application/octet-stream", [&](StreamWriter& writer) {
      const std::string big(256 * 1024, 'x');
      while (writer.Write(big)) {
      }
      returned.set_value();
    });
  });
  TestSocket s;  // sends the request, then never reads
  ASSERT_TRUE(s.Connect(server->port()));
  ASSERT_TRUE(s.Send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(returned.get_future().wait_for(milliseconds(30'000)), std::future_status::ready);
  EXPECT_TRUE(WaitFor([&] { return server->open_streams() == 0; }));
}

// --- FetchStream on its own ---

TEST(FetchStreamTest, ErrorStatusIsReturnedWithItsBody) {
  auto server = StartServer({}, [](const Request&) { return Response::Error(404, "no such"); });
  bool called = false;
  absl::StatusOr<ClientResponse> r =
      FetchStream({.port = server->port(), .target = "/nope"}, [&](std::string_view) {
        called = true;
        return true;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_FALSE(called);
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["message"], "no such");
}

TEST(FetchStreamTest, OrdinaryBodyIsDeliveredInPieces) {
  std::string body;
  for (int i = 0; body.size() < 200'000; ++i) body += std::to_string(i) + ",";
  auto server = StartServer({}, [&](const Request&) { return Response::Text(200, body); });
  std::string got;
  int pieces = 0;
  absl::StatusOr<ClientResponse> r =
      FetchStream({.port = server->port(), .target = "/big"}, [&](std::string_view piece) {
        got += piece;
        ++pieces;
        return true;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(got, body);
  EXPECT_GT(pieces, 1);
}

TEST(FetchStreamTest, IdleTimeoutBetweenPieces) {
  std::promise<bool> woken;
  auto server = StartServer({}, [&](const Request&) {
    return SseResponse([&](StreamWriter& writer) {
      writer.Write(FormatSseEvent("", "", "only"));
      woken.set_value(WaitUntilClosed(writer, milliseconds(60'000)));
    });
  });
  EventReader reader;
  const auto start = Clock::now();
  absl::StatusOr<ClientResponse> r =
      FetchStream({.port = server->port(), .target = "/events", .timeout = milliseconds(300)},
                  reader.Callback());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(Clock::now() - start, kLong);
  EXPECT_EQ(reader.events, (Events{{"message", "", "only"}}));
  // The server notices the client gave up.
  std::future<bool> returned = woken.get_future();
  ASSERT_EQ(returned.wait_for(kLong), std::future_status::ready);
  EXPECT_TRUE(returned.get());
}

TEST(FetchStreamTest, TimeoutIsPerPieceNotForTheWholeStream) {
  // Eight pieces 150 ms apart: the stream outlasts the 1 s timeout, no gap
  // between two pieces comes near it.
  auto server = StartServer({}, [](const Request&) {
    return SseResponse([](StreamWriter& writer) {
      for (int i = 0; i < 8; ++i) {
        std::this_thread::sleep_for(milliseconds(150));  // pacing
        if (!writer.Write(FormatSseEvent("", std::to_string(i), "x"))) return;
      }
    });
  });
  EventReader reader;
  const auto start = Clock::now();
  absl::StatusOr<ClientResponse> r =
      FetchStream({.port = server->port(), .target = "/events", .timeout = milliseconds(1000)},
                  reader.Callback());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(Clock::now() - start, milliseconds(1000));
  EXPECT_EQ(reader.events.size(), 8u);
}

// A one-connection HTTP server written by hand, for answers Server does not
// give: it reads the request head, then runs `script` on the connection.
class RawServer {
 public:
  explicit RawServer(std::function<void(int fd)> script) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_fd_, 1), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, script = std::move(script)] {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::string head;
      char c;
      while (!head.ends_with("\r\n\r\n") && ::recv(fd, &c, 1, 0) == 1) head += c;
      script(fd);
      ::close(fd);
    });
  }
  ~RawServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);  // ends a pending accept
    thread_.join();
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }

  static void Send(int fd, std::string_view data) {
    ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
  }

 private:
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(FetchStreamTest, CloseDelimitedBodyArrivesIncrementally) {
  Level received;
  std::atomic<bool> in_lockstep{true};
  RawServer raw([&](int fd) {
    RawServer::Send(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst,");
    if (!received.WaitAtLeast(1)) in_lockstep = false;
    RawServer::Send(fd, "second");
  });
  std::string got;
  absl::StatusOr<ClientResponse> r = FetchStream(
      {.port = raw.port(), .target = "/", .timeout = 2 * kLong}, [&](std::string_view piece) {
        got += piece;
        if (got == "first,") received.Set(1);
        return true;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(in_lockstep);
  EXPECT_EQ(got, "first,second");
}

TEST(FetchStreamTest, ChunkedBodyCutShortIsAnError) {
  RawServer raw([](int fd) {
    RawServer::Send(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  });
  std::string got;
  absl::StatusOr<ClientResponse> r =
      FetchStream({.port = raw.port(), .target = "/"}, [&](std::string_view piece) {
        got += piece;
        return true;
      });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(got, "abc");
}

TEST(FetchStreamTest, RefusedConnectionIsUnavailable) {
  uint16_t port;
  {
    auto server = StartServer({}, [](const Request&) { return Response::Text(200, ""); });
    port = server->port();
  }
  absl::StatusOr<ClientResponse> r =
      FetchStream({.port = port, .target = "/"}, [](std::string_view) { return true; });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

TEST(StreamTest, CurlReadsTheEventsAsTheyCome) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl not installed";
  Level received;
  std::atomic<bool> in_lockstep{true};
  auto server = StartServer({}, [&](const Request&) {
    return SseResponse([&](StreamWriter& writer) {
      for (int i = 1; i <= 3; ++i) {
        writer.Write(FormatSseEvent("progress", std::to_string(i), Step(i)));
        if (!received.WaitAtLeast(i)) {
          in_lockstep = false;
          return;
        }
      }
    });
  });
  const std::string command =
      "curl -sSN --max-time 30 http://127.0.0.1:" + std::to_string(server->port()) +
      "/api/v1/events/stream";
  FILE* curl = popen(command.c_str(), "r");
  ASSERT_NE(curl, nullptr);
  std::string text;
  int blank_lines = 0;
  char line[4096];
  while (std::fgets(line, sizeof(line), curl) != nullptr) {
    text += line;
    if (std::string_view(line) == "\n") received.Set(++blank_lines);  // an event ended
  }
  EXPECT_EQ(pclose(curl), 0);
  EXPECT_TRUE(in_lockstep);
  EXPECT_EQ(text, FormatSseEvent("progress", "1", Step(1)) +
                      FormatSseEvent("progress", "2", Step(2)) +
                      FormatSseEvent("progress", "3", Step(3)));
}

}  // namespace
}  // namespace hut::http

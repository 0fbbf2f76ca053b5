#ifndef HUT_HTTP_SERVER_H_
#define HUT_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/log.h"
#include "src/http/message.h"

namespace hut::http {

// Called once per request on a worker thread; may block (database calls,
// injected latency). Should not throw; an exception that escapes is answered
// with 500 and logged to ServerOptions::logger. A handler may answer with a
// stream (Response::Stream); its body function then runs on the same worker
// thread and holds it until it returns.
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; see Server::port()
  int io_threads = 2;
  int worker_threads = 16;  // handler threads; bounds concurrent handlers
  // Streamed responses (Response::Stream) open at once. Each holds a worker
  // thread for as long as it runs, so the effective limit is
  // min(max_streams, worker_threads - 1): one worker at least stays for
  // ordinary requests. A stream beyond the limit is answered 503 (JSON
  // error, "too many open streams") and logged; its body is not run. 0
  // refuses every stream.
  int max_streams = 8;
  size_t max_body_bytes = 1 << 20;
  // Open connections at most. A connection accepted at the limit evicts the
  // one idle longest, else the one that has been reading its request
  // longest (a slow or stalled client); when every connection is busy
  // handling or writing, the new one is closed at once. Keeps a flood of idle
  // or slowloris connections from running the process out of descriptors or
  // locking real clients out. 0: no limit.
  int max_connections = 1024;
  // Per request: reading headers and body; also bounds writing the answer
  // (for a stream: each Write).
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive connection idle
  // Where the server reports what it cannot answer for (handler exceptions,
  // accept failures). Unset: JSON lines on stderr, component "http". The
  // logger's sink and clock must outlive the server.
  std::optional<Logger> logger;
};

// An HTTP/1.1 server with keep-alive and pipelining. Thread-safe.
// Implementation keeps Beast inside server.cc.
//
// The server answers by itself with a JSON error (Response::Error): 400 for a
// malformed request, 413 for a body over max_body_bytes, 431 for headers over
// 16 KiB (these three close the connection), and 500 when the handler throws
// or returns a status outside 100..999. A connection silent past
// idle_timeout, or whose request is not fully read within read_timeout, is
// closed. HEAD answers carry the Content-Length of the handler's body but no
// body. Every answer has a Date header; "Expect: 100-continue" is honoured.
// A streamed response (Response::Stream) always closes its connection when
// it ends; the client closing its side (EOF or reset) while a stream runs
// counts as the client going away.
class Server {
 public:
  // Binds and starts serving before returning. Errors: InvalidArgument for a
  // bad address or thread count; Unavailable "cannot listen on 127.0.0.1:8080:
  // Address already in use" when binding fails.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler);
  virtual ~Server() = default;

  virtual uint16_t port() const = 0;

  // Graceful shutdown: stops accepting at once (new connects are refused),
  // closes idle keep-alive connections, lets in-flight requests (being read,
  // handled or written) finish and answers them with "Connection: close",
  // waiting at most `grace`; then closes everything and joins the threads.
  // Open streams are closed at once rather than waited for: their Write
  // returns false, their OnClose callback runs, and each is ended (final
  // chunk) as soon as its body function returns; a stream that starts during
  // shutdown gets 503. So an endless stream whose body function returns when
  // Write fails (or on its OnClose wake-up) does not hold shutdown up.
  // Returns true if no request was cut short. Idempotent; safe from any thread
  // except a handler's. A handler still running after `grace` is not
  // interrupted: Shutdown waits for it to return (its connection is closed).
  // The destructor calls Shutdown(0ms) if it was not called.
  virtual bool Shutdown(std::chrono::milliseconds grace) = 0;

  // Requests being handled right now, open streams included.
  virtual int in_flight() const = 0;

  // Streamed responses whose body function is running right now.
  virtual int open_streams() const = 0;
};

}  // namespace hut::http

#endif  // HUT_HTTP_SERVER_H_

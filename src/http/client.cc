#include "src/http/client.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <system_error>
#include <type_traits>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "src/common/status.h"

namespace hut::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr uint64_t kMaxResponseBody = 256ull << 20;
constexpr size_t kMaxErrorBody = 1 << 20;  // a non-2xx answer to FetchStream
constexpr size_t kStreamPiece = 16 * 1024;

// The calling thread's event loop, made on first use and reused by every
// exchange on that thread: an io_context costs an epoll and an eventfd
// descriptor, so one per request would run a busy process out of them.
// Throws what io_context's constructor throws (std::system_error).
asio::io_context& ThreadLoop() {
  thread_local std::unique_ptr<asio::io_context> loop;
  if (!loop) loop = std::make_unique<asio::io_context>(1);
  return *loop;
}

// Runs one exchange as a chain of async operations on the thread's event loop
// so that a single deadline (tcp_stream expiry) covers connect, write and
// read. Every operation has completed when Start or ReadSome returns, so the
// loop is idle between exchanges.
// Body is string_body for Fetch (the whole answer) and buffer_body for
// FetchStream (the head, then the body piece by piece with ReadSome).
template <class Body>
class Exchange {
 public:
  Exchange(const ClientRequest& request, asio::io_context& ioc)
      : request_(request),
        where_(request.host + ":" + std::to_string(request.port)),
        ioc_(ioc),
        resolver_(ioc_),
        stream_(ioc_) {}

  // Connects, sends the request and reads the whole response (string_body)
  // or its head (buffer_body), all within request.timeout.
  absl::Status Start() {
    if (absl::Status s = BuildRequest(); !s.ok()) return s;
    deadline_ = std::chrono::steady_clock::now() + request_.timeout;
    stream_.expires_at(deadline_);
    ioc_.restart();
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(request_.host, ec);
    if (!ec) {
      Connect(std::vector<tcp::endpoint>{tcp::endpoint(address, request_.port)});
    } else {
      resolver_.async_resolve(request_.host, std::to_string(request_.port),
                              [this](error_code ec, tcp::resolver::results_type results) {
                                if (ec) return Fail("cannot resolve", ec);
                                Connect(std::vector<tcp::endpoint>(results.begin(),
                                                                   results.end()));
                              });
    }
    // Bounds name resolution too, which the stream's expiry does not cover.
    ioc_.run_until(deadline_);
    if (!done_) {
      resolver_.cancel();
      stream_.close();
      ioc_.restart();
      ioc_.run();
      status_ = Error("no answer in time from", beast::error::timeout);
    }
    return status_;
  }

  // Status and headers (and body, for string_body) once Start succeeded.
  ClientResponse Result() {
    ClientResponse out;
    auto& message = parser_.get();
    out.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      out.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    if constexpr (std::is_same_v<Body, bhttp::string_body>) out.body = std::move(message.body());
    return out;
  }

  bhttp::response_parser<Body>& parser() { return parser_; }

  // buffer_body: reads what has arrived of the body into the buffer set on
  // parser().get().body(), waiting at most request.timeout for it.
  absl::Status ReadSome() {
    error_code result;
    stream_.expires_after(request_.timeout);
    bhttp::async_read_some(stream_, buffer_, parser_,
                           [&result](error_code ec, size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    if (!result || result == bhttp::error::need_buffer) return absl::OkStatus();
    if (result == beast::error::timeout) return Error("no more data in time from", result);
    return Error("stream broke off from", result);
  }

 private:
  absl::Status BuildRequest() {
    const bhttp::verb verb = bhttp::string_to_verb(request_.method);
    if (request_.method.empty() || request_.method.find_first_of(" \r\n") != std::string::npos) {
      return absl::InvalidArgumentError("bad HTTP method \"" + request_.method + "\"");
    }
    if (verb == bhttp::verb::unknown) {
      message_.method_string(request_.method);
    } else {
      message_.method(verb);
    }
    if (request_.target.empty() || request_.target.find_first_of(" \r\n") != std::string::npos) {
      return absl::InvalidArgumentError("bad request target \"" + request_.target + "\"");
    }
    message_.target(request_.target);
    message_.version(11);
    for (const auto& [name, value] : request_.headers) message_.insert(name, value);
    if (message_.find(bhttp::field::host) == message_.end()) {
      message_.set(bhttp::field::host, where_);
    }
    if (message_.find(bhttp::field::user_agent) == message_.end()) {
      message_.set(bhttp::field::user_agent, "hut");
    }
    message_.keep_alive(false);  // one request per connection
    message_.body() = request_.body;
    if (!request_.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put ||
        verb == bhttp::verb::patch) {
      message_.prepare_payload();
    }
    if constexpr (std::is_same_v<Body, bhttp::string_body>) {
      parser_.body_limit(kMaxResponseBody);
    } else {
      // A stream may never end. Not boost::none: Boost 1.74 compares
      // Content-Length against it and then refuses every length.
      parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
    }
    if (verb == bhttp::verb::head) parser_.skip(true);
    return absl::OkStatus();
  }

  void Connect(const std::vector<tcp::endpoint>& endpoints) {
    stream_.async_connect(endpoints, [this](error_code ec, const tcp::endpoint&) {
      if (ec) return Fail("cannot connect to", ec);
      error_code ignored;
      stream_.socket().set_option(tcp::no_delay(true), ignored);
      bhttp::async_write(stream_, message_, [this](error_code ec, size_t) {
        if (ec) return Fail("cannot send request to", ec);
        auto read = [this](error_code ec, size_t) {
          if (ec) return Fail("cannot read response from", ec);
          done_ = true;
        };
        if constexpr (std::is_same_v<Body, bhttp::string_body>) {
          bhttp::async_read(stream_, buffer_, parser_, read);
        } else {
          bhttp::async_read_header(stream_, buffer_, parser_, read);
        }
      });
    });
  }

  absl::Status Error(std::string_view what, const error_code& ec) const {
    std::string message = request_.method + " " + request_.target + ": " + std::string(what) +
                          " " + where_ + ": " + ec.message();
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(message + " after " +
                                         std::to_string(request_.timeout.count()) + " ms");
    }
    return absl::UnavailableError(message);
  }

  void Fail(std::string_view what, const error_code& ec) {
    done_ = true;
    status_ = Error(what, ec);
  }

  const ClientRequest& request_;
  const std::string where_;
  asio::io_context& ioc_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  std::chrono::steady_clock::time_point deadline_;
  bhttp::request<bhttp::string_body> message_;
  beast::flat_buffer buffer_;
  bhttp::response_parser<Body> parser_;
  bool done_ = false;
  absl::Status status_;
};

// Runs `exchange` on the thread's loop. Asio reports what the system refuses
// it (no descriptor left for an event loop or a socket, no memory) by
// throwing; here that becomes a status, so running short of descriptors
// fails a request, never the process.
absl::Status Exhausted(const ClientRequest& request, std::string_view why) {
  return absl::ResourceExhaustedError(request.method + " " + request.target + " to " +
                                      request.host + ":" + std::to_string(request.port) + ": " +
                                      std::string(why));
}

template <class F>
absl::StatusOr<ClientResponse> Guarded(const ClientRequest& request, F&& exchange) {
  try {
    return exchange(ThreadLoop());
  } catch (const std::system_error& e) {
    return Exhausted(request, e.what());
  } catch (const boost::system::system_error& e) {
    return Exhausted(request, e.what());
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(request.method + " " + request.target +
                                        ": out of memory");
  }
}

}  // namespace

std::optional<std::string> ClientResponse::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ClientResponse> Fetch(const ClientRequest& request) {
  return Guarded(request, [&](asio::io_context& ioc) -> absl::StatusOr<ClientResponse> {
    Exchange<bhttp::string_body> exchange(request, ioc);
    HUT_RETURN_IF_ERROR(exchange.Start());
    return exchange.Result();
  });
}

absl::StatusOr<ClientResponse> FetchStream(const ClientRequest& request,
                                           const StreamCallback& on_data) {
  return Guarded(request, [&](asio::io_context& ioc) -> absl::StatusOr<ClientResponse> {
    Exchange<bhttp::buffer_body> exchange(request, ioc);
    HUT_RETURN_IF_ERROR(exchange.Start());
    ClientResponse out = exchange.Result();
    const bool streamed = out.status >= 200 && out.status < 300;
    // Not eager: an eager parser that has delivered a chunk goes on to read
    // the next chunk's header, and so would wait for the next chunk to arrive.
    auto& parser = exchange.parser();
    std::string piece(kStreamPiece, '\0');
    while (!parser.is_done()) {
      bhttp::buffer_body::value_type& body = parser.get().body();
      body.data = piece.data();
      body.size = piece.size();
      const absl::Status read = exchange.ReadSome();
      const size_t n = piece.size() - body.size;
      if (n > 0) {
        const std::string_view got(piece.data(), n);
        if (streamed) {
          if (!on_data(got)) return out;
        } else {
          out.body.append(got.substr(0, kMaxErrorBody - out.body.size()));
          if (out.body.size() == kMaxErrorBody) return out;
        }
      }
      HUT_RETURN_IF_ERROR(read);
    }
    return out;
  });
}

}  // namespace hut::http

#ifndef HUT_HTTP_MESSAGE_H_
#define HUT_HTTP_MESSAGE_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace hut::http {

// Header names compare case-insensitively; values keep their case.
struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
};
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

// A parsed request as handlers see it. Beast types never appear here, so that
// handlers compile without Beast.
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/api/v1/pages?q=cats"
  std::string path;    // percent-decoded, without the query: "/api/v1/pages"
  std::map<std::string, std::string> query;  // percent-decoded; last value wins
  Headers headers;
  std::string body;
  std::string remote_address;  // "127.0.0.1:53412"
  // Filled by Router when a pattern such as /pages/{id} matched.
  std::map<std::string, std::string> path_params;

  // The first value of a header, if present.
  std::optional<std::string> Header(std::string_view name) const;
};

// Where a streamed response's body goes (see Response::Stream). The server
// hands one to the body function; it is valid only while that function runs.
// Write() and open() are for the body function's thread.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;

  // Sends `chunk` to the client at once (one HTTP/1.1 chunk, or raw bytes to
  // an HTTP/1.0 client) and returns when it has been handed to the kernel;
  // nothing is held back until the end. Blocks while the client does not
  // read, for at most ServerOptions::read_timeout. Returns false once the
  // stream is closed: the client went away, a write failed or timed out, or
  // the server is shutting down (possibly before the first Write, if the
  // client left at once). From then on every Write returns false and the
  // body function should return. An empty chunk sends nothing and returns
  // open().
  virtual bool Write(std::string_view chunk) = 0;

  // False once the stream is closed (see Write).
  virtual bool open() const = 0;

  // For a body function that blocks on its own events (a condition variable,
  // a queue) between writes: `wake` is called once when the stream closes, so
  // that the function can return at once rather than at its next Write. It
  // runs on the thread that noticed the close (an I/O thread, or the thread
  // calling Server::Shutdown), so it must be quick and must not block; it may
  // call open(). Never called after the body function has returned. If the
  // stream is already closed, `wake` runs at once on the calling thread. A
  // later call replaces the earlier callback.
  virtual void OnClose(std::function<void()> wake) = 0;
};

// Produces a streamed body by calling StreamWriter::Write; returns when done
// (the server then ends the response) or when Write returned false.
using StreamBody = std::function<void(StreamWriter&)>;

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // Set by Stream(): the body is written by this function and `body` is
  // ignored. See Stream().
  StreamBody stream;

  // Sets Content-Type: application/json and serialises `body`.
  static Response Json(int status, const nlohmann::json& body);
  // {"error": {"code": <status>, "message": <message>}} with the given status.
  static Response Error(int status, std::string_view message);
  static Response Text(int status, std::string body,
                       std::string_view content_type = "text/plain; charset=utf-8");
  // A response whose body is written piece by piece, as it is produced, by
  // `body` (server-sent events, progress). The server sends the status and
  // headers (with Cache-Control: no-cache) at once, then runs `body` on the
  // handler's worker thread, which it occupies until `body` returns; then it
  // ends the response and closes the connection. Framing is chunked for
  // HTTP/1.1 clients and close-delimited for HTTP/1.0. A HEAD request, or a
  // status without a body (1xx, 204, 304), gets the headers and `body` is not
  // run. At most ServerOptions::max_streams run at once; beyond that, and
  // once the server is shutting down, the client gets a 503 JSON error and
  // `body` is not run. Otherwise `body` runs exactly once, even if the
  // client is already gone (its first Write then returns false). If `body`
  // throws, the response is cut off (no final chunk) so that the client sees
  // it incomplete, and the exception is logged.
  static Response Stream(int status, std::string content_type, StreamBody body);

  // Replaces any existing value of the header.
  Response& SetHeader(std::string name, std::string value);
  std::optional<std::string> Header(std::string_view name) const;
};

// Percent-decodes a URL component ("+" stays "+" in paths, becomes " " in
// queries). Returns nullopt for malformed escapes.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space);
// RFC 3986 percent-encoding: unreserved characters (A-Z a-z 0-9 - _ . ~) kept,
// every other byte %XX (uppercase hex); '/' kept when `keep_slash` (a path).
// As AWS's SigV4 and the Kubernetes API's query strings want it.
std::string PercentEncode(std::string_view in, bool keep_slash);
// Splits "a=1&b=x%20y" into a map. Malformed pairs are skipped.
std::map<std::string, std::string> ParseQuery(std::string_view query);

}  // namespace hut::http

#endif  // HUT_HTTP_MESSAGE_H_

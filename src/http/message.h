#ifndef HUT_HTTP_MESSAGE_H_
#define HUT_HTTP_MESSAGE_H_

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

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  // Sets Content-Type: application/json and serialises `body`.
  static Response Json(int status, const nlohmann::json& body);
  // {"error": {"code": <status>, "message": <message>}} with the given status.
  static Response Error(int status, std::string_view message);
  static Response Text(int status, std::string body,
                       std::string_view content_type = "text/plain; charset=utf-8");

  // Replaces any existing value of the header.
  Response& SetHeader(std::string name, std::string value);
  std::optional<std::string> Header(std::string_view name) const;
};

// Percent-decodes a URL component ("+" stays "+" in paths, becomes " " in
// queries). Returns nullopt for malformed escapes.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space);
// Splits "a=1&b=x%20y" into a map. Malformed pairs are skipped.
std::map<std::string, std::string> ParseQuery(std::string_view query);

}  // namespace hut::http

#endif  // HUT_HTTP_MESSAGE_H_

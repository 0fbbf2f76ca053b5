#ifndef HUT_HTTP_ROUTER_H_
#define HUT_HTTP_ROUTER_H_

#include <string>
#include <string_view>
#include <vector>

#include "src/http/message.h"
#include "src/http/server.h"

namespace hut::http {

// Maps (method, path pattern) to handlers. Patterns start with "/" and are
// literal segments and {name} segments: "/api/v1/pages/{id}". A {name} matches
// one non-empty segment of Request::path (already percent-decoded); a literal
// segment wins over {name} at the same place ("/pages/search" over
// "/pages/{id}"). A trailing slash is significant: "/x/" does not match "/x".
// HEAD uses the GET route unless a HEAD route exists. Unknown path: 404; known
// path with another method: 405 with an Allow header. Both answer a JSON error.
// Build it before serving; Handle() is then safe for concurrent use.
class Router {
 public:
  void Add(std::string_view method, std::string_view pattern, Handler handler);
  Response Handle(const Request& request) const;

  // The matched pattern for a request ("/api/v1/pages/{id}") or "" if none:
  // a bounded label for metrics.
  std::string RouteOf(const Request& request) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  const Route* Match(const Request& request, bool* path_known,
                     std::map<std::string, std::string>* params) const;
  std::vector<Route> routes_;
};

}  // namespace hut::http

#endif  // HUT_HTTP_ROUTER_H_

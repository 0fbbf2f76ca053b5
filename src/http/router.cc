#include "src/http/router.h"

#include <set>

namespace hut::http {
namespace {

// "/a/b" -> {"a", "b"}; "/" -> {""}; "/a/" -> {"a", ""}. A trailing slash is
// thus a distinct path: "/x/" does not match the pattern "/x".
std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Matches `path` against `segments`; on success fills `params` and returns the
// specificity key (literal segments win over parameters, left to right).
std::optional<std::vector<bool>> MatchSegments(const std::vector<std::string>& segments,
                                               const std::vector<std::string_view>& path,
                                               std::map<std::string, std::string>* params) {
  if (segments.size() != path.size()) return std::nullopt;
  std::vector<bool> key;
  key.reserve(segments.size());
  for (size_t i = 0; i < segments.size(); ++i) {
    if (IsParam(segments[i])) {
      if (path[i].empty()) return std::nullopt;
      key.push_back(false);
    } else {
      if (segments[i] != path[i]) return std::nullopt;
      key.push_back(true);
    }
  }
  if (params != nullptr) {
    params->clear();
    for (size_t i = 0; i < segments.size(); ++i) {
      if (IsParam(segments[i])) {
        (*params)[segments[i].substr(1, segments[i].size() - 2)] = std::string(path[i]);
      }
    }
  }
  return key;
}

}  // namespace

void Router::Add(std::string_view method, std::string_view pattern, Handler handler) {
  Route route;
  route.method = std::string(method);
  route.pattern = std::string(pattern);
  for (std::string_view s : Split(pattern)) route.segments.emplace_back(s);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

// Returns the best route for the path and method; HEAD falls back to GET.
// `path_known` tells whether any route matched the path, whatever its method.
const Router::Route* Router::Match(const Request& request, bool* path_known,
                                   std::map<std::string, std::string>* params) const {
  *path_known = false;
  if (request.path.empty() || request.path.front() != '/') return nullptr;
  const std::vector<std::string_view> path = Split(request.path);
  const Route* best = nullptr;
  std::vector<bool> best_key;
  bool best_exact_method = false;
  for (const Route& route : routes_) {
    std::optional<std::vector<bool>> key = MatchSegments(route.segments, path, nullptr);
    if (!key) continue;
    *path_known = true;
    const bool exact = route.method == request.method;
    const bool head_as_get = request.method == "HEAD" && route.method == "GET";
    if (!exact && !head_as_get) continue;
    if (best == nullptr || *key > best_key || (*key == best_key && exact && !best_exact_method)) {
      best = &route;
      best_key = *std::move(key);
      best_exact_method = exact;
    }
  }
  if (best != nullptr && params != nullptr) MatchSegments(best->segments, path, params);
  return best;
}

Response Router::Handle(const Request& request) const {
  bool path_known = false;
  std::map<std::string, std::string> params;
  const Route* route = Match(request, &path_known, &params);
  if (route != nullptr) {
    Request routed = request;
    routed.path_params = std::move(params);
    return route->handler(routed);
  }
  if (!path_known) return Response::Error(404, "no route for " + request.path);
  std::set<std::string> allowed;
  const std::vector<std::string_view> path = Split(request.path);
  for (const Route& r : routes_) {
    if (!MatchSegments(r.segments, path, nullptr)) continue;
    allowed.insert(r.method);
    if (r.method == "GET") allowed.insert("HEAD");
  }
  std::string allow;
  for (const std::string& m : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += m;
  }
  Response response =
      Response::Error(405, "method " + request.method + " not allowed for " + request.path);
  response.SetHeader("Allow", allow);
  return response;
}

std::string Router::RouteOf(const Request& request) const {
  bool path_known = false;
  const Route* route = Match(request, &path_known, nullptr);
  return route != nullptr ? route->pattern : "";
}

}  // namespace hut::http

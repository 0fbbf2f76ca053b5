#ifndef HUT_KUBERNETES_API_CLIENT_H_
#define HUT_KUBERNETES_API_CLIENT_H_

// HTTPS to a Kubernetes API server (libcurl), as a controller uses it: JSON
// requests, server-side apply with field manager "hut", and watches streamed
// as JSON lines. Connections are kept and reused. Safe for concurrent use.
//
// Errors carry the API's own Status message and map its HTTP status:
// 400/422 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied,
// 404 NotFound, 409 Aborted (a conflict: re-read and retry) or AlreadyExists,
// 410 OutOfRange (a watch's resourceVersion is too old: list again),
// 429/5xx and transport failures Unavailable.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "src/kubernetes/kubeconfig.h"

namespace hut::kubernetes {

inline constexpr char kFieldManager[] = "hut";

// Requests sent so far, by kind (the benchmark's "API requests per second").
struct RequestCounts {
  uint64_t reads = 0;    // GET, LIST
  uint64_t writes = 0;   // PATCH (apply), POST, PUT, DELETE
  uint64_t watches = 0;  // watch streams opened
  uint64_t errors = 0;   // answered with an error or failed in transport
};

class ApiClient {
 public:
  explicit ApiClient(ClusterAccess access,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  const ClusterAccess& access() const { return access_; }

  // GET `path` ("/api/v1/namespaces/x/pods?labelSelector=…").
  absl::StatusOr<nlohmann::json> Get(const std::string& path);
  // Server-side apply of `object` at `path` (the object's own URL). With
  // `force`, hut takes the fields it sets from any other manager; an object
  // whose metadata.resourceVersion is set is applied only if unchanged
  // since (else Aborted).
  absl::StatusOr<nlohmann::json> Apply(const std::string& path, const nlohmann::json& object,
                                       bool force = true);
  absl::StatusOr<nlohmann::json> Post(const std::string& path, const nlohmann::json& object);
  // A JSON merge patch.
  absl::StatusOr<nlohmann::json> MergePatch(const std::string& path, const nlohmann::json& patch);
  // DELETE; an object already gone is OK. `propagation`: Background,
  // Foreground or Orphan.
  absl::Status Delete(const std::string& path, std::string_view propagation = "Background");

  // Streams a watch at `path` (it must carry watch=1): each event, a JSON
  // object {type, object}, is handed to `on_event` as it arrives; false from
  // it, or `stop` becoming true (checked at least once a second), ends the
  // watch with OK. Returns when the server ends the stream (OK) or it fails.
  absl::Status Watch(const std::string& path,
                     const std::function<bool(const nlohmann::json&)>& on_event,
                     const std::atomic<bool>& stop);

  RequestCounts counts() const;

 private:
  struct Handle;
  struct Call;
  absl::StatusOr<nlohmann::json> Send(const std::string& method, const std::string& path,
                                      const std::string& body, const std::string& content_type);
  std::unique_ptr<Handle> Take();
  void Give(std::unique_ptr<Handle> handle);
  absl::Status Configure(Handle& handle, Call& call);
  std::string Token() const;

  const ClusterAccess access_;
  const std::chrono::milliseconds timeout_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> reads_{0}, writes_{0}, watches_{0}, errors_{0};
};

// "/apis/apps/v1/namespaces/NS/deployments/NAME" and the like.
std::string ObjectPath(std::string_view api, std::string_view ns, std::string_view plural,
                       std::string_view name = "");

}  // namespace hut::kubernetes

#endif  // HUT_KUBERNETES_API_CLIENT_H_

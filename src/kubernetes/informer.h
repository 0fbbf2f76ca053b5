#ifndef HUT_KUBERNETES_INFORMER_H_
#define HUT_KUBERNETES_INFORMER_H_

// A watch-fed cache of one resource type in one namespace, as client-go's
// informers: list once, then watch from the list's resourceVersion with
// bookmarks; a watch that ends is resumed from the last version seen; one
// the server no longer has (410 Gone) lists again. Readers never call the
// API. Objects are kept trimmed (a transform keeps only the fields hut
// reads) and indexed by one label's value (the service they belong to).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "src/kubernetes/api_client.h"

namespace hut::kubernetes {

struct ResourceType {
  std::string api;     // "/apis/apps/v1", "/api/v1"
  std::string plural;  // "deployments"
};

class Informer {
 public:
  // Keeps what a reader needs of an object (its metadata.name and
  // metadata.resourceVersion at least).
  using Transform = std::function<nlohmann::json(const nlohmann::json&)>;
  struct Options {
    std::string ns;
    ResourceType type;
    std::string label_selector;  // "app.kubernetes.io/managed-by=hut"
    std::string index_label;     // objects are listed by this label's value
    Transform transform;         // null: keep whole objects
    // Called after objects of index value `key` changed (on the informer's
    // thread; on the caller's for Remember and Forget); "" after a full list.
    std::function<void(const std::string& key)> on_change;
    std::chrono::seconds watch_timeout{300};  // the server ends each watch after it
  };

  Informer(ApiClient& api, Options options);
  ~Informer();  // Stop()
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void Start();
  void Stop();

  // Waits for the first list; its error (e.g. the API server is unreachable,
  // or the namespace is forbidden) when it has not come by `timeout`.
  absl::Status WaitForSync(std::chrono::milliseconds timeout) const;
  bool synced() const;

  // The objects whose index label is `key`, by name.
  std::vector<nlohmann::json> List(const std::string& key) const;
  std::optional<nlohmann::json> Get(const std::string& key, const std::string& name) const;
  // Every key with objects.
  std::vector<std::string> Keys() const;
  // Takes an object hut has just written (or deleted) into the cache at
  // once, so the next decision does not act on what it already changed. The
  // watch brings the same change later.
  void Remember(const nlohmann::json& object);
  void Forget(const std::string& key, const std::string& name);

  // What keeps the cache from being current ("" when it is): the last list
  // or watch failure, until a list or watch succeeds again.
  std::string problem() const;

  struct Stats {
    uint64_t lists = 0;
    uint64_t watches = 0;
    uint64_t relists_after_gone = 0;  // 410: the watch's version was too old
    uint64_t events = 0;
    uint64_t bookmarks = 0;
  };
  Stats stats() const;

 private:
  void Run();
  absl::Status List();
  absl::Status WatchOnce();
  void Put(const nlohmann::json& raw) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string KeyOf(const nlohmann::json& object) const;
  void SetProblem(const absl::Status& status);
  void Backoff(std::chrono::milliseconds wait);

  ApiClient& api_;
  const Options options_;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  mutable absl::Mutex mu_;
  // key -> name -> object
  std::map<std::string, std::map<std::string, nlohmann::json>> objects_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);  // "": list next
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  std::string problem_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hut::kubernetes

#endif  // HUT_KUBERNETES_INFORMER_H_

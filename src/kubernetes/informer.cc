#include "src/kubernetes/informer.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "src/http/message.h"

namespace hut::kubernetes {
namespace {

// A string at `pointer` in `o`, "" when there is none (whatever `o` is).
std::string StringAt(const nlohmann::json& o, const nlohmann::json::json_pointer& pointer) {
  if (!o.is_object() || !o.contains(pointer)) return "";
  const nlohmann::json& v = o.at(pointer);
  return v.is_string() ? v.get<std::string>() : "";
}
std::string NameOf(const nlohmann::json& o) {
  return StringAt(o, "/metadata/name"_json_pointer);
}
std::string VersionOf(const nlohmann::json& o) {
  return StringAt(o, "/metadata/resourceVersion"_json_pointer);
}

}  // namespace

Informer::Informer(ApiClient& api, Options options) : api_(api), options_(std::move(options)) {}

Informer::~Informer() { Stop(); }

void Informer::Start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  stop_.store(true);
  {
    absl::MutexLock lock(&mu_);  // wakes Backoff
  }
  if (thread_.joinable()) thread_.join();
}

std::string Informer::KeyOf(const nlohmann::json& o) const {
  const nlohmann::json* labels = nullptr;
  if (auto m = o.find("metadata"); m != o.end()) {
    if (auto l = m->find("labels"); l != m->end() && l->is_object()) labels = &*l;
  }
  if (labels == nullptr) return "";
  auto v = labels->find(options_.index_label);
  return v != labels->end() && v->is_string() ? v->get<std::string>() : "";
}

void Informer::Put(const nlohmann::json& raw) {
  nlohmann::json o = options_.transform ? options_.transform(raw) : raw;
  const std::string key = KeyOf(o);
  const std::string name = NameOf(o);
  // An object whose index label changed moves: drop it from other keys.
  for (auto& [k, objects] : objects_) {
    if (k != key) objects.erase(name);
  }
  objects_[key][name] = std::move(o);
}

absl::Status Informer::List() {
  const std::string base = ObjectPath(options_.type.api, options_.ns, options_.type.plural);
  std::string cont;
  std::map<std::string, std::map<std::string, nlohmann::json>> fresh;
  std::string version;
  do {
    std::string path = absl::StrCat(base, "?limit=500&labelSelector=",
                                    http::PercentEncode(options_.label_selector, false));
    if (!cont.empty()) absl::StrAppend(&path, "&continue=", http::PercentEncode(cont, false));
    auto page = api_.Get(path);
    if (!page.ok()) return page.status();
    for (const nlohmann::json& item : page->value("items", nlohmann::json::array())) {
      nlohmann::json o = options_.transform ? options_.transform(item) : item;
      // Named first: json's operator= takes its argument by value, and the
      // right side of `=` is evaluated before the left.
      const std::string key = KeyOf(o), name = NameOf(o);
      if (!name.empty()) fresh[key][name] = std::move(o);
    }
    version = StringAt(*page, "/metadata/resourceVersion"_json_pointer);
    cont = StringAt(*page, "/metadata/continue"_json_pointer);
  } while (!cont.empty() && !stop_.load());
  {
    absl::MutexLock lock(&mu_);
    objects_ = std::move(fresh);
    resource_version_ = version;
    synced_ = true;
    problem_.clear();
    ++stats_.lists;
  }
  if (options_.on_change) options_.on_change("");
  return absl::OkStatus();
}

absl::Status Informer::WatchOnce() {
  std::string version;
  {
    absl::MutexLock lock(&mu_);
    version = resource_version_;
    ++stats_.watches;
  }
  const std::string path = absl::StrCat(
      ObjectPath(options_.type.api, options_.ns, options_.type.plural),
      "?watch=1&allowWatchBookmarks=true&resourceVersion=", http::PercentEncode(version, false),
      "&timeoutSeconds=", options_.watch_timeout.count(),
      "&labelSelector=", http::PercentEncode(options_.label_selector, false));
  bool gone = false;
  absl::Status status = api_.Watch(
      path,
      [&](const nlohmann::json& event) {
        const std::string type = event.value("type", "");
        const nlohmann::json& object = event.contains("object") ? event["object"] : event;
        if (type == "ERROR") {
          if (object.value("code", 0) == 410) gone = true;
          return false;
        }
        std::string key;
        {
          absl::MutexLock lock(&mu_);
          problem_.clear();
          if (const std::string v = VersionOf(object); !v.empty()) resource_version_ = v;
          if (type == "BOOKMARK") {
            ++stats_.bookmarks;
            return true;
          }
          ++stats_.events;
          const nlohmann::json trimmed = options_.transform ? options_.transform(object) : object;
          key = KeyOf(trimmed);
          if (type == "DELETED") {
            objects_[key].erase(NameOf(trimmed));
            if (objects_[key].empty()) objects_.erase(key);
          } else {
            Put(object);
          }
        }
        if (options_.on_change) options_.on_change(key);
        return true;
      },
      stop_);
  if (gone || status.code() == absl::StatusCode::kOutOfRange) {
    absl::MutexLock lock(&mu_);
    resource_version_.clear();
    ++stats_.relists_after_gone;
    return absl::OkStatus();
  }
  return status;
}

void Informer::SetProblem(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  problem_ = std::string(status.message());
}

void Informer::Backoff(std::chrono::milliseconds wait) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this] { return stop_.load(); };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::FromChrono(wait));
}

void Informer::Run() {
  std::chrono::milliseconds backoff(200);
  while (!stop_.load()) {
    bool need_list;
    {
      absl::MutexLock lock(&mu_);
      need_list = resource_version_.empty();
    }
    absl::Status s;
    try {
      s = need_list ? List() : WatchOnce();
    } catch (const std::exception& e) {  // an answer of a shape hut does not expect
      s = absl::InternalError(absl::StrCat(options_.type.plural, ": unexpected answer: ", e.what()));
      absl::MutexLock lock(&mu_);
      resource_version_.clear();
    }
    if (s.ok()) {
      backoff = std::chrono::milliseconds(200);
      continue;
    }
    if (stop_.load()) break;
    SetProblem(s);
    Backoff(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

absl::Status Informer::WaitForSync(std::chrono::milliseconds timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return synced_; };
  if (mu_.AwaitWithTimeout(absl::Condition(&done), absl::FromChrono(timeout))) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "no list of ", options_.type.plural, " in ", options_.ns, " yet",
      problem_.empty() ? std::string() : absl::StrCat(": ", problem_)));
}

bool Informer::synced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

std::vector<nlohmann::json> Informer::List(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  std::vector<nlohmann::json> out;
  if (auto it = objects_.find(key); it != objects_.end()) {
    for (const auto& [name, o] : it->second) out.push_back(o);
  }
  return out;
}

std::optional<nlohmann::json> Informer::Get(const std::string& key,
                                            const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return std::nullopt;
  auto o = it->second.find(name);
  if (o == it->second.end()) return std::nullopt;
  return o->second;
}

std::vector<std::string> Informer::Keys() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [k, objects] : objects_) {
    if (!objects.empty()) out.push_back(k);
  }
  return out;
}

void Informer::Remember(const nlohmann::json& object) {
  {
    absl::MutexLock lock(&mu_);
    Put(object);
  }
  if (options_.on_change) options_.on_change(KeyOf(object));
}

void Informer::Forget(const std::string& key, const std::string& name) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = objects_.find(key); it != objects_.end()) it->second.erase(name);
  }
  if (options_.on_change) options_.on_change(key);
}

std::string Informer::problem() const {
  absl::MutexLock lock(&mu_);
  return problem_;
}

Informer::Stats Informer::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace hut::kubernetes

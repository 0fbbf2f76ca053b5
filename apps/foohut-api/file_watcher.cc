#include "apps/foohut-api/file_watcher.h"

#include <sodium.h>

#include <fstream>
#include <sstream>

namespace hut::foohut {

FileWatcher::FileWatcher(std::string path, Take take, const Clock& clock, Duration interval)
    : path_(std::move(path)), take_(std::move(take)), clock_(clock) {
  CheckNow();  // the first read only records the content
  thread_ = std::thread([this, interval] {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        if (clock_.AwaitUntil(mu_, absl::Condition(&stop_), clock_.Now() + interval)) return;
      }
      CheckNow();
    }
  });
}

FileWatcher::~FileWatcher() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

bool FileWatcher::CheckNow() {
  std::ifstream in(path_);
  if (!in) return false;  // between a rename's two steps, or gone: keep what we have
  std::stringstream text;
  text << in.rdbuf();
  Secret content(text.str());
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof digest,
                     reinterpret_cast<const unsigned char*>(content.Reveal().data()),
                     content.Reveal().size(), nullptr, 0);
  const std::string seen(reinterpret_cast<const char*>(digest), sizeof digest);
  absl::MutexLock lock(&check_mu_);
  if (seen == seen_) return false;
  const bool first = !seen_.has_value();
  seen_ = seen;
  return !first && take_(content);
}

}  // namespace hut::foohut

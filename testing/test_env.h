#ifndef HUT_TESTING_TEST_ENV_H_
#define HUT_TESTING_TEST_ENV_H_

#include <cstdint>
#include <string>

namespace hut::testing {

// A fresh folder under $TMPDIR (or /tmp), mode 0755 so that servers run as
// another user (PostgreSQL as "postgres") can reach folders inside it.
// Removed with its contents by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t PickFreePort();

// Path of a binary built by this project: $HUT_BIN_DIR/<name> (set by ctest),
// else build/bin/<name> under the source folder.
std::string BinPath(const std::string& name);

// The repository root: $HUT_SOURCE_DIR, else the current folder.
std::string SourceDir();

}  // namespace hut::testing

#endif  // HUT_TESTING_TEST_ENV_H_

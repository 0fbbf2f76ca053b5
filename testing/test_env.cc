#include "testing/test_env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "src/common/ports.h"

namespace hut::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/hut-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + tmpl);
  chmod(tmpl.c_str(), 0755);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

uint16_t PickFreePort() {
  absl::StatusOr<uint16_t> port = FreeLoopbackPort();
  if (!port.ok()) throw std::runtime_error(std::string(port.status().message()));
  return *port;
}

std::string SourceDir() {
  const char* dir = std::getenv("HUT_SOURCE_DIR");
  if (dir != nullptr && *dir) return dir;
  return std::filesystem::current_path().string();
}

std::string BinPath(const std::string& name) {
  const char* dir = std::getenv("HUT_BIN_DIR");
  if (dir != nullptr && *dir) return std::string(dir) + "/" + name;
  return SourceDir() + "/build/bin/" + name;
}

}  // namespace hut::testing

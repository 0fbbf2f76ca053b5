#include "src/cli/validate.h"

#include <string_view>
#include <vector>

#include "src/spec/load.h"
#include "src/spec/spec.h"

namespace hut::cli {
namespace {

template <typename T>
std::string Names(const std::vector<T>& items) {
  std::string out;
  for (const T& item : items) {
    if (!out.empty()) out += ", ";
    out += item.name;
  }
  return out;
}

std::string Count(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace

std::string SpecPath(const std::string& flag, const Io& io) {
  if (!flag.empty()) return flag;
  if (io.getenv) {
    std::optional<std::string> env = io.getenv("HUT_SPEC");
    if (env && !env->empty()) return *env;
  }
  return "foohut.yaml";
}

int RunValidate(const ValidateOptions& options, const Io& io) {
  const std::string path = SpecPath(options.file, io);
  spec::LoadResult result = spec::LoadSpecFile(path);
  for (const spec::Problem& w : result.warnings) io.err << "warning: " << w.ToString() << "\n";
  if (!result.ok()) {
    for (const spec::Problem& p : result.problems) io.err << p.ToString() << "\n";
    io.err << "hut validate: " << Count(result.problems.size(), "problem", "problems") << " in "
           << path << "\n";
    return kExitFailure;
  }
  const spec::Spec& s = *result.spec;
  io.out << path << ": ok: " << Count(s.services.size(), "service", "services") << " ("
         << Names(s.services) << "), "
         << Count(s.environments.size(), "environment", "environments") << " ("
         << Names(s.environments) << ")\n";
  return kExitOk;
}

}  // namespace hut::cli

#ifndef HUT_SPEC_YAML_LIMITS_H_
#define HUT_SPEC_YAML_LIMITS_H_

// Bounds on YAML input, checked before a document is built: a spec is small
// and shallow, so anything far bigger or deeper is refused with a clear
// message instead of costing memory or stack.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hut::spec {

inline constexpr size_t kMaxSpecBytes = 1 << 20;  // 1 MiB
inline constexpr int kMaxYamlDepth = 64;          // nested maps and sequences
inline constexpr size_t kMaxYamlNodes = 100'000;  // scalars, maps, sequences, aliases

struct YamlLimitError {
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string message;
};

// Streams through every document in `yaml` (events only, no tree) and
// returns the first place it breaks a limit: nesting deeper than
// kMaxYamlDepth, or more than kMaxYamlNodes nodes. nullopt when within the
// limits, and also for a syntax error (the full parse reports it with its
// own message). Never throws.
std::optional<YamlLimitError> CheckYamlLimits(std::string_view yaml);

}  // namespace hut::spec

#endif  // HUT_SPEC_YAML_LIMITS_H_

#ifndef HUT_SPEC_LOAD_H_
#define HUT_SPEC_LOAD_H_

// Loading and validating a spec file. Nothing here throws: YAML errors, type
// errors and rule violations all come back as Problems, every one found, not
// only the first.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/spec/spec.h"

namespace hut::spec {

// One thing wrong with a spec, at a place in its file.
struct Problem {
  std::string file;
  int line = 0;         // 1-based; 0 when the problem has no position (e.g. unreadable file)
  int column = 0;       // 1-based; 0 with line
  std::string path;     // key path, e.g. "policies.canary.steps[1].weight"; "" for none
  std::string message;  // what is wrong (what was expected)

  // "FILE:LINE:COLUMN: PATH: MESSAGE"; parts without a value are left out,
  // e.g. "FILE: MESSAGE" for an unreadable file.
  std::string ToString() const;
  bool operator==(const Problem&) const = default;
};

struct LoadResult {
  std::optional<Spec> spec;       // set if and only if problems is empty
  std::vector<Problem> problems;  // ordered by line, then column
  // What is accepted but should change (a deprecated key), in file order.
  std::vector<Problem> warnings;
  bool ok() const { return problems.empty(); }
};

// Parses and validates spec text. `file_name` is only used in Problems.
LoadResult ParseSpec(std::string_view yaml, std::string_view file_name);

// Reads `path` and parses it. An unreadable file is a single Problem without position.
LoadResult LoadSpecFile(const std::string& path);

}  // namespace hut::spec

#endif  // HUT_SPEC_LOAD_H_

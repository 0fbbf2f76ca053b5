#ifndef HUT_TESTING_EXPOSITION_H_
#define HUT_TESTING_EXPOSITION_H_

// Reading Prometheus' text exposition in tests.

#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace hut::testing {

// The sum of the samples of `name` in `text` that have every label of `labels`.
inline double SampleSum(const std::string& text, const std::string& name,
                        const std::map<std::string, std::string>& labels) {
  double sum = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(name + "{") && !line.starts_with(name + " ")) continue;
    bool all = true;
    for (const auto& [k, v] : labels) {
      all = all && line.find(absl::StrCat(k, "=\"", v, "\"")) != std::string::npos;
    }
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

}  // namespace hut::testing

#endif  // HUT_TESTING_EXPOSITION_H_

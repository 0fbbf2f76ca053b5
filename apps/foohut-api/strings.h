#ifndef HUT_APPS_FOOHUT_API_STRINGS_H_
#define HUT_APPS_FOOHUT_API_STRINGS_H_

// Debian's abseil has its own absl::string_view, distinct from
// std::string_view; these convert at the boundary.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hut::foohut {

inline absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view Std(absl::string_view s) { return {s.data(), s.size()}; }
inline std::string Msg(const absl::Status& s) { return std::string(s.message()); }

}  // namespace hut::foohut

#endif  // HUT_APPS_FOOHUT_API_STRINGS_H_

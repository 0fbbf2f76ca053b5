#ifndef HUT_COMMON_STATUS_H_
#define HUT_COMMON_STATUS_H_

// Errors are values at module boundaries (STYLE.md rule 3). Debian's abseil
// has Status/StatusOr but not the propagation macros; these are ours.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HUT_STATUS_CONCAT_INNER_(a, b) a##b
#define HUT_STATUS_CONCAT_(a, b) HUT_STATUS_CONCAT_INNER_(a, b)

#define HUT_RETURN_IF_ERROR(expr)                      \
  do {                                                 \
    if (::absl::Status hut_status_ = (expr); !hut_status_.ok()) { \
      return hut_status_;                              \
    }                                                  \
  } while (0)

#define HUT_ASSIGN_OR_RETURN(lhs, expr) \
  HUT_ASSIGN_OR_RETURN_IMPL_(HUT_STATUS_CONCAT_(hut_statusor_, __LINE__), lhs, expr)

#define HUT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // HUT_COMMON_STATUS_H_

#ifndef HUT_STORE_STORE_TEST_UTIL_H_
#define HUT_STORE_STORE_TEST_UTIL_H_

// Values the store tests write. Tests only.

#include <string>

#include "src/store/store.h"

namespace hut::store {

inline Revision MakeRevision(const std::string& env, const std::string& service,
                             const std::string& version) {
  Revision r;
  r.environment = env;
  r.service = service;
  r.version = version;
  r.cause = "deploy";
  return r;
}

inline Rollout MakeRollout(const std::string& env, const std::string& service, int from, int to) {
  Rollout r;
  r.environment = env;
  r.service = service;
  r.from_revision = from;
  r.to_revision = to;
  r.strategy = spec::Strategy::kRolling;
  r.phase = RolloutPhase::kProgressing;
  return r;
}

inline Event MakeEvent(const std::string& env, const std::string& service,
                       const std::string& type) {
  Event e;
  e.environment = env;
  e.service = service;
  e.type = type;
  e.message = "something happened";
  return e;
}

}  // namespace hut::store

#endif  // HUT_STORE_STORE_TEST_UTIL_H_

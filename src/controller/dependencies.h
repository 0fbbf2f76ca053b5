#ifndef HUT_CONTROLLER_DEPENDENCIES_H_
#define HUT_CONTROLLER_DEPENDENCIES_H_

// What a service's rollouts depend on besides its own release: the load
// balancer and the backing services its release names. When one is down, a
// replica that fails its checks says nothing about the release, so the
// controller holds the rollout instead of judging it.

#include <optional>
#include <string>

namespace hut::controller {

class Dependencies {
 public:
  virtual ~Dependencies() = default;
  // Why rollouts of `service` must wait now ("backing service postgres is
  // down (killed by signal 9 (Killed)); restarting it"): a dependency is
  // down, or came back too recently for the replicas' checks to have
  // recovered. nullopt when nothing blocks. Thread-safe.
  virtual std::optional<std::string> Blocked(const std::string& service) const = 0;
};

}  // namespace hut::controller

#endif  // HUT_CONTROLLER_DEPENDENCIES_H_

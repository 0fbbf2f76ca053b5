#ifndef HUT_CLI_GET_H_
#define HUT_CLI_GET_H_

// `hut get services|rollouts [SERVICE] [-o json|wide]`: what the server knows,
// as tables (kubectl get's habits).

#include <string>

#include "src/cli/cli.h"

namespace hut::cli {

struct GetOptions {
  std::string kind;     // "services" or "rollouts"
  std::string service;  // rollouts of this service only; "" for all
  std::string environment;
  std::string output;   // "", "wide" or "json"
  int limit = 20;       // rollouts
};

int RunGet(const GetOptions& options, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_GET_H_

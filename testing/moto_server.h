#ifndef HUT_TESTING_MOTO_SERVER_H_
#define HUT_TESTING_MOTO_SERVER_H_

// moto's server (scripts/moto.sh installs it): AWS's APIs on 127.0.0.1 for
// the tests of hut's AWS clients. One process serves every service and keeps
// everything in memory. With `authenticate`, it checks every request's SigV4
// signature and IAM permissions (moto's INITIAL_NO_AUTH_ACTION_COUNT): Start
// creates an IAM user allowed everything and its access key, the credentials
// of Env(). (moto 5.1 recomputes some signatures wrongly and refuses even
// boto3's: a query value with '/', as in ListObjectsV2's prefix, and object
// keys with '+', '=' or non-ASCII characters. Tests of those run without.)
// Stopped by the destructor.

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/subprocess.h"
#include "testing/test_env.h"

namespace hut::testing {

class MotoServer {
 public:
  // Installs moto once per machine (a minute) and starts it on a free port.
  struct Options {
    bool authenticate = true;
  };
  static absl::StatusOr<std::unique_ptr<MotoServer>> Start(Options options);
  ~MotoServer();

  std::string url() const;  // http://127.0.0.1:PORT
  // The environment an AWS client of hut reads (aws/client.h): the
  // endpoint, a region, test credentials.
  std::map<std::string, std::string> Env() const;
  // A getenv over Env() (and nothing else).
  std::optional<std::string> GetEnv(const std::string& name) const;

 private:
  MotoServer() = default;
  absl::Status CreateUser();
  TempDir dir_;
  uint16_t port_ = 0;
  std::string access_key_id_, secret_access_key_;
  std::unique_ptr<Process> process_;
};

}  // namespace hut::testing

#endif  // HUT_TESTING_MOTO_SERVER_H_

#ifndef HUT_CLI_UP_H_
#define HUT_CLI_UP_H_

// `hut up`, `hut server` and `hut down`: run one environment of the spec on
// this machine in the foreground, and stop it.

#include <string>

#include "src/cli/cli.h"

namespace hut::cli {

struct UpOptions {
  std::string file;         // spec; "" : $HUT_SPEC, else foohut.yaml
  std::string environment;  // "" : $HUT_ENV, else "development" if the spec has it, else the first
  std::string state_dir;    // "" : .hut/ beside the spec
  std::string listen;       // "" : $HUT_ADDR, else 127.0.0.1:7480
  std::string sandbox = "auto";
  std::string store;        // "" : $HUT_STORE, else SQLite in the state folder
  // `hut server`: the environment's own runtime (local or kubernetes) and
  // hut's log lines on stderr; `hut up`: always the local runtime and a
  // readable event feed.
  bool server_mode = false;
  // `hut server` on kubernetes: "" : $KUBECONFIG, ~/.kube/config, else the
  // in-cluster service account.
  std::string kubeconfig;
  // `hut server` on kubernetes: the Prometheus the canary analysis queries
  // (http://HOST:PORT); "" : none, and a canary finds no metrics.
  std::string prometheus;
  // `hut server` on kubernetes: the Alertmanager `hut alerts silence|test`
  // use (http://HOST:PORT), and the file with the token it presents to hut's
  // webhook (a mounted Secret); "" : none, and one in the state folder.
  std::string alertmanager;
  std::string alert_token_file;
  // `hut server`: where its spans go and which Jaeger `hut trace` reads; "":
  // the local runtime's Jaeger, or none.
  std::string otlp_endpoint;
  std::string trace_query;
  // The local runtime's own Prometheus: a port on 127.0.0.1, 0 for a free
  // one, or "off".
  std::string prometheus_port = "9090";
  // Its Alertmanager (with the Prometheus): a port on 127.0.0.1, 0 for a
  // free one, or "off".
  std::string alertmanager_port = "9093";
  // The local runtime's Jaeger: its query port (0: a free one, "off": none)
  // and OTLP/HTTP port (0: a free one).
  std::string jaeger_port = "16686";
  std::string otlp_port = "4318";
};

// Runs until SIGINT/SIGTERM/SIGHUP or `hut down`, then stops everything it
// started. Exit 0 after a clean stop, 1 when it could not start.
int RunUp(const UpOptions& options, const Io& io);

struct DownOptions {
  std::string timeout = "120s";  // how long to wait for the server to finish stopping
};

// Asks the server at $HUT_ADDR (default 127.0.0.1:7480) to stop and waits
// until it has. Exit 0 once stopped, 1 when it is not running or does not stop.
int RunDown(const DownOptions& options, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_UP_H_

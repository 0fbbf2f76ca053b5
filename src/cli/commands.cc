#include "src/cli/commands.h"

#include <memory>
#include <string>

#include "src/cli/analyze.h"
#include "src/cli/deploy.h"
#include "src/cli/get.h"
#include "src/cli/alerts.h"
#include "src/cli/logs.h"
#include "src/cli/monitoring.h"
#include "src/cli/secrets.h"
#include "src/cli/rollout.h"
#include "src/cli/trace.h"
#include "src/cli/up.h"
#include "src/cli/validate.h"
#include "src/common/units.h"

namespace hut::cli {
namespace {

Action ConfigureValidate(CLI::App& app) {
  auto options = std::make_shared<ValidateOptions>();
  app.add_option("-f,--file", options->file,
                 "spec file to check (default: $HUT_SPEC, else foohut.yaml)");
  return [options](const Io& io) { return RunValidate(*options, io); };
}

// `hut up` and `hut server` share their flags.
void AddRunFlags(CLI::App& app, UpOptions& o) {
  app.add_option("-f,--file", o.file, "spec file (default: $HUT_SPEC, else foohut.yaml)");
  app.add_option("--env", o.environment,
                 "environment to run (default: $HUT_ENV, else development, else the first)");
  app.add_option("--state", o.state_dir, "state folder (default: .hut/ beside the spec)");
  app.add_option("--listen", o.listen,
                 "address of the control API (default: $HUT_ADDR, else 127.0.0.1:7480)");
  app.add_option("--sandbox", o.sandbox, "sandbox replicas: auto, on or off (default auto)");
  app.add_option("--store", o.store,
                 "hut's state store: postgresql://USER@HOST:PORT/DB or a SQLite file (default: "
                 "$HUT_STORE, else STATE/hut.db)");
  app.add_option("--prometheus-port", o.prometheus_port,
                 "local runtime: the port of the environment's Prometheus on 127.0.0.1 (default "
                 "9090; 0: a free one; off: none)");
  app.add_option("--alertmanager-port", o.alertmanager_port,
                 "local runtime: the port of the environment's Alertmanager on 127.0.0.1, which "
                 "Prometheus sends alerts to and which sends them to hut (default 9093; 0: a free "
                 "one; off: none)");
  app.add_option("--jaeger-port", o.jaeger_port,
                 "local runtime: the port of the environment's Jaeger (traces) on 127.0.0.1 "
                 "(default 16686; 0: a free one; off: none)");
  app.add_option("--otlp-port", o.otlp_port,
                 "local runtime: the port Jaeger takes spans on (OTLP/HTTP; default 4318; 0: a "
                 "free one)");
}

Action ConfigureUp(CLI::App& app) {
  auto options = std::make_shared<UpOptions>();
  AddRunFlags(app, *options);
  return [options](const Io& io) { return RunUp(*options, io); };
}

Action ConfigureServer(CLI::App& app) {
  auto options = std::make_shared<UpOptions>();
  options->server_mode = true;
  AddRunFlags(app, *options);
  app.add_option("--kubeconfig", options->kubeconfig,
                 "kubernetes runtime: the cluster's kubeconfig (default: $KUBECONFIG, else "
                 "~/.kube/config, else the in-cluster service account)");
  app.add_option("--prometheus", options->prometheus,
                 "kubernetes runtime: the Prometheus the canary analysis reads the pods' "
                 "metrics from (http://HOST:PORT; docs/kubernetes.md)");
  app.add_option("--alertmanager", options->alertmanager,
                 "kubernetes runtime: the Alertmanager `hut alerts silence` and `hut alerts "
                 "test` go to (http://HOST:PORT; the monitoring chart's)");
  app.add_option("--alert-token-file", options->alert_token_file,
                 "the bearer token Alertmanager presents to hut's webhook, in a file others "
                 "cannot read (a mounted Secret; default: STATE/secrets/alertmanager-token, "
                 "created when missing)");
  app.add_option("--otlp-endpoint", options->otlp_endpoint,
                 "where hut sends its own spans (each rollout's trace), OTLP/HTTP: "
                 "http://HOST:PORT/v1/traces (default: the local runtime's Jaeger; docs/traces.md)");
  app.add_option("--trace-query", options->trace_query,
                 "the Jaeger query API `hut trace` reads (http://HOST:PORT; default: the local "
                 "runtime's Jaeger)");
  return [options](const Io& io) { return RunUp(*options, io); };
}

// Flags of every command that talks to the server.
void AddEnvFlag(CLI::App& app, std::string& environment) {
  app.add_option("--env", environment,
                 "the environment the server must be running (default: $HUT_ENV); a server "
                 "running another refuses the command");
}

void AddOutputFlag(CLI::App& app, bool& json) {
  app.add_option_function<std::string>(
         "-o,--output", [&json](const std::string& format) { json = format == "json"; },
         "json: print the API's JSON, and nothing else, on stdout")
      ->check(CLI::IsMember({"json"}));
}

Action ConfigureDeploy(CLI::App& app) {
  auto o = std::make_shared<DeployOptions>();
  app.add_option("service", o->service, "the service to deploy")->required();
  app.add_option("version", o->version, "the version to roll out")->required();
  AddEnvFlag(app, o->environment);
  app.add_option("--strategy", o->strategy,
                 "rolling, replace or canary (default: the environment's strategy)")
      ->check(CLI::IsMember({"rolling", "replace", "canary"}));
  app.add_option("--set", o->set,
                 "VAR=VALUE: an environment variable of this release; repeat for more")
      ->allow_extra_args(false);
  app.add_flag("--wait", o->wait,
               "follow the rollout until it ends; exit 0 succeeded, 2 rolled back, 1 failed");
  AddOutputFlag(app, o->json);
  return [o](const Io& io) { return RunDeploy(*o, io); };
}

Action ConfigureRollout(CLI::App& app) {
  app.require_subcommand(1);
  CLI::App* status = app.add_subcommand(
      "status", "the latest rollout (phase, revisions, reason) and the replicas");
  auto so = std::make_shared<RolloutStatusOptions>();
  status->add_option("service", so->service, "the service")->required();
  AddEnvFlag(*status, so->environment);
  status->add_flag("-w,--watch", so->watch,
                   "follow the rollout until it ends; exit 0 succeeded, 2 rolled back, 1 failed");
  AddOutputFlag(*status, so->json);

  CLI::App* history = app.add_subcommand("history", "the revisions of a service, newest first");
  auto ho = std::make_shared<RolloutHistoryOptions>();
  history->add_option("service", ho->service, "the service")->required();
  AddEnvFlag(*history, ho->environment);
  AddOutputFlag(*history, ho->json);

  CLI::App* undo = app.add_subcommand(
      "undo", "roll back to the previous revision (or --to-revision N) as a new revision");
  auto uo = std::make_shared<RolloutUndoOptions>();
  undo->add_option("service", uo->service, "the service")->required();
  AddEnvFlag(*undo, uo->environment);
  undo->add_option("--to-revision", uo->to_revision,
                   "the revision to go back to (default: the one before the current)")
      ->check(CLI::PositiveNumber);
  undo->add_flag("--wait", uo->wait,
                 "follow the rollout until it ends; exit 0 succeeded, 2 rolled back, 1 failed");
  AddOutputFlag(*undo, uo->json);

  CLI::App* restart = app.add_subcommand(
      "restart", "replace every replica with a new one of the current revision, rolling");
  auto ro = std::make_shared<RolloutRestartOptions>();
  restart->add_option("service", ro->service, "the service")->required();
  AddEnvFlag(*restart, ro->environment);
  restart->add_flag("--wait", ro->wait,
                    "follow the rollout until it ends; exit 0 succeeded, 2 rolled back, 1 failed");
  AddOutputFlag(*restart, ro->json);

  // The operator's commands for a canary.
  std::vector<std::pair<CLI::App*, std::shared_ptr<RolloutCommandOptions>>> commands;
  for (const auto& [name, help] : std::initializer_list<std::pair<const char*, const char*>>{
           {"promote", "skip the rest of the canary's hold: next step, or promote after the last "
                       "(--full: promote now)"},
           {"abort", "roll the running rollout back now"},
           {"retry", "start a rolled-back canary again, as a new attempt"}}) {
    CLI::App* sub = app.add_subcommand(name, help);
    auto o = std::make_shared<RolloutCommandOptions>();
    o->command = name;
    sub->add_option("service", o->service, "the service")->required();
    AddEnvFlag(*sub, o->environment);
    if (o->command == "promote") {
      sub->add_flag("--full", o->full, "skip every remaining step and promote now");
    }
    sub->add_flag("--wait", o->wait,
                  o->command == "abort"
                      ? "follow the rollout until it ends; exit 0 rolled back, 1 failed"
                      : "follow the rollout until it ends; exit 0 succeeded, 2 rolled back, "
                        "1 failed");
    AddOutputFlag(*sub, o->json);
    commands.emplace_back(sub, o);
  }

  CLI::App* export_run = app.add_subcommand(
      "export", "print the analysis recorded for the rollout to REVISION (JSON for `hut analyze "
                "--replay`)");
  auto eo = std::make_shared<RolloutExportOptions>();
  export_run->add_option("service", eo->service, "the service")->required();
  export_run->add_option("revision", eo->revision, "the revision the rollout went to")
      ->required()
      ->check(CLI::PositiveNumber);
  AddEnvFlag(*export_run, eo->environment);
  export_run->add_option("--attempt", eo->attempt, "the attempt (default: the newest)")
      ->check(CLI::PositiveNumber);
  export_run->add_flag("--window", eo->window,
                       "the watch of the rollback window after promotion, not the canary's");

  return [=](const Io& io) {
    if (status->parsed()) return RunRolloutStatus(*so, io);
    if (history->parsed()) return RunRolloutHistory(*ho, io);
    if (export_run->parsed()) return RunRolloutExport(*eo, io);
    if (restart->parsed()) return RunRolloutRestart(*ro, io);
    for (const auto& [sub, o] : commands) {
      if (sub->parsed()) return RunRolloutCommand(*o, io);
    }
    return RunRolloutUndo(*uo, io);
  };
}

Action ConfigureDown(CLI::App& app) {
  auto options = std::make_shared<DownOptions>();
  app.add_option("--timeout", options->timeout,
                 "how long to wait for everything to stop (default 120s)");
  return [options](const Io& io) { return RunDown(*options, io); };
}

Action ConfigureAnalyze(CLI::App& app) {
  auto o = std::make_shared<AnalyzeOptions>();
  app.add_option("--replay", o->replay,
                 "a recorded analysis run (JSON, as `hut rollout export` writes it)")
      ->required();
  CLI::Option* file = app.add_option(
      "-f,--file", o->policy_file,
      "replay with this policy instead of the run's: a spec (see --env) or a policy file "
      "(JSON or YAML)");
  app.add_option("--env", o->environment,
                 "with a spec: the environment whose policy to use (default: production, else "
                 "the one with the canary strategy)")
      ->needs(file);
  app.add_option_function<std::string>(
         "-o,--output", [o](const std::string& format) { o->json = format == "json"; },
         "json: print the result as one JSON object, and nothing else, on stdout")
      ->check(CLI::IsMember({"json"}));
  return [o](const Io& io) { return RunAnalyze(*o, io); };
}

Action ConfigureGet(CLI::App& app) {
  auto o = std::make_shared<GetOptions>();
  app.add_option("kind", o->kind, "services or rollouts")
      ->required()
      ->check(CLI::IsMember({"services", "rollouts"}));
  app.add_option("service", o->service, "rollouts: of this service only");
  AddEnvFlag(app, o->environment);
  app.add_option("-o,--output", o->output,
                 "wide: more columns; json: the API's JSON, and nothing else, on stdout")
      ->check(CLI::IsMember({"wide", "json"}));
  app.add_option("--limit", o->limit, "rollouts: how many, newest first (default 20)")
      ->check(CLI::Range(1, 1000));
  return [o](const Io& io) { return RunGet(*o, io); };
}

Action ConfigureMonitoring(CLI::App& app) {
  app.require_subcommand(1);
  CLI::App* rules = app.add_subcommand(
      "rules", "print the Prometheus recording and alerting rules generated from the spec");
  auto o = std::make_shared<MonitoringRulesOptions>();
  rules->add_option("-f,--file", o->file, "spec file (default: $HUT_SPEC, else foohut.yaml)");
  rules->add_option("--env", o->environment, "this environment only (default: every one)");
  CLI::App* config = app.add_subcommand(
      "config", "print the Prometheus configuration of a Kubernetes environment: its pods, "
                "labelled as the canary analysis and the rules expect");
  auto c = std::make_shared<MonitoringConfigOptions>();
  config->add_option("-f,--file", c->file, "spec file (default: $HUT_SPEC, else foohut.yaml)");
  config->add_option("--env", c->environment, "the environment")->required();
  config->add_option("--rules", c->rules_file,
                     "the rules file it loads (default: rules/ENV.yml)");
  CLI::App* alertmanager = app.add_subcommand(
      "alertmanager", "print the Alertmanager configuration generated from an environment's "
                      "alerting policy: routes by severity, grouping, inhibition, hut's webhook");
  auto a = std::make_shared<MonitoringAlertmanagerOptions>();
  alertmanager->add_option("-f,--file", a->file,
                           "spec file (default: $HUT_SPEC, else foohut.yaml)");
  alertmanager->add_option("--env", a->environment, "the environment")->required();
  alertmanager->add_option("--webhook", a->webhook_url,
                           "hut's alert webhook (default: for a kubernetes environment, the "
                           "hut chart's Service, with the token the monitoring chart mounts; "
                           "else http://127.0.0.1:7480/api/v1/alerts/webhook)");
  alertmanager->add_option("--credentials-file", a->credentials_file,
                           "a file with the bearer token Alertmanager presents to hut");
  return [o, c, a, config, alertmanager](const Io& io) {
    if (alertmanager->parsed()) return RunMonitoringAlertmanager(*a, io);
    if (config->parsed()) {
      MonitoringConfigOptions with = *c;
      if (with.rules_file.empty()) with.rules_file = "rules/" + with.environment + ".yml";
      return RunMonitoringConfig(with, io);
    }
    return RunMonitoringRules(*o, io);
  };
}

Action ConfigureSecrets(CLI::App& app) {
  app.require_subcommand(1);
  auto o = std::make_shared<SecretsOptions>();
  const auto common = [&o](CLI::App* sub, bool named) {
    if (named) {
      sub->add_option("name", o->name, "the secret: database, jwt, third-party-api-keys, …")
          ->required();
    }
    AddEnvFlag(*sub, o->environment);
    AddOutputFlag(*sub, o->json);
  };
  CLI::App* list = app.add_subcommand("list", "the environment's secrets: current version, since when");
  common(list, false);
  CLI::App* get = app.add_subcommand(
      "get", "a secret's metadata; with --reveal its current value (the server records who)");
  common(get, true);
  get->add_flag("--reveal", o->reveal, "print the current value (recorded as an event)");
  get->add_option("--by", o->by, "who asks (default: $USER)");
  CLI::App* set = app.add_subcommand(
      "set", "a new current version, its value from stdin or --file (never the command line)");
  common(set, true);
  set->add_option("--file", o->file, "read the value from this file instead of stdin");
  set->add_option("--by", o->by, "who sets it (default: $USER)");
  CLI::App* history = app.add_subcommand("history", "a secret's versions and their stages");
  common(history, true);
  CLI::App* rotate = app.add_subcommand(
      "rotate", "rotate a secret now, in its four steps (create, set, test, finish; rolled back "
                "if the test fails): jwt so far");
  common(rotate, true);
  rotate->add_option("--by", o->by, "who rotates (default: $USER)");
  return [o, list, get, set, history](const Io& io) {
    if (list->parsed()) return RunSecretsList(*o, io);
    if (get->parsed()) return RunSecretsGet(*o, io);
    if (set->parsed()) return RunSecretsSet(*o, io);
    if (history->parsed()) return RunSecretsHistory(*o, io);
    return RunSecretsRotate(*o, io);
  };
}

Action ConfigureLogs(CLI::App& app) {
  auto o = std::make_shared<LogsOptions>();
  app.add_option("service", o->service,
                 "the service; hut for the control plane's own lines; load-balancer, or a "
                 "backing service's name (postgres, redis), for those servers' lines")
      ->required();
  AddEnvFlag(app, o->environment);
  auto duration = CLI::Validator(
      [](std::string& s) {
        absl::StatusOr<Duration> d = ParseDuration(s);
        return d.ok() && d->count() > 0 ? std::string()
                                         : "expected a duration such as 10m, 2h or 40d";
      },
      "DURATION");
  CLI::Option* since = app.add_option("--since", o->since,
                                      "lines of this last stretch of time (default 1h; with "
                                      "--trace: every hot day)")
                           ->check(duration);
  app.add_option("--from", o->from, "lines from this time (RFC 3339)")->excludes(since);
  app.add_option("--to", o->to, "lines before this time (RFC 3339)");
  app.add_option("--level", o->level, "this level and the more severe ones")
      ->check(CLI::IsMember({"ERROR", "WARN", "INFO", "DEBUG"}, CLI::ignore_case));
  app.add_option("--grep", o->grep, "lines containing this text");
  app.add_option("--trace", o->trace, "lines of this trace id, from every service");
  app.add_option("--version", o->version, "lines of this release version");
  app.add_flag("-f,--follow", o->follow, "go on printing lines as they come");
  app.add_option("--limit", o->limit, "at most this many lines, the newest (default 10000)")
      ->check(CLI::Range(1, 100'000));
  AddOutputFlag(app, o->json);
  return [o](const Io& io) { return RunLogs(*o, io); };
}

Action ConfigureAlerts(CLI::App& app) {
  app.require_subcommand(1);
  CLI::App* list = app.add_subcommand(
      "list", "the alerts hut tracks, newest first: state, severity, deadline, escalations");
  auto l = std::make_shared<AlertsListOptions>();
  AddEnvFlag(*list, l->environment);
  list->add_option("--state", l->state, "only alerts in this state")
      ->check(CLI::IsMember({"firing", "acked", "resolved"}));
  list->add_option("--limit", l->limit, "at most this many (default 100)")
      ->check(CLI::Range(1, 1000));
  AddOutputFlag(*list, l->json);
  CLI::App* ack = app.add_subcommand(
      "ack", "acknowledge an alert: its escalation stops, PagerDuty acknowledges its incidents");
  auto a = std::make_shared<AlertsAckOptions>();
  ack->add_option("id", a->id, "the alert's id (hut alerts list)")->required()->check(
      CLI::PositiveNumber);
  AddEnvFlag(*ack, a->environment);
  ack->add_option("--by", a->by, "who acknowledges (default: $USER)");
  AddOutputFlag(*ack, a->json);
  CLI::App* silence = app.add_subcommand(
      "silence", "silence matching alerts in Alertmanager for a while (its API v2)");
  auto s = std::make_shared<AlertsSilenceOptions>();
  AddEnvFlag(*silence, s->environment);
  silence->add_option("--match", s->matchers, "NAME=VALUE or NAME!=VALUE, e.g. service=backend")
      ->required();
  silence->add_option("--for", s->length, "how long, e.g. 2h")->required();
  silence->add_option("--comment", s->comment, "why (Alertmanager requires it)")->required();
  silence->add_option("--by", s->by, "who silences (default: $USER)");
  CLI::App* test = app.add_subcommand(
      "test", "send a test alert through the whole chain: Alertmanager, hut, the severity's "
              "channel (with --service, a rollout under way reacts to it as to a real one)");
  auto t = std::make_shared<AlertsTestOptions>();
  test->add_option("severity", t->severity, "critical, high, medium, low, warning or info")
      ->required()
      ->check(CLI::IsMember({"critical", "high", "medium", "low", "warning", "info"}));
  AddEnvFlag(*test, t->environment);
  test->add_option("--service", t->service, "the service the alert is about");
  AddOutputFlag(*test, t->json);
  return [l, a, s, t, list, ack, silence](const Io& io) {
    if (list->parsed()) return RunAlertsList(*l, io);
    if (ack->parsed()) return RunAlertsAck(*a, io);
    if (silence->parsed()) return RunAlertsSilence(*s, io);
    return RunAlertsTest(*t, io);
  };
}

Action ConfigureTrace(CLI::App& app) {
  auto o = std::make_shared<TraceOptions>();
  app.add_option("trace_id", o->trace_id, "the trace id (32 hex digits: a traceparent's second field)")
      ->required();
  AddEnvFlag(app, o->environment);
  AddOutputFlag(app, o->json);
  return [o](const Io& io) { return RunTrace(*o, io); };
}

constexpr Command kCommands[] = {
    {"up", "run an environment on this machine in the foreground: backing services, "
           "load balancer, replicas and the control plane (Ctrl-C or `hut down` stops it)",
     &ConfigureUp},
    {"server", "run the control plane for an environment, with the runtime the spec names",
     &ConfigureServer},
    {"down", "stop the hut server at $HUT_ADDR and everything it started", &ConfigureDown},
    {"validate", "check a spec file; every problem names file, line, column and key",
     &ConfigureValidate},
    {"deploy", "roll a new version of a service out (kubectl's habits: --wait follows it)",
     &ConfigureDeploy},
    {"rollout", "follow and steer rollouts: status, history, undo, restart, promote, abort, retry, "
     "export",
     &ConfigureRollout},
    {"get", "list what the server knows: services (replicas, current revision, rollout) or "
            "rollouts (-o wide|json)",
     &ConfigureGet},
    {"logs", "a service's log lines from the central store: --since, --level, --grep, --trace, "
             "--version, -f (stern's habits)",
     &ConfigureLogs},
    {"trace", "one request's span tree with timings, and its log lines from every service",
     &ConfigureTrace},
    {"alerts", "the alerts hut tracks and routes (page, chat, digest): list, ack, silence, test",
     &ConfigureAlerts},
    {"analyze", "replay a recorded canary analysis offline: when and why it would promote or "
                "roll back, with its own policy or another (-f)",
     &ConfigureAnalyze},
    {"monitoring", "what hut configures Prometheus and Alertmanager with, generated from the "
                   "spec: rules, config, alertmanager",
     &ConfigureMonitoring},
    {"secrets", "the environment's secrets in its backend (local or AWS Secrets Manager): list, "
                "get, set, history, rotate",
     &ConfigureSecrets},
};

}  // namespace

std::span<const Command> Commands() { return kCommands; }

}  // namespace hut::cli

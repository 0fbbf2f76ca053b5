#!/usr/bin/env python3
"""Checks rendered charts against foohut.yaml, the one source of truth.

    python3 k8s/check-values.py [--spec foohut.yaml] RENDER_DIR

RENDER_DIR holds `helm template` outputs named CHART_ENV_VARIANT.yaml
(k8s/test-charts.sh writes them):
  foohut-SERVICE_ENV_default.yaml    as deployed: router gateway-api, no Deployment
  foohut-SERVICE_ENV_workload.yaml   workload.render=true, router.kind=alb
  foohut-SERVICE_ENV_replicas.yaml   router.kind=replicas
  hut_ENV_default.yaml               hut's chart for environment ENV
  monitoring_ENV_default.yaml        the monitoring chart (monitoring/) for ENV

Every value that foohut.yaml also states (ports, replicas, autoscaling, probes,
grace periods, rolling policy, namespaces, domains, image repositories, log
settings) must be equal; so must the names and labels hut's Kubernetes runtime
relies on. Each disagreement is printed with the field and both values; the
exit status is 1 if there is any.
"""

import argparse
import json
import pathlib
import re
import sys

import yaml

# foohut.yaml defaults (docs/spec.md: ADR-009's values, or hut's).
SERVICE_PORTS = {"backend": 8080, "frontend": 8081}
POLICY_DEFAULTS = {
    "autoscaling": {"enabled": True, "min_replicas": 3, "max_replicas": 20,
                    "target_cpu": "70%", "target_memory": "80%"},
    "rollback": {"health_check_failures": 3},
    "rolling": {"max_surge": 1, "max_unavailable": 0, "progress_deadline": "10m"},
    "logging": {"format": "json", "level": "INFO"},
}
# The router paths: not in foohut.yaml, a contract of the charts.
PATH_PREFIX = {"backend": "/api", "frontend": "/"}
CONTRACT_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/part-of",
                   "app.kubernetes.io/managed-by", "hut.foohut.dev/service", "helm.sh/chart")

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|y)", str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    return int(m.group(1)) * UNITS[m.group(2)]


def percent(text):
    return int(str(text).rstrip("%"))


def merge(base, over):
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


class Spec:
    """The values of foohut.yaml that the charts repeat, with its defaults."""

    def __init__(self, path):
        self.doc = yaml.safe_load(pathlib.Path(path).read_text())
        self.project = self.doc.get("project", "foohut")

    def env(self, name):
        envs = self.doc["environments"]
        if name not in envs:
            raise KeyError(f"foohut.yaml has no environment {name!r} (has {', '.join(envs)})")
        return envs[name]

    def policies(self, env):
        p = merge(POLICY_DEFAULTS, self.doc.get("policies"))
        return merge(p, self.env(env).get("policies"))

    def policy_source(self, env, section, key):
        """Where policies.SECTION.KEY of ENV comes from, for messages."""
        own = (self.env(env).get("policies") or {}).get(section) or {}
        return f"{'environments.' + env + '.' if key in own else ''}policies.{section}.{key}"

    def namespace(self, env):
        return self.env(env).get("namespace", f"{self.project}-{env}")

    def service(self, name):
        return self.doc["services"][name]

    def replicas(self, env, svc):
        own = (self.env(env).get("services") or {}).get(svc, {}).get("replicas")
        if own is None:
            own = self.service(svc).get("replicas")
        if own is None:
            a = self.policies(env)["autoscaling"]
            own = a["min_replicas"] if a["enabled"] else 1
        return own


class Checker:
    def __init__(self):
        self.errors = []
        self.checked = 0

    def eq(self, where, field, chart, spec, source):
        self.checked += 1
        if chart != spec:
            self.errors.append(f"{where}: {field}: chart has {chart!r}, "
                               f"foohut.yaml ({source}) has {spec!r}")

    def fail(self, where, message):
        self.errors.append(f"{where}: {message}")


def get(obj, *path):
    for p in path:
        if isinstance(obj, dict):
            obj = obj.get(p)
        elif isinstance(obj, list) and isinstance(p, int) and p < len(obj):
            obj = obj[p]
        else:
            return None
    return obj


def load(path):
    objs = {}
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            objs[(doc["kind"], doc["metadata"]["name"])] = doc
    return objs


def check_app(c, spec, file, svc, env, variant, objs):
    name = f"foohut-{svc}"
    sdef = spec.service(svc)
    pol = spec.policies(env)
    ns = spec.namespace(env)
    e = spec.env(env)
    src_svc = f"services.{svc}"

    def at(kind, n=name):
        return f"{file.name}: {kind}/{n}"

    def need(kind, n=name):
        obj = objs.get((kind, n))
        if obj is None:
            c.fail(at(kind, n), "missing")
        return obj

    for (kind, n), obj in objs.items():
        c.eq(at(kind, n), "metadata.namespace", obj["metadata"].get("namespace"), ns,
             f"environments.{env}.namespace")
        labels = obj["metadata"].get("labels") or {}
        for key in CONTRACT_LABELS:
            if key not in labels:
                c.fail(at(kind, n), f"label {key} missing")
        expected = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "foohut",
                    "app.kubernetes.io/managed-by": "hut", "hut.foohut.dev/service": svc}
        for key, want in expected.items():
            if key in labels and labels[key] != want:
                c.fail(at(kind, n), f"label {key} is {labels[key]!r}, hut expects {want!r}")

    if s := need("Service"):
        c.eq(at("Service"), "spec.ports[0].port", get(s, "spec", "ports", 0, "port"),
             sdef.get("port", SERVICE_PORTS.get(svc)), f"{src_svc}.port")
        if get(s, "spec", "ports", 0, "targetPort") != "http":
            c.fail(at("Service"), "spec.ports[0].targetPort must be the named port http")
        if get(s, "spec", "selector") != {"app.kubernetes.io/name": name}:
            c.fail(at("Service"), f"spec.selector must be exactly app.kubernetes.io/name: {name}")
        if get(s, "spec", "type") != "ClusterIP":
            c.fail(at("Service"), "spec.type must be ClusterIP")

    if cm := need("ConfigMap", f"{name}-config"):
        where = at("ConfigMap", f"{name}-config")
        data = cm.get("data") or {}
        c.eq(where, "data.FOOHUT_ENV", data.get("FOOHUT_ENV"), env, f"environments.{env}")
        c.eq(where, "data.FOOHUT_LOG_LEVEL", data.get("FOOHUT_LOG_LEVEL"),
             pol["logging"]["level"], spec.policy_source(env, "logging", "level"))
        c.eq(where, "data.FOOHUT_LOG_FORMAT", data.get("FOOHUT_LOG_FORMAT"),
             pol["logging"]["format"], spec.policy_source(env, "logging", "format"))

    a = pol["autoscaling"]
    hpa = objs.get(("HorizontalPodAutoscaler", name))
    if not a["enabled"]:
        if hpa:
            c.fail(at("HorizontalPodAutoscaler"), "present, but policies.autoscaling.enabled is false")
    elif need("HorizontalPodAutoscaler"):
        where = at("HorizontalPodAutoscaler")
        c.eq(where, "spec.minReplicas", get(hpa, "spec", "minReplicas"), a["min_replicas"],
             spec.policy_source(env, "autoscaling", "min_replicas"))
        c.eq(where, "spec.maxReplicas", get(hpa, "spec", "maxReplicas"), a["max_replicas"],
             spec.policy_source(env, "autoscaling", "max_replicas"))
        targets = {m["resource"]["name"]: m["resource"]["target"].get("averageUtilization")
                   for m in get(hpa, "spec", "metrics") or [] if m.get("type") == "Resource"}
        c.eq(where, "cpu averageUtilization", targets.get("cpu"), percent(a["target_cpu"]),
             spec.policy_source(env, "autoscaling", "target_cpu"))
        c.eq(where, "memory averageUtilization", targets.get("memory"), percent(a["target_memory"]),
             spec.policy_source(env, "autoscaling", "target_memory"))
        ref = get(hpa, "spec", "scaleTargetRef") or {}
        # hut's rollouts own the Deployments' replicas: the HPA scales hut's
        # ServiceScale, unless the chart renders the Deployment itself.
        want = (("apps/v1", "Deployment") if variant == "workload"
                else ("hut.foohut.dev/v1", "ServiceScale"))
        if (ref.get("apiVersion"), ref.get("kind"), ref.get("name")) != (*want, name):
            c.fail(where, f"scaleTargetRef must be {want[1]} {name} ({want[0]}), is {ref}")

    if pdb := need("PodDisruptionBudget"):
        if get(pdb, "spec", "selector") != {"matchLabels": {"app.kubernetes.io/name": name}}:
            c.fail(at("PodDisruptionBudget"), "spec.selector must be the Service's")

    route = objs.get(("HTTPRoute", name))
    ingress = objs.get(("Ingress", name))
    domain = e.get("domain")
    want = {"default": "HTTPRoute", "workload": "Ingress", "replicas": None}[variant]
    for kind, obj in (("HTTPRoute", route), ("Ingress", ingress)):
        if obj and kind != want:
            c.fail(at(kind), f"rendered, but the {variant} variant wants {want or 'no route'}")
    if want == "HTTPRoute" and need("HTTPRoute"):
        where = at("HTTPRoute")
        c.eq(where, "spec.hostnames", get(route, "spec", "hostnames"), [domain],
             f"environments.{env}.domain")
        rule = get(route, "spec", "rules", 0) or {}
        c.eq(where, "rules[0].matches[0].path.value", get(rule, "matches", 0, "path", "value"),
             PATH_PREFIX[svc], "the router contract")
        c.eq(where, "rules[0].backendRefs", rule.get("backendRefs"),
             [{"name": name, "port": sdef.get("port", SERVICE_PORTS.get(svc)), "weight": 100}],
             f"{src_svc}.port")
    if want == "Ingress" and need("Ingress"):
        where = at("Ingress")
        c.eq(where, "rules[0].host", get(ingress, "spec", "rules", 0, "host"), domain,
             f"environments.{env}.domain")
        action = json.loads(get(ingress, "metadata", "annotations", f"alb.ingress.kubernetes.io/actions.{name}") or "{}")
        c.eq(where, f"actions.{name} target group", get(action, "forwardConfig", "targetGroups"),
             [{"serviceName": name, "servicePort": str(sdef.get("port", SERVICE_PORTS.get(svc))),
               "weight": 100}], f"{src_svc}.port")
        path = get(ingress, "spec", "rules", 0, "http", "paths", 0) or {}
        c.eq(where, "paths[0].path", path.get("path"), PATH_PREFIX[svc], "the router contract")
        if get(path, "backend", "service") != {"name": name, "port": {"name": "use-annotation"}}:
            c.fail(where, f"paths[0].backend must be service {name}, port name use-annotation")

    dep = objs.get(("Deployment", name))
    if variant != "workload":
        if dep:
            c.fail(at("Deployment"), "rendered with workload.render false: hut owns it")
        return
    if not need("Deployment"):
        return
    where = at("Deployment")
    pod = get(dep, "spec", "template", "spec")
    ctr = get(pod, "containers", 0) or {}
    image = sdef.get("release", {}).get("image", "")
    c.eq(where, "image repository", ctr.get("image", "").rsplit(":", 1)[0],
         image.rsplit(":", 1)[0], f"{src_svc}.release.image")
    h = sdef.get("health", {})
    threshold = h.get("failure_threshold", pol["rollback"]["health_check_failures"])
    threshold_src = (f"{src_svc}.health.failure_threshold" if "failure_threshold" in h
                     else spec.policy_source(env, "rollback", "health_check_failures"))
    for probe, key, default in (("readinessProbe", "readiness_path", "/readyz"),
                                ("livenessProbe", "liveness_path", "/healthz")):
        p = ctr.get(probe) or {}
        c.eq(where, f"{probe}.httpGet.path", get(p, "httpGet", "path"), h.get(key, default),
             f"{src_svc}.health.{key}")
        c.eq(where, f"{probe}.periodSeconds", p.get("periodSeconds"),
             seconds(h.get("interval", "2s")), f"{src_svc}.health.interval")
        c.eq(where, f"{probe}.timeoutSeconds", p.get("timeoutSeconds"),
             seconds(h.get("timeout", "1s")), f"{src_svc}.health.timeout")
        c.eq(where, f"{probe}.failureThreshold", p.get("failureThreshold"), threshold,
             threshold_src)
    sp = ctr.get("startupProbe") or {}
    c.eq(where, "startupProbe period x failureThreshold",
         (sp.get("periodSeconds") or 0) * (sp.get("failureThreshold") or 0),
         seconds(h.get("start_period", "10s")), f"{src_svc}.health.start_period")
    c.eq(where, "terminationGracePeriodSeconds", pod.get("terminationGracePeriodSeconds"),
         seconds(sdef.get("termination_grace_period", "30s")), f"{src_svc}.termination_grace_period")
    if "replicas" in dep["spec"]:
        if a["enabled"]:
            c.fail(where, "spec.replicas is set, but the HPA owns the replica count")
        c.eq(where, "spec.replicas", dep["spec"]["replicas"], spec.replicas(env, svc),
             f"environments.{env}.services.{svc}.replicas")
    r = pol["rolling"]
    ru = get(dep, "spec", "strategy", "rollingUpdate") or {}
    c.eq(where, "rollingUpdate.maxSurge", ru.get("maxSurge"), r["max_surge"],
         spec.policy_source(env, "rolling", "max_surge"))
    c.eq(where, "rollingUpdate.maxUnavailable", ru.get("maxUnavailable"), r["max_unavailable"],
         spec.policy_source(env, "rolling", "max_unavailable"))
    c.eq(where, "progressDeadlineSeconds", get(dep, "spec", "progressDeadlineSeconds"),
         seconds(r["progress_deadline"]), spec.policy_source(env, "rolling", "progress_deadline"))
    zones = any(t.get("topologyKey") == "topology.kubernetes.io/zone"
                for t in pod.get("topologySpreadConstraints") or [])
    c.eq(where, "spread over zones", zones, bool(e.get("multi_az", False)), f"environments.{env}.multi_az")
    env_vars = {v["name"]: v.get("value") for v in ctr.get("env") or []}
    port = next((p["containerPort"] for p in ctr.get("ports") or [] if p.get("name") == "http"), None)
    if port is None or env_vars.get("PORT") != str(port):
        c.fail(where, f"PORT ({env_vars.get('PORT')}) must be the container port http ({port})")


def check_hut(c, spec, file, env, objs):
    ns_env = spec.namespace(env)
    dep = objs.get(("Deployment", "hut"))
    if not dep:
        c.fail(f"{file.name}: Deployment/hut", "missing")
        return
    ctr = get(dep, "spec", "template", "spec", "containers", 0) or {}
    args = ctr.get("args") or []
    c.eq(f"{file.name}: Deployment/hut", "args", args[:2], ["server", f"--env={env}"], f"environments.{env}")
    if spec.env(env).get("runtime") != "kubernetes":
        print(f"note: {file.name}: environment {env} has runtime "
              f"{spec.env(env).get('runtime')} in foohut.yaml, not kubernetes")
    roles = sorted(o["metadata"]["namespace"] for (k, _), o in objs.items() if k == "Role")
    c.eq(f"{file.name}: Role/hut", "namespaces", roles, [ns_env], f"environments.{env}.namespace")
    cr = objs.get(("ClusterRole", "hut"))
    names = sorted(n for r in get(cr, "rules") or [] for n in r.get("resourceNames") or [])
    c.eq(f"{file.name}: ClusterRole/hut", "resourceNames", names, [ns_env],
         f"environments.{env}.namespace")


def days(text):
    return seconds(text) // 86400


def check_monitoring(c, spec, file, env, objs):
    ns_env = spec.namespace(env)
    pol = spec.policies(env)["logging"]
    where = f"{file.name}: ConfigMap/prometheus"
    data = get(objs.get(("ConfigMap", "prometheus")), "data") or {}
    config = yaml.safe_load(data.get("prometheus.yml") or "{}") or {}
    jobs = {j["job_name"]: j for j in config.get("scrape_configs") or []}
    scraped = get(jobs.get("pods"), "kubernetes_sd_configs", 0, "namespaces", "names")
    c.eq(where, "pods job namespaces", scraped, [ns_env], f"environments.{env}.namespace")
    c.eq(where, "external label environment", get(config, "global", "external_labels", "environment"),
         env, f"environments.{env}")
    if not (data.get("rules.yml") or "").strip():
        c.fail(where, "rules.yml is empty")
    # the rules file where the configuration looks for it
    sts = objs.get(("StatefulSet", "prometheus"))
    items = [i for v in get(sts, "spec", "template", "spec", "volumes") or []
             for i in get(v, "configMap", "items") or []]
    mounted = sorted(i["path"] for i in items if i.get("key") == "rules.yml")
    c.eq(f"{file.name}: StatefulSet/prometheus", "rules mounted at", mounted,
         sorted(config.get("rule_files") or []), "hut monitoring config")
    # one Role per namespace, all of one name: objs keeps only the last
    roles = sorted(d["metadata"]["namespace"] for d in yaml.safe_load_all(file.read_text())
                   if d and d["kind"] == "Role" and d["metadata"]["name"] == "foohut-prometheus")
    c.eq(f"{file.name}: Role/foohut-prometheus", "namespaces", roles, sorted([ns_env, "hut-system"]),
         f"environments.{env}.namespace")
    conf = get(objs.get(("ConfigMap", "fluent-bit")), "data", "fluent-bit.conf") or ""
    where = f"{file.name}: ConfigMap/fluent-bit"
    m = re.search(r"^\s*log_retention_days\s+(\d+)$", conf, re.M)
    c.eq(where, "CloudWatch log_retention_days", int(m.group(1)) if m else None,
         days(pol["cold_retention"]), "policies.logging.cold_retention")
    m = re.search(r"^\s*Path\s+(\S+)$", conf, re.M)
    if not m or f"_{ns_env}_" not in m.group(1):
        c.fail(where, f"the tail input's Path must read namespace {ns_env}'s containers")
    m = re.search(r"^\s*Add\s+environment\s+(\S+)$", conf, re.M)
    c.eq(where, "field environment", m.group(1) if m else None, env, f"environments.{env}")
    ism = json.loads(get(objs.get(("ConfigMap", "opensearch-ism-policy")), "data", "policy.json") or "{}")
    ages = [t["conditions"]["min_index_age"] for st in get(ism, "policy", "states") or []
            for t in st.get("transitions") or []]
    c.eq(f"{file.name}: ConfigMap/opensearch-ism-policy", "hot retention", ages,
         [f"{days(pol['hot_retention'])}d"], "policies.logging.hot_retention")


def services_of(files):
    """HOST:PORT of every Service in the renders, as in-cluster DNS names them."""
    out = set()
    for f in files:
        for (kind, name), o in load(f).items():
            if kind == "Service":
                for p in get(o, "spec", "ports") or []:
                    out.add(f"{name}.{o['metadata']['namespace']}.svc:{p['port']}")
    return out


def secret_file(pod_spec, container, path):
    """The Secret (and key) mounted in `container` of `pod_spec` at file `path`, or None."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    for m in container.get("volumeMounts") or []:
        secret = get(volumes.get(m["name"]), "secret")
        if not secret:
            continue
        for item in secret.get("items") or []:
            if f"{m['mountPath'].rstrip('/')}/{item['path']}" == path:
                return secret["secretName"], item["key"]
    return None


def check_endpoints(c, renders):
    """The URLs the charts give hut and the pods name a Service of the monitoring chart;
    the monitoring chart's reach hut's Service; the token Alertmanager presents to hut
    is one Secret's, mounted where each side reads it."""
    monitoring = sorted(renders.glob("monitoring_*.yaml"))
    services = services_of(monitoring)
    if not services:
        return
    hut_services = services_of(renders.glob("hut_*.yaml"))
    urls = []
    hut_token = {}
    for f in renders.glob("hut_*.yaml"):
        dep = load(f).get(("Deployment", "hut"))
        pod = get(dep, "spec", "template", "spec") or {}
        ctr = get(pod, "containers", 0) or {}
        for a in ctr.get("args") or []:
            if a.startswith(("--prometheus=", "--otlp-endpoint=", "--alertmanager=")):
                urls.append((f"{f.name}: Deployment/hut {a.split('=')[0]}", a.split("=", 1)[1], services))
            if a.startswith("--alert-token-file="):
                path = a.split("=", 1)[1]
                hut_token[f.name] = secret_file(pod, ctr, path)
                c.checked += 1
                if not hut_token[f.name]:
                    c.fail(f"{f.name}: Deployment/hut", f"--alert-token-file {path} is no mounted Secret's key")
    for f in renders.glob("foohut-*_default.yaml"):
        for (kind, name), o in load(f).items():
            v = get(o, "data", "OTEL_EXPORTER_OTLP_ENDPOINT") if kind == "ConfigMap" else None
            if v:
                urls.append((f"{f.name}: ConfigMap/{name} OTEL_EXPORTER_OTLP_ENDPOINT", v, services))
    for f in monitoring:
        objs = load(f)
        prom = yaml.safe_load(get(objs.get(("ConfigMap", "prometheus")), "data", "prometheus.yml") or "{}") or {}
        for am in get(prom, "alerting", "alertmanagers") or []:
            for sc in am.get("static_configs") or []:
                for t in sc.get("targets") or []:
                    urls.append((f"{f.name}: ConfigMap/prometheus alerting target", t, services))
        am = yaml.safe_load(get(objs.get(("ConfigMap", "alertmanager")), "data", "alertmanager.yml") or "{}") or {}
        sts = objs.get(("StatefulSet", "alertmanager"))
        pod = get(sts, "spec", "template", "spec") or {}
        ctr = get(pod, "containers", 0) or {}
        for r in am.get("receivers") or []:
            for w in r.get("webhook_configs") or []:
                where = f"{f.name}: ConfigMap/alertmanager receiver {r['name']}"
                urls.append((where, w["url"], hut_services))
                path = get(w, "http_config", "authorization", "credentials_file")
                mounted = secret_file(pod, ctr, path) if path else None
                c.checked += 1
                if not mounted:
                    c.fail(where, f"credentials_file {path} is no Secret mounted in StatefulSet/alertmanager")
                for hut_file, theirs in hut_token.items():
                    c.checked += 1
                    if theirs and mounted and theirs != mounted:
                        c.fail(where, f"Alertmanager presents Secret {mounted[0]} key {mounted[1]}, "
                                      f"{hut_file}'s hut reads Secret {theirs[0]} key {theirs[1]}")
    for where, url, known in urls:
        c.checked += 1
        host = re.sub(r"^https?://([^/]+).*$", r"\1", url)
        if host not in known:
            c.fail(where, f"{url} names no Service the charts make ({', '.join(sorted(known))})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=str(pathlib.Path(__file__).resolve().parent.parent / "foohut.yaml"))
    ap.add_argument("renders", type=pathlib.Path)
    args = ap.parse_args()
    spec = Spec(args.spec)
    c = Checker()
    files = sorted(args.renders.glob("*.yaml"))
    if not files:
        sys.exit(f"check-values: no renders in {args.renders}")
    for f in files:
        m = re.fullmatch(r"(foohut-(\w+)|hut|monitoring)_(\w+)_(default|workload|replicas)\.yaml", f.name)
        if not m:
            sys.exit(f"check-values: {f.name} is not CHART_ENV_VARIANT.yaml")
        chart, svc, env, variant = m.groups()
        try:
            if chart == "hut":
                check_hut(c, spec, f, env, load(f))
            elif chart == "monitoring":
                check_monitoring(c, spec, f, env, load(f))
            else:
                check_app(c, spec, f, svc, env, variant, load(f))
        except KeyError as e:
            c.fail(f.name, str(e))
    check_endpoints(c, args.renders)
    for err in c.errors:
        print(f"MISMATCH {err}")
    print(f"check-values: {len(files)} renders, {c.checked} values compared with foohut.yaml, "
          f"{len(c.errors)} problems")
    sys.exit(1 if c.errors else 0)


if __name__ == "__main__":
    main()

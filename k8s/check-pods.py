#!/usr/bin/env python3
"""Checks every pod template in rendered manifests against ADR-009's container
security rules (Pod Security Standard "restricted" and more).

    python3 k8s/check-pods.py FILE_OR_DIR...

Each violation is printed as `FILE: Kind/namespace/name: container C: rule`;
the exit status is 1 if there is any, or if no pod template was found at all.
"""

import pathlib
import sys

import yaml

UID = 10001  # the images' user and group
# hut talks to the API server, so its pod mounts a token and, having no
# unauthenticated endpoint, is probed over TCP. Prometheus (pod discovery) and
# Fluent Bit (pod metadata) call it too, and mount a token. Nothing else may.
API_CLIENTS = {("hut-system", "hut"), ("foohut-monitoring", "prometheus"),
               ("foohut-logging", "fluent-bit")}
# The monitoring chart's third-party servers answer their own health paths
# (readiness, liveness) instead of foohut's /readyz and /healthz.
PROBE_PATHS = {
    ("foohut-monitoring", "prometheus"): ("/-/ready", "/-/healthy"),
    ("foohut-monitoring", "alertmanager"): ("/-/ready", "/-/healthy"),
    ("foohut-monitoring", "grafana"): ("/api/health", "/api/health"),
    ("foohut-monitoring", "otel-collector"): ("/", "/"),
    ("foohut-logging", "fluent-bit"): ("/api/v1/health", "/api/v1/health"),
}
# Fluent Bit reads the nodes' log files, root's with mode 0640: it alone runs
# as root (still no capability, no escalation, read-only root filesystem) and
# mounts host paths: /var/log read-only, and its own state folder.
LOG_SHIPPER = ("foohut-logging", "fluent-bit")
LOG_SHIPPER_HOST_PATHS = {"/var/log": True, "/var/fluent-bit/state": False}  # path: read-only


def pod_templates(obj):
    """(pod spec, pod labels) of a workload or Pod, or None."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return spec, obj["metadata"].get("labels") or {}
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"):
        t = spec.get("template") or {}
        return t.get("spec") or {}, (t.get("metadata") or {}).get("labels") or {}
    return None


def check_pod(pod, labels, where, ident, problems):
    """ident: (namespace, name) of the workload."""
    def bad(rule, container=None):
        problems.append(f"{where}: {'container ' + container + ': ' if container else ''}{rule}")

    api_client = ident in API_CLIENTS
    shipper = ident == LOG_SHIPPER
    psc = pod.get("securityContext") or {}
    if shipper:
        if psc.get("runAsUser") != 0 or psc.get("runAsNonRoot") is not False:
            bad("pod securityContext: the log shipper runs as root (runAsUser 0, runAsNonRoot false)")
    else:
        if psc.get("runAsNonRoot") is not True:
            bad("pod securityContext.runAsNonRoot must be true")
        for f in ("runAsUser", "runAsGroup", "fsGroup"):
            if psc.get(f) != UID:
                bad(f"pod securityContext.{f} must be {UID} (is {psc.get(f)!r})")
    host_paths = {v["name"]: v["hostPath"].get("path") for v in pod.get("volumes") or [] if "hostPath" in v}
    if host_paths and not shipper:
        bad(f"hostPath volumes must not be used (has {sorted(host_paths.values())})")
    elif set(host_paths.values()) - set(LOG_SHIPPER_HOST_PATHS):
        bad(f"hostPath volumes: only {sorted(LOG_SHIPPER_HOST_PATHS)} (has {sorted(host_paths.values())})")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        bad("pod securityContext.seccompProfile.type must be RuntimeDefault")
    token = pod.get("automountServiceAccountToken")
    if token is not (True if api_client else False):
        bad(f"automountServiceAccountToken must be {'true' if api_client else 'false'} (is {token!r})")
    for f in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(f):
            bad(f"{f} must not be set")
    if not isinstance(pod.get("terminationGracePeriodSeconds"), int):
        bad("terminationGracePeriodSeconds must be set")
    tmp_volumes = {v["name"] for v in pod.get("volumes") or [] if "emptyDir" in v}

    service = labels.get("hut.foohut.dev/service")
    for ctr in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        name = ctr.get("name", "?")
        sc = ctr.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            bad("securityContext.readOnlyRootFilesystem must be true", name)
        if sc.get("allowPrivilegeEscalation") is not False:
            bad("securityContext.allowPrivilegeEscalation must be false", name)
        if sc.get("privileged"):
            bad("securityContext.privileged must not be set", name)
        caps = sc.get("capabilities") or {}
        if caps.get("drop") != ["ALL"]:
            bad(f"securityContext.capabilities.drop must be [ALL] (is {caps.get('drop')!r})", name)
        if caps.get("add"):
            bad(f"securityContext.capabilities.add must be empty (is {caps['add']!r})", name)
        if sc.get("runAsNonRoot") is not (False if shipper else True):
            bad(f"securityContext.runAsNonRoot must be {'false' if shipper else 'true'}", name)
        for m in ctr.get("volumeMounts") or []:
            path = host_paths.get(m.get("name"))
            if path and LOG_SHIPPER_HOST_PATHS.get(path) and m.get("readOnly") is not True:
                bad(f"host path {path} must be mounted readOnly", name)
        if not any(m.get("mountPath") == "/tmp" and m.get("name") in tmp_volumes
                   for m in ctr.get("volumeMounts") or []):
            bad("an emptyDir must be mounted at /tmp", name)
        image = ctr.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if not image.startswith("ghcr.io/foohut/") or tag in ("", "latest"):
            bad(f"image must be ghcr.io/foohut/NAME:TAG with a pinned tag (is {image!r})", name)
        res = ctr.get("resources") or {}
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(part) or {}):
                    bad(f"resources.{part}.{r} must be set", name)
        if "http" not in {p.get("name") for p in ctr.get("ports") or []}:
            bad("must have a container port named http", name)
        for probe, path in zip(("readinessProbe", "livenessProbe"),
                               PROBE_PATHS.get(ident, ("/readyz", "/healthz"))):
            p = ctr.get(probe)
            if not p:
                bad(f"{probe} must be set", name)
                continue
            handler = p.get("httpGet") or (p.get("tcpSocket") if api_client else None)
            if not handler:
                bad(f"{probe} must be httpGet", name)
            elif handler.get("port") != "http":
                bad(f"{probe} must probe port http", name)
            elif "httpGet" in p and p["httpGet"].get("path") != path:
                bad(f"{probe}.httpGet.path must be {path} (is {p['httpGet'].get('path')!r})", name)
            for f in ("periodSeconds", "timeoutSeconds", "failureThreshold"):
                if not isinstance(p.get(f), int):
                    bad(f"{probe}.{f} must be set", name)
            if (p.get("timeoutSeconds") or 0) > (p.get("periodSeconds") or 0):
                bad(f"{probe}.timeoutSeconds must not exceed periodSeconds", name)
        if service:
            want = f"foohut-{service}-config"
            refs = [e.get("configMapRef", {}).get("name") for e in ctr.get("envFrom") or []]
            if want not in refs:
                bad(f"envFrom must name ConfigMap {want}", name)


def main():
    files = []
    for arg in sys.argv[1:]:
        p = pathlib.Path(arg)
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    problems, pods = [], 0
    for f in files:
        for obj in yaml.safe_load_all(f.read_text()):
            found = obj and pod_templates(obj)
            if not found:
                continue
            pods += 1
            md = obj["metadata"]
            ns = md.get("namespace", "default")
            check_pod(*found, f"{f.name}: {obj['kind']}/{ns}/{md['name']}", (ns, md["name"]),
                      problems)
    for p in problems:
        print(f"VIOLATION {p}")
    print(f"check-pods: {pods} pod templates in {len(files)} files, {len(problems)} violations")
    sys.exit(1 if problems or not pods else 0)


if __name__ == "__main__":
    main()

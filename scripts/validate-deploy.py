#!/usr/bin/env python3
"""`npm run test:deploy`: checks deploy/ offline.

- `helm lint --strict` and `helm template` of deploy/helm/switchboard with its default values
  and with ci/values-scaled.yaml (another replica count, an existing Secret, the admin port);
- the chart refuses values it cannot work with (no database, a grace period shorter than the
  preStop pause plus a lease TTL, an exposed admin port without a token);
- deploy/kubernetes/*.yaml are the chart's defaults written out (`--write` regenerates them);
- every rendered object and every plain manifest validates, strictly (no unknown fields),
  against the Kubernetes schemas that the PyPI package kubernetes-validate ships, for the
  oldest Kubernetes the chart supports and the newest one the package knows;
- what Switchboard relies on holds in each of them: the node id from the pod name, the
  advertised address from the pod IP, the database URL from a Secret, the probes, the
  user function as a native sidecar, the shutdown budget, selectors that match the pods.

Needs helm on PATH (or HELM=<path>) and `pip install kubernetes-validate` (.ci/run does both).
"""
import os
import re
import subprocess
import sys

import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "deploy", "helm", "switchboard")
PLAIN = os.path.join(ROOT, "deploy", "kubernetes")
HELM = os.environ.get("HELM", "helm")
RELEASE = "switchboard"
# The chart runs the user function as a native sidecar, on by default since Kubernetes 1.29.
KUBE_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
PLAIN_HEADER = """# Switchboard on Kubernetes without Helm: the defaults of deploy/helm/switchboard written out
# (regenerate with `python3 scripts/validate-deploy.py --write`; CI checks that they match).
# Create the Secret first: kubectl create secret generic switchboard-database --from-literal=DATABASE_URL=postgres://...
"""
HELM_LABEL = re.compile(r"^\s*(app\.kubernetes\.io/managed-by: Helm|helm\.sh/chart: .*)\n", re.M)

results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print(f"ok      {name}")
    else:
        results["failed"] += 1
        print(f"FAILED  {name}{': ' + detail if detail else ''}")
    return ok


def helm(*args):
    try:
        return subprocess.run([HELM, *args], cwd=ROOT, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit(f"helm not found (HELM={HELM}); install it: GOFLAGS=-mod=mod go install helm.sh/helm/v4/cmd/helm@v4.3.2")


def render(*args):
    result = helm("template", RELEASE, CHART, *args)
    if result.returncode != 0:
        check(f"helm template {' '.join(args) or '(default values)'}", False, result.stderr.strip())
        return None
    check(f"helm template {' '.join(args) or '(default values)'}", True)
    return result.stdout


def plain_from_chart(rendered):
    """Splits `helm template` output by template file and drops Helm's own labels."""
    files = {}
    for part in re.split(r"^---\n", rendered, flags=re.M):
        match = re.match(r"# Source: switchboard/templates/([\w.-]+)\n", part)
        if not match or not part[match.end():].strip():
            continue
        body = HELM_LABEL.sub("", part[match.end():]).rstrip() + "\n"
        name = match.group(1)
        files[name] = files[name] + "---\n" + body if name in files else PLAIN_HEADER + body
    return files


def resources(text):
    return [doc for doc in yaml.safe_load_all(text) if doc]


def schema_check(label, objects):
    for version in KUBE_VERSIONS:
        for obj in objects:
            name = f"{label}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')} against Kubernetes {version} (strict)"
            try:
                kubernetes_validate.validate(obj, version, strict=True)
                check(name, True)
            except kubernetes_validate.ValidationError as e:
                check(name, False, f"{'.'.join(str(p) for p in e.path)}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                # kubernetes-validate's CLI only warns here; an unknown kind or apiVersion is an error for us.
                check(name, False, e.message)


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def port_of(container, name):
    return next((p["containerPort"] for p in container.get("ports", []) if p.get("name") == name), None)


def subset(labels, of):
    return bool(labels) and all(of.get(k) == v for k, v in labels.items())


def contract_check(label, objects, replicas):
    """What Switchboard relies on, whatever the values."""
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    if not check(f"{label}: one Deployment", len(deployments) == 1, f"found {len(deployments)}"):
        return
    deployment = deployments[0]
    check(f"{label}: {replicas} replicas", deployment["spec"].get("replicas") == replicas, f"found {deployment['spec'].get('replicas')}")
    pod = deployment["spec"]["template"]["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    check(f"{label}: the Deployment selects its pods", subset(deployment["spec"]["selector"].get("matchLabels", {}), pod_labels))
    proxy = next((c for c in pod.get("containers", []) if c["name"] == "switchboard"), None)
    uf = next((c for c in pod.get("initContainers", []) if c["name"] == "user-function"), None)
    if not check(f"{label}: a switchboard container and a user-function sidecar", proxy is not None and uf is not None):
        return
    check(f"{label}: the user function is a native sidecar (restartPolicy Always)", uf.get("restartPolicy") == "Always")
    env = env_of(proxy)
    field = lambda name: env.get(name, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    check(f"{label}: NODE_ID is the pod name", field("NODE_ID") == "metadata.name", str(env.get("NODE_ID")))
    check(f"{label}: ADVERTISE_HOST is the pod IP", field("ADVERTISE_HOST") == "status.podIP", str(env.get("ADVERTISE_HOST")))
    secret = env.get("DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
    check(f"{label}: DATABASE_URL comes from a Secret", bool(secret.get("name")) and bool(secret.get("key")), str(env.get("DATABASE_URL")))
    check(f"{label}: CLUSTER_PORT is the cluster port", env.get("CLUSTER_PORT", {}).get("value") == str(port_of(proxy, "cluster")))
    check(f"{label}: HTTP_PORT is the http port", env.get("HTTP_PORT", {}).get("value") == str(port_of(proxy, "http")))
    uf_port = env_of(uf).get("PORT", {}).get("value")
    check(f"{label}: USER_FUNCTION_PORT is the sidecar's PORT", uf_port is not None and env.get("USER_FUNCTION_PORT", {}).get("value") == uf_port)
    ready = proxy.get("readinessProbe", {}).get("httpGet", {})
    alive = proxy.get("livenessProbe", {}).get("httpGet", {})
    check(f"{label}: readiness probe GET /ready on the front port", ready.get("path") == "/ready" and ready.get("port") == "http")
    check(f"{label}: liveness probe GET /alive on the front port", alive.get("path") == "/alive" and alive.get("port") == "http")
    args = proxy.get("args", [])
    lease_ttl_ms = int(args[args.index("--lease-ttl") + 1]) if "--lease-ttl" in args else 5000
    command = proxy.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pause = int(command[1]) if len(command) == 2 and command[0] == "sleep" else None
    if check(f"{label}: a preStop pause before SIGTERM", pause is not None, str(command)):
        grace = pod.get("terminationGracePeriodSeconds", 30)
        check(
            f"{label}: grace period ({grace} s) > preStop pause ({pause} s) + lease TTL ({lease_ttl_ms} ms)",
            grace * 1000 > pause * 1000 + lease_ttl_ms,
        )
    for container in [proxy, uf]:
        requests = container.get("resources", {}).get("requests", {})
        check(f"{label}: {container['name']} requests cpu and memory", "cpu" in requests and "memory" in requests, str(requests))
    check(f"{label}: switchboard runs as non-root", proxy.get("securityContext", {}).get("runAsNonRoot") is True)

    services = [o for o in objects if o["kind"] == "Service"]
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    front = [s for s in services if s["spec"].get("clusterIP") != "None"]
    if check(f"{label}: a headless Service for the cluster port", len(headless) == 1):
        spec = headless[0]["spec"]
        check(f"{label}: the headless Service lists pods before they are ready", spec.get("publishNotReadyAddresses") is True)
        check(f"{label}: the headless Service targets the cluster port", any(p.get("targetPort") == "cluster" for p in spec.get("ports", [])))
        check(f"{label}: the headless Service selects the pods", subset(spec.get("selector", {}), pod_labels))
    if check(f"{label}: a client Service for the front port", len(front) == 1):
        spec = front[0]["spec"]
        check(f"{label}: the client Service targets the front port", any(p.get("targetPort") == "http" for p in spec.get("ports", [])))
        check(f"{label}: the client Service selects the pods", subset(spec.get("selector", {}), pod_labels))
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    if check(f"{label}: a PodDisruptionBudget", len(pdbs) == 1):
        check(f"{label}: the PodDisruptionBudget selects the pods", subset(pdbs[0]["spec"]["selector"].get("matchLabels", {}), pod_labels))


def refused(args, expected):
    result = helm("template", RELEASE, CHART, *args)
    check(
        f"the chart refuses {' '.join(args)}",
        result.returncode != 0 and expected in result.stderr,
        f"exit {result.returncode}, stderr: {result.stderr.strip() or '(empty)'}",
    )


def main():
    write = "--write" in sys.argv[1:]
    lint = helm("lint", "--strict", CHART)
    check("helm lint --strict", lint.returncode == 0, lint.stdout + lint.stderr)
    default = render()
    if default is None:
        return
    expected = plain_from_chart(default)
    if write:
        for name in os.listdir(PLAIN) if os.path.isdir(PLAIN) else []:
            if name.endswith(".yaml") and name not in expected:
                os.remove(os.path.join(PLAIN, name))
        os.makedirs(PLAIN, exist_ok=True)
        for name, text in expected.items():
            with open(os.path.join(PLAIN, name), "w") as f:
                f.write(text)
        print(f"wrote {', '.join(sorted(expected))} to {os.path.relpath(PLAIN, ROOT)}")
        return
    scaled = render("-f", os.path.join(CHART, "ci", "values-scaled.yaml"))

    refused(["--set", "database.existingSecret="], "database.existingSecret")
    refused(["--set", "terminationGracePeriodSeconds=8"], "terminationGracePeriodSeconds")
    refused(["--set", "admin.expose=true"], "admin.tokenSecret")

    actual = sorted(n for n in os.listdir(PLAIN) if n.endswith(".yaml"))
    check(f"deploy/kubernetes holds {', '.join(sorted(expected))}", actual == sorted(expected), f"found {', '.join(actual)}")
    for name in sorted(expected):
        path = os.path.join(PLAIN, name)
        current = open(path).read() if os.path.exists(path) else ""
        check(
            f"deploy/kubernetes/{name} matches the chart's defaults",
            current == expected[name],
            "regenerate with `python3 scripts/validate-deploy.py --write` (or change the chart)",
        )

    plain = []
    for name in actual:
        try:
            plain += resources(open(os.path.join(PLAIN, name)).read())
        except yaml.YAMLError as e:
            check(f"deploy/kubernetes/{name} parses", False, str(e))
    for label, objects, replicas in [
        ("chart (default values)", resources(default), 3),
        ("chart (ci/values-scaled.yaml)", resources(scaled) if scaled else [], 5),
        ("deploy/kubernetes", plain, 3),
    ]:
        schema_check(label, objects)
        contract_check(label, objects, replicas)


if __name__ == "__main__":
    main()
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)

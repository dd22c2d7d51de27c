#!/usr/bin/env python3
"""Checks the opsy-ami-operator Helm chart with the real helm, kubectl and promtool.

Renders the chart with its defaults, with each controller alone and with every value set, then
checks what each render holds: which objects exist, that each controller's RBAC is exactly what
its code uses (no wildcard anywhere, Secrets only read by name and only in the watched namespaces
when they are named), that /metrics is protected by default (HTTPS, the token and access review
grants, the reader role and its bindings, the ServiceMonitor's scheme, token and TLS settings, the
serving certificate's Secret) and plain when asked, that each NetworkPolicy selects its
controller's pods and opens only what they use, that images, args and leader election are wired
from values, that the pods are locked down, and that the alert rules load in promtool and fire on
the series they are written for. Also keeps the chart's CRDs identical to the repository's.

Usage: check_chart.py --helm H --kubectl K --promtool P --repo REPO_ROOT --work DIR
Prints one line per check and closes with "N passed, N failed".
"""

import argparse
import filecmp
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

BUILDER = "packer-builder"
REFRESHER = "ami-refresher"

# What each controller does with the API, as its code uses it: (apiGroup, resource) -> verbs.
EXPECTED_RULES = {
    BUILDER: {
        ("ami.refresh.ops", "packerbuilders"): {"get", "list", "watch", "patch", "update"},
        ("ami.refresh.ops", "packerbuilders/status"): {"patch"},
        # Read-only, for status.followers: the refreshers whose builderRef names a builder.
        ("ami.refresh.ops", "amirefreshers"): {"get", "list", "watch"},
        ("batch", "jobs"): {"get", "list", "watch", "create", "delete"},
        ("", "pods"): {"list"},
        ("", "pods/log"): {"get"},
        ("", "secrets"): {"get"},
        ("", "serviceaccounts"): {"get"},
        ("events.k8s.io", "events"): {"create", "patch"},
    },
    REFRESHER: {
        ("ami.refresh.ops", "amirefreshers"): {"get", "list", "watch"},
        ("ami.refresh.ops", "amirefreshers/status"): {"patch"},
        # Read-only, for spec.builderRef: the builders the refreshers follow.
        ("ami.refresh.ops", "packerbuilders"): {"get", "list", "watch"},
        ("", "secrets"): {"get"},
        ("events.k8s.io", "events"): {"create", "patch"},
    },
}
LEASE_RULES = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}
# Secure metrics: the controller asks the API server who a scraper is and whether it may read.
METRICS_AUTH_RULES = {("authentication.k8s.io", "tokenreviews"): {"create"},
                      ("authorization.k8s.io", "subjectaccessreviews"): {"create"}}
METRICS_READER_RULES = [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
METRICS_SUFFIXES = ("-metrics-auth", "-metrics-reader")
CERT_PATH = "/etc/opsy/metrics-certs"
TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}

# The egress of a default NetworkPolicy, rule by rule: (ports, peers). DNS to kube-dns, the API
# server and AWS on any address, the EKS Pod Identity agent.
KUBE_DNS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
DEFAULT_EGRESS = [
    ([("UDP", 53), ("TCP", 53)], [KUBE_DNS]),
    ([("TCP", 443), ("TCP", 6443)], [{"ipBlock": {"cidr": "0.0.0.0/0"}}]),
    ([("TCP", 443)], [{"ipBlock": {"cidr": "0.0.0.0/0"}}]),
    ([("TCP", 80)], [{"ipBlock": {"cidr": "169.254.170.23/32"}}]),
]

from checks import RESULTS, check, expect, run  # noqa: E402


class Render:
    """One `helm template` output, parsed."""

    def __init__(self, text):
        self.text = text
        self.objects = [d for d in yaml.safe_load_all(text) if d]

    def kinds(self):
        return sorted(o["kind"] for o in self.objects)

    def of(self, kind, component=None):
        return [
            o for o in self.objects
            if o["kind"] == kind and (component is None or component_of(o) == component)
        ]

    def one(self, kind, component):
        found = self.of(kind, component)
        expect(len(found) == 1, f"expected one {kind} of {component}, found {len(found)}")
        return found[0]


def component_of(obj):
    return obj.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component")


def container(deploy):
    containers = deploy["spec"]["template"]["spec"]["containers"]
    expect(len(containers) == 1, f"{deploy['metadata']['name']}: {len(containers)} containers")
    return containers[0]


def flatten_rules(rules):
    """(apiGroup, resource) -> verbs over all rules; fails on wildcards and unknown fields."""
    out = {}
    for rule in rules:
        expect(set(rule) <= {"apiGroups", "resources", "verbs", "resourceNames"},
               f"unexpected rule fields {sorted(rule)}")
        expect(not rule.get("nonResourceURLs"), "nonResourceURLs granted")
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def no_wildcards(value, where):
    if isinstance(value, dict):
        for k, v in value.items():
            no_wildcards(k, where)
            no_wildcards(v, where)
    elif isinstance(value, list):
        for v in value:
            no_wildcards(v, where)
    elif isinstance(value, str):
        expect("*" not in value, f"wildcard {value!r} in {where}")


class Chart:
    def __init__(self, args):
        self.args = args
        self.chart = os.path.join(args.repo, "helm", "opsy-ami-operator")
        self.full_values = os.path.join(os.path.dirname(os.path.abspath(__file__)), "values-full.yaml")
        with open(self.full_values, encoding="utf-8") as f:
            self.full = yaml.safe_load(f)
        self.rendered = []  # every render, for the checks that must hold in all of them
        self.notes_chart = None

    def template(self, *extra, namespace="opsy-system"):
        out = run([self.args.helm, "template", "opsy", self.chart, "--namespace", namespace, *extra])
        path = os.path.join(self.args.work, f"render-{abs(hash(extra))}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(out)
        render = Render(out)
        render.path = path
        self.rendered.append(render)
        return render

    def notes(self, *extra):
        """NOTES.txt as `helm install` prints it. `helm template` skips NOTES.txt and `helm install
        --dry-run` needs a cluster, so a fresh copy of the chart renders the same text through tpl."""
        if self.notes_chart is None:
            self.notes_chart = os.path.join(self.args.work, "notes-chart")
            shutil.rmtree(self.notes_chart, ignore_errors=True)
            shutil.copytree(self.chart, self.notes_chart)
            shutil.copy(os.path.join(self.chart, "templates", "NOTES.txt"),
                        os.path.join(self.notes_chart, "notes-under-test.txt"))
            with open(os.path.join(self.notes_chart, "templates", "notes-under-test.yaml"), "w",
                      encoding="utf-8") as f:
                f.write('notes: {{ tpl (.Files.Get "notes-under-test.txt") . | toJson }}\n')
        out = run([self.args.helm, "template", "opsy", self.notes_chart, "--namespace", "opsy-system",
                   "--show-only", "templates/notes-under-test.yaml", *extra])
        return yaml.safe_load(out)["notes"]


def secret_verbs(role):
    """The verbs a Role or ClusterRole grants on core Secrets, through wildcards too."""
    verbs = set()
    for rule in role.get("rules") or []:
        if set(rule.get("apiGroups", [])) & {"", "*"} and set(rule.get("resources", [])) & {"secrets", "*"}:
            verbs.update(rule.get("verbs", []))
    return verbs


def selector_shape(selector, where):
    expect(isinstance(selector, dict) and set(selector) <= {"matchLabels", "matchExpressions"},
           f"{where}: selector {selector}")
    for k, v in (selector.get("matchLabels") or {}).items():
        expect(isinstance(k, str) and isinstance(v, str), f"{where}: label {k}={v!r}")


def network_policy_shape(np):
    """What the API server checks on a NetworkPolicy; offline, kubectl only decodes the object."""
    name = np["metadata"]["name"]
    spec = np["spec"]
    expect(set(spec) <= {"podSelector", "policyTypes", "ingress", "egress"}, f"{name}: spec {sorted(spec)}")
    selector_shape(spec["podSelector"], f"{name} podSelector")
    expect(set(spec.get("policyTypes", [])) <= {"Ingress", "Egress"}, f"{name}: {spec['policyTypes']}")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            where = f"{name} {direction}[{i}]"
            expect(isinstance(rule, dict) and set(rule) <= {"ports", peers}, f"{where}: {rule}")
            for port in rule.get("ports") or []:
                expect(set(port) <= {"protocol", "port", "endPort"}
                       and port.get("protocol", "TCP") in {"TCP", "UDP", "SCTP"}, f"{where}: port {port}")
                p = port.get("port")
                expect(p is None or (isinstance(p, str) and p)
                       or (isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535),
                       f"{where}: port {p!r}")
            for peer in rule.get(peers) or []:
                expect(isinstance(peer, dict) and peer
                       and set(peer) <= {"podSelector", "namespaceSelector", "ipBlock"},
                       f"{where}: peer {peer}")
                if "ipBlock" in peer:
                    expect(len(peer) == 1, f"{where}: ipBlock beside a selector in {peer}")
                    for cidr in [peer["ipBlock"]["cidr"], *peer["ipBlock"].get("except", [])]:
                        try:
                            ipaddress.ip_network(cidr, strict=False)
                        except (TypeError, ValueError) as e:
                            raise AssertionError(f"{where}: CIDR {cidr!r}: {e}") from None
                for key in ("podSelector", "namespaceSelector"):
                    if key in peer:
                        selector_shape(peer[key], where)


def network_policy_checks(render, component):
    """The controller's policy selects its pods, no others, and admits its metrics and health ports."""
    np = render.one("NetworkPolicy", component)
    network_policy_shape(np)
    deploy = render.one("Deployment", component)
    selector = np["spec"]["podSelector"]
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    expect(set(selector) == {"matchLabels"}
           and selector["matchLabels"] == deploy["spec"]["selector"]["matchLabels"]
           and selector["matchLabels"].items() <= pod_labels.items(),
           f"{component}: podSelector {selector} vs pod labels {pod_labels}")
    for other in render.of("Deployment"):
        if component_of(other) != component:
            other_labels = other["spec"]["template"]["metadata"]["labels"]
            expect(not selector["matchLabels"].items() <= other_labels.items(),
                   f"{component}: policy also selects {other['metadata']['name']}")
    expect(np["spec"]["policyTypes"] == ["Ingress", "Egress"], f"{component}: {np['spec']['policyTypes']}")
    ports = {p["name"]: p["containerPort"] for p in container(deploy)["ports"]}
    opened = [[(p["protocol"], p["port"]) for p in r["ports"]] for r in np["spec"]["ingress"][:2]]
    expect(opened == [[("TCP", ports["metrics"])], [("TCP", ports["health"])]],
           f"{component}: ingress {opened}, container ports {ports}")
    return np


def egress_of(np):
    return [([(p["protocol"], p["port"]) for p in r["ports"]], r.get("to")) for r in np["spec"]["egress"]]


def is_metrics_rbac(obj):
    return obj["metadata"]["name"].endswith(METRICS_SUFFIXES)


def reader_subject(reader):
    if reader["kind"] == "ServiceAccount":
        return {"kind": "ServiceAccount", "name": reader["name"], "namespace": reader["namespace"]}
    return {"kind": reader["kind"], "name": reader["name"], "apiGroup": "rbac.authorization.k8s.io"}


def metrics_rbac_checks(render, component, namespace, sa_name, secure=True, readers=None):
    """The metrics-auth ClusterRole and binding exactly when secure; the metrics-reader ClusterRole
    always, bound only to the readers listed."""
    prefix = render.one("Deployment", component)["metadata"]["name"]
    named = {(o["kind"], o["metadata"]["name"]): o
             for kind in RBAC_KINDS for o in render.of(kind, component) if is_metrics_rbac(o)}
    want = {("ClusterRole", f"{prefix}-metrics-reader")}
    if secure:
        want |= {("ClusterRole", f"{prefix}-metrics-auth"), ("ClusterRoleBinding", f"{prefix}-metrics-auth")}
    if readers:
        want.add(("ClusterRoleBinding", f"{prefix}-metrics-reader"))
    expect(set(named) == want, f"{component}: metrics RBAC {sorted(named)} != {sorted(want)}")
    expect(len(named) == sum(len([o for o in render.of(k, component) if is_metrics_rbac(o)])
                             for k in RBAC_KINDS), f"{component}: metrics RBAC named twice")
    reader = named[("ClusterRole", f"{prefix}-metrics-reader")]
    expect(reader["rules"] == METRICS_READER_RULES, f"{component}: reader rules {reader['rules']}")

    def bound(role, subjects):
        binding = named[("ClusterRoleBinding", role)]
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
        expect(binding["roleRef"] == ref, f"{component}: {role} binds {binding['roleRef']}")
        expect(binding["subjects"] == subjects, f"{component}: {role} subjects {binding['subjects']}")
    if secure:
        auth = named[("ClusterRole", f"{prefix}-metrics-auth")]
        expect(flatten_rules(auth["rules"]) == METRICS_AUTH_RULES,
               f"{component}: auth rules {auth['rules']}")
        bound(f"{prefix}-metrics-auth",
              [{"kind": "ServiceAccount", "name": sa_name, "namespace": namespace}])
    if readers:
        bound(f"{prefix}-metrics-reader", [reader_subject(r) for r in readers])


def rbac_checks(render, component, namespace, lease_namespace=None, lease_id=None,
                watch_namespaces=None, sa_name=None, extra_rules=None, secure=True, readers=None):
    """The controller's grants equal EXPECTED_RULES (plus leases when it elects a leader), and its
    metrics grants those of metrics_rbac_checks."""
    metrics_rbac_checks(render, component, namespace, sa_name, secure=secure, readers=readers)
    expected = {**EXPECTED_RULES[component], **(extra_rules or {})}
    roles = [o for o in render.of("ClusterRole", component) + render.of("Role", component)
             if not is_metrics_rbac(o)]
    main = [r for r in roles if not r["metadata"]["name"].endswith("-leader-election")]
    lease = [r for r in roles if r["metadata"]["name"].endswith("-leader-election")]
    if watch_namespaces:
        expect(not [r for r in roles if r["kind"] == "ClusterRole"],
               f"{component}: ClusterRole with namespaces")
        expect(sorted(r["metadata"]["namespace"] for r in main) == sorted(watch_namespaces),
               f"{component}: Roles in {[r['metadata'].get('namespace') for r in main]}")
    else:
        expect(len(main) == 1 and main[0]["kind"] == "ClusterRole",
               f"{component}: expected one ClusterRole, got {[r['kind'] for r in main]}")
    for role in main:
        got = flatten_rules(role["rules"])
        expect(got == expected, f"{component} {role['kind']} rules {got} != {expected}")
    if lease_namespace is None:
        expect(not lease, f"{component}: lease Role without leader election")
    else:
        expect(len(lease) == 1 and lease[0]["kind"] == "Role", f"{component}: lease grant {lease}")
        role = lease[0]
        expect(role["metadata"]["namespace"] == lease_namespace,
               f"{component}: lease Role in {role['metadata']['namespace']}")
        expect(flatten_rules(role["rules"]) == LEASE_RULES, f"{component}: lease rules {role['rules']}")
        for rule in role["rules"]:
            if set(rule["verbs"]) & {"get", "update"}:
                expect(rule.get("resourceNames") == [lease_id],
                       f"{component}: get/update not limited to {lease_id}: {rule}")
    # Every binding of this controller binds its ServiceAccount to one of its roles.
    role_names = {(r["kind"], r["metadata"]["name"]) for r in roles}
    bindings = [b for b in render.of("ClusterRoleBinding", component) + render.of("RoleBinding", component)
                if not is_metrics_rbac(b)]
    expect(len(bindings) == len(roles), f"{component}: {len(bindings)} bindings, {len(roles)} roles")
    for b in bindings:
        expect((b["roleRef"]["kind"], b["roleRef"]["name"]) in role_names,
               f"{component}: binding to unknown {b['roleRef']}")
        expect(b["subjects"] == [{"kind": "ServiceAccount", "name": sa_name, "namespace": namespace}],
               f"{component}: binding subjects {b['subjects']}")
    for o in render.objects:
        if o["kind"] in RBAC_KINDS:
            no_wildcards(o, f"{o['kind']}/{o['metadata']['name']}")


def deployment_checks(render, component, image, args, replicas, sa_name):
    deploy = render.one("Deployment", component)
    c = container(deploy)
    pod = deploy["spec"]["template"]["spec"]
    expect(deploy["spec"]["replicas"] == replicas, f"{component}: replicas {deploy['spec']['replicas']}")
    expect(c["image"] == image, f"{component}: image {c['image']} != {image}")
    expect(c["args"] == args, f"{component}: args\n  {c['args']}\n!=\n  {args}")
    expect(pod["serviceAccountName"] == sa_name, f"{component}: serviceAccountName {pod['serviceAccountName']}")
    env = {e["name"]: e for e in c["env"]}
    expect(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", "POD_NAME")
    expect(env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace",
           "POD_NAMESPACE")
    sc = c["securityContext"]
    expect(sc["allowPrivilegeEscalation"] is False, f"{component}: privilege escalation")
    expect(sc["readOnlyRootFilesystem"] is True, f"{component}: writable root")
    expect(sc["runAsNonRoot"] is True and pod["securityContext"]["runAsNonRoot"] is True,
           f"{component}: may run as root")
    expect(sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"),
           f"{component}: capabilities {sc['capabilities']}")
    expect(sc["seccompProfile"]["type"] == "RuntimeDefault"
           and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault",
           f"{component}: seccomp")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    expect(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}, "liveness")
    expect(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}, "readiness")
    expect(f"--health-probe-bind-address=:{ports['health']}" in c["args"], "health port wiring")
    expect(f"--metrics-bind-address=:{ports['metrics']}" in c["args"], "metrics port wiring")
    expect(ports["metrics"] != ports["health"], f"{component}: metrics and probes share {ports['health']}")
    secure = [a for a in c["args"] if a.startswith("--metrics-secure=")]
    expect(secure in (["--metrics-secure=true"], ["--metrics-secure=false"]), f"{component}: {secure}")
    cert_args = [a for a in c["args"] if a.startswith("--metrics-cert-")]
    cert_mounts = [m for m in c["volumeMounts"] if m["name"] == "metrics-certs"]
    cert_volumes = [v for v in pod["volumes"] if v["name"] == "metrics-certs"]
    if cert_args:
        expect(secure == ["--metrics-secure=true"],
               f"{component}: certificate flags without --metrics-secure")
        expect(cert_args == [f"--metrics-cert-path={CERT_PATH}", "--metrics-cert-name=tls.crt",
                             "--metrics-cert-key=tls.key"], f"{component}: certificate flags {cert_args}")
        expect(cert_mounts == [{"name": "metrics-certs", "mountPath": CERT_PATH, "readOnly": True}],
               f"{component}: certificate mount {cert_mounts}")
        expect(len(cert_volumes) == 1 and set(cert_volumes[0]) == {"name", "secret"}
               and cert_volumes[0]["secret"]["items"] == [{"key": "tls.crt", "path": "tls.crt"},
                                                          {"key": "tls.key", "path": "tls.key"}],
               f"{component}: certificate volume {cert_volumes}")
    else:
        expect(not cert_mounts and not cert_volumes, f"{component}: certificate volume without its flags")
    expect(c["resources"].get("requests"), f"{component}: no resource requests")
    leader = "--leader-elect" in c["args"]
    expect(deploy["spec"]["strategy"]["type"] == ("RollingUpdate" if leader else "Recreate"),
           f"{component}: strategy {deploy['spec']['strategy']} with leader election {leader}")
    return deploy


def cert_secret_of(deploy):
    volumes = [v for v in deploy["spec"]["template"]["spec"]["volumes"] if v["name"] == "metrics-certs"]
    return volumes[0]["secret"]["secretName"] if volumes else None


def default_args(component, leader_namespace=None):
    args = ["--metrics-bind-address=:8443", "--metrics-secure=true", "--health-probe-bind-address=:8081"]
    if leader_namespace:
        args += ["--leader-elect", f"--leader-election-namespace={leader_namespace}",
                 f"--leader-election-id={component}.ami.refresh.ops"]
    args += ["--workers=2", "--log-format=json", "--log-level=info"]
    if component == BUILDER:
        args += ["--allowed-packer-images=hashicorp/packer[:@]*",
                 "--allowed-git-sync-images=registry.k8s.io/git-sync/git-sync[:@]*",
                 "--allowed-build-service-accounts=*/default"]
    return args


def service_checks(render, component, port):
    svc = render.one("Service", component)
    deploy = render.one("Deployment", component)
    expect(svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"],
           f"{component}: Service selector {svc['spec']['selector']}")
    expect(svc["spec"]["ports"] == [{"name": "metrics", "port": port, "targetPort": "metrics",
                                     "protocol": "TCP"}], f"{component}: ports {svc['spec']['ports']}")
    pdb = render.one("PodDisruptionBudget", component)
    expect(pdb["spec"]["selector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"],
           f"{component}: PDB selector")


def rule_groups_file(render, work, name, annotations=True):
    """The PrometheusRules' groups as one promtool rule file (unit tests compare labels only)."""
    groups = [g for r in render.of("PrometheusRule") for g in r["spec"]["groups"]]
    if not annotations:
        for g in groups:
            for r in g["rules"]:
                r.pop("annotations", None)
    path = os.path.join(work, f"{name}-rules.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)
    return path, groups


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--helm", "--kubectl", "--promtool", "--repo", "--work"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    args.work = os.path.abspath(args.work)
    os.makedirs(args.work, exist_ok=True)
    chart = Chart(args)
    ns = "opsy-system"
    full = chart.full
    renders = {}

    def lint():
        run([args.helm, "lint", "--strict", chart.chart])
        run([args.helm, "lint", "--strict", chart.chart, "-f", chart.full_values])
    check("helm lint (defaults and every value set)", lint)

    def render_all():
        renders["defaults"] = chart.template()
        renders["builder"] = chart.template("--set", "amiRefresher.enabled=false")
        renders["refresher"] = chart.template("--set", "packerBuilder.enabled=false")
        renders["full"] = chart.template("-f", chart.full_values)
        renders["replicas2"] = chart.template("--set", "packerBuilder.replicaCount=2",
                                              "--set", "amiRefresher.replicaCount=2")
        renders["none"] = chart.template("--set", "packerBuilder.enabled=false",
                                         "--set", "amiRefresher.enabled=false")
    check("helm template renders every values set", render_all)
    if len(renders) != 6:
        print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
        return 1

    # ClusterRoles: the controller's, metrics-auth and metrics-reader; bindings of the first two.
    per_controller = ["Deployment", "PodDisruptionBudget", "Service", "ServiceAccount",
                      "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding",
                      "ClusterRoleBinding", "NetworkPolicy"]

    def kinds_defaults():
        got = renders["defaults"].kinds()
        expect(got == sorted(per_controller * 2), f"default kinds {got}")
        for comp in (BUILDER, REFRESHER):
            for kind in set(per_controller):
                found = renders["defaults"].of(kind, comp)
                expect(len(found) == per_controller.count(kind), f"{comp}: {len(found)} {kind}")
    check("defaults render both controllers and no optional objects", kinds_defaults)

    # Each controller reads the other's kind (AMIRefresher spec.builderRef, PackerBuilder
    # status.followers): a get/list/watch rule on it is the one mention a single-controller render
    # may hold.
    def mentions(render, word):
        for o in render.objects:
            o = json.loads(json.dumps(o))
            if o["kind"] in ("ClusterRole", "Role"):
                for rule in o.get("rules") or []:
                    if any(word in r.lower() for r in rule.get("resources", [])):
                        expect(set(rule.get("verbs", [])) <= {"get", "list", "watch"},
                               f"{o['metadata']['name']} grants {rule.get('verbs')} on {word}")
                        rule["resources"] = [r for r in rule["resources"] if word not in r.lower()]
            if word in json.dumps(o).lower():
                return True
        return False

    def only(render_name, present, absent, absent_words):
        render = renders[render_name]
        got = render.kinds()
        expect(got == sorted(per_controller), f"{render_name} kinds {got}")
        for o in render.objects:
            expect(component_of(o) == present, f"{o['kind']}/{o['metadata']['name']} of {component_of(o)}")
        for word in absent_words:
            expect(not mentions(render, word), f"{render_name} render mentions {word}")
    check("builder-only render holds nothing of the refresher",
          lambda: only("builder", BUILDER, REFRESHER, ["ami-refresh", "amirefresher"]))
    check("refresher-only render holds nothing of the builder",
          lambda: only("refresher", REFRESHER, BUILDER, ["packer-builder", "packerbuilder"]))

    def only_full(present, absent_set, absent_words):
        render = chart.template("-f", chart.full_values, "--set", f"{absent_set}.enabled=false")
        for o in render.objects:
            expect(component_of(o) in (present, None),
                   f"{o['kind']}/{o['metadata']['name']} of {component_of(o)}")
        for word in absent_words:
            expect(not mentions(render, word), f"every-value {present} render mentions {word}")
        expect(render.of("PrometheusRule", present) and render.of("ServiceMonitor", present),
               f"{present}: monitoring objects missing")
    check("every-value builder-only render holds nothing of the refresher",
          lambda: only_full(BUILDER, "amiRefresher", ["ami-refresh", "amirefresher"]))
    check("every-value refresher-only render holds nothing of the builder",
          lambda: only_full(REFRESHER, "packerBuilder", ["packer-builder", "packerbuilder"]))

    def ksm_feeds_rules():
        render = renders["full"]
        ksm = yaml.safe_load(render.of("ConfigMap")[0]["data"]["custom-resource-state.yaml"])
        produced = {f"{r['metricNamePrefix']}_{m['name']}"
                    for r in ksm["spec"]["resources"] for m in r["metrics"]}
        used = set()
        for rule in render.of("PrometheusRule"):
            for g in rule["spec"]["groups"]:
                for r in g["rules"]:
                    used.update(re.findall(r"opsy_(?:packerbuilder|amirefresher)_[a-z_]+", r["expr"]))
        expect(used and used <= produced, f"rules read {sorted(used - produced)} that nothing exports")
    check("kube-state-metrics config exports every status series the alerts read", ksm_feeds_rules)

    def none():
        expect(renders["none"].objects == [], f"objects with both off: {renders['none'].kinds()}")
    check("both controllers off renders nothing", none)

    def full_kinds():
        render = renders["full"]
        for comp in (BUILDER, REFRESHER):
            for kind in ("Deployment", "PodDisruptionBudget", "Service", "ServiceAccount",
                         "ServiceMonitor", "PrometheusRule"):
                render.one(kind, comp)
        cms = render.of("ConfigMap")
        expect(len(cms) == 1, f"ConfigMaps {len(cms)}")
        ksm = yaml.safe_load(cms[0]["data"]["custom-resource-state.yaml"])
        kinds = [r["groupVersionKind"]["kind"] for r in ksm["spec"]["resources"]]
        expect(kinds == ["PackerBuilder", "AMIRefresher"], f"kube-state-metrics kinds {kinds}")
        for o in render.objects:
            expect(o["metadata"]["labels"].get("team") == "platform", f"commonLabels on {o['kind']}")
    check("every-value render holds every optional object", full_kinds)

    check("RBAC of defaults: exact per controller, cluster-wide, no leases, no wildcards", lambda: [
        rbac_checks(renders["defaults"], BUILDER, ns, sa_name=f"opsy-opsy-ami-operator-{BUILDER}"),
        rbac_checks(renders["defaults"], REFRESHER, ns, sa_name=f"opsy-opsy-ami-operator-{REFRESHER}")])
    check("RBAC with 2 replicas: a lease Role in the release namespace", lambda: [
        rbac_checks(renders["replicas2"], comp, ns, lease_namespace=ns,
                    lease_id=f"{comp}.ami.refresh.ops", sa_name=f"opsy-opsy-ami-operator-{comp}")
        for comp in (BUILDER, REFRESHER)])
    check("RBAC of every-value render: Roles per watched namespace, lease Role where asked", lambda: [
        rbac_checks(renders["full"], BUILDER, ns, lease_namespace="opsy-leases", lease_id="pb-lease",
                    watch_namespaces=["team-a", "team-b"], sa_name="pb-sa",
                    extra_rules={("ami.refresh.ops", "packerbuilders/finalizers"): {"update"}},
                    readers=full["packerBuilder"]["metrics"]["readers"]),
        rbac_checks(renders["full"], REFRESHER, ns, lease_namespace=ns,
                    lease_id=f"{REFRESHER}.ami.refresh.ops", sa_name=f"opsy-full-{REFRESHER}",
                    secure=False, readers=full["amiRefresher"]["metrics"]["readers"])])

    def rbac_namespaced_secrets():
        render = chart.template("--set", "packerBuilder.watchNamespaces={team-a,team-b}",
                                "--set", "amiRefresher.watchNamespaces={team-a,team-b}")
        for role in render.of("ClusterRole"):
            expect(not secret_verbs(role),
                   f"ClusterRole/{role['metadata']['name']} grants {secret_verbs(role)} on secrets")
        for comp in (BUILDER, REFRESHER):
            rbac_checks(render, comp, ns, watch_namespaces=["team-a", "team-b"],
                        sa_name=f"opsy-opsy-ami-operator-{comp}")
            for want in ("team-a", "team-b"):
                roles = [r for r in render.of("Role", comp) if r["metadata"]["namespace"] == want]
                expect(len(roles) == 1, f"{comp}: {len(roles)} Roles in {want}")
                expect(secret_verbs(roles[0]) == {"get"},
                       f"{comp}: Role in {want} grants {secret_verbs(roles[0])} on secrets")
    check("RBAC with watchNamespaces on both: Secrets get in those namespaces only, ClusterRoles only "
          "for metrics", rbac_namespaced_secrets)

    def notes_cluster_wide_secrets():
        line = "{} watches all namespaces: it may read Secrets (get, by name) cluster-wide"
        notes = chart.notes()
        for comp in (BUILDER, REFRESHER):
            expect(line.format(comp) in notes, f"defaults: no warning for {comp} in\n{notes}")
        notes = chart.notes("--set", "packerBuilder.watchNamespaces={team-a}",
                            "--set", "amiRefresher.rbac.create=false")
        for comp in (BUILDER, REFRESHER):
            expect(line.format(comp) not in notes, f"warning for {comp} that reads no Secret cluster-wide")
    check("NOTES warn of cluster-wide Secret reads exactly when watchNamespaces is empty",
          notes_cluster_wide_secrets)

    def netpol_defaults():
        for comp in (BUILDER, REFRESHER):
            np = network_policy_checks(renders["defaults"], comp)
            expect(len(np["spec"]["ingress"]) == 2 and not any("from" in r for r in np["spec"]["ingress"]),
                   f"{comp}: default ingress {np['spec']['ingress']}")
            expect(egress_of(np) == DEFAULT_EGRESS, f"{comp}: default egress {egress_of(np)}")
        network_policy_checks(renders["builder"], BUILDER)
        network_policy_checks(renders["refresher"], REFRESHER)
        expect(not renders["builder"].of("NetworkPolicy", REFRESHER)
               and not renders["refresher"].of("NetworkPolicy", BUILDER), "policy of a disabled controller")
        for key, comp, other in (("packerBuilder", BUILDER, REFRESHER), ("amiRefresher", REFRESHER, BUILDER)):
            render = chart.template("--set", f"{key}.networkPolicy.enabled=false")
            expect(not render.of("NetworkPolicy", comp), f"{comp}: policy with networkPolicy.enabled=false")
            network_policy_checks(render, other)
    check("NetworkPolicy per enabled controller by default, selecting its pods; gone when disabled",
          netpol_defaults)

    def netpol_full():
        render = renders["full"]
        pb = full["packerBuilder"]["networkPolicy"]
        np = network_policy_checks(render, BUILDER)
        expect(np["spec"]["ingress"] == [
            {"ports": [{"protocol": "TCP", "port": 9090}], "from": pb["metricsFrom"]},
            {"ports": [{"protocol": "TCP", "port": 9091}], "from": pb["healthFrom"]},
            *pb["extraIngress"]], f"ingress {np['spec']['ingress']}")

        def blocks(cidrs):
            return [{"ipBlock": {"cidr": c}} for c in cidrs]
        expect(np["spec"]["egress"] == [
            {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}], "to": pb["dnsTo"]},
            {"ports": [{"protocol": "TCP", "port": 443}], "to": blocks(pb["apiServerCIDRs"])},
            {"ports": [{"protocol": "TCP", "port": 443}], "to": blocks(pb["egressCIDRs"])},
            *pb["extraEgress"]], f"egress (no Pod Identity rule) {np['spec']['egress']}")
        expect(not render.of("NetworkPolicy", REFRESHER), "refresher policy with networkPolicy.enabled=false")
        # Empty lists open the rule to any address; IPv6 CIDRs render as strings.
        np = network_policy_checks(chart.template(
            "--set-json", 'packerBuilder.networkPolicy.dnsTo=[]',
            "--set-json", 'packerBuilder.networkPolicy.apiServerCIDRs=[]',
            "--set-json", 'packerBuilder.networkPolicy.egressCIDRs=["::/0"]'), BUILDER)
        expect(egress_of(np)[:3] == [([("UDP", 53), ("TCP", 53)], None),
                                     ([("TCP", 443), ("TCP", 6443)], None),
                                     ([("TCP", 443)], [{"ipBlock": {"cidr": "::/0"}}])],
               f"egress with empty lists {egress_of(np)}")
    check("every-value render wires each networkPolicy value", netpol_full)

    def deploy_defaults():
        for comp, repo in ((BUILDER, "packer-builder-controller"), (REFRESHER, "ami-refresh-controller")):
            deployment_checks(renders["defaults"], comp, f"ghcr.io/opsy-ami-operator/{repo}:0.1.0",
                              default_args(comp), 1, f"opsy-opsy-ami-operator-{comp}")
            service_checks(renders["defaults"], comp, 8443)
            pdb = renders["defaults"].one("PodDisruptionBudget", comp)
            expect(pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]},
                   f"single-replica PDB {pdb['spec']}")
    check("defaults: images, args, env, probes, security, no leader election", deploy_defaults)

    def deploy_replicas2():
        for comp in (BUILDER, REFRESHER):
            d = deployment_checks(renders["replicas2"], comp, renders["defaults"].one(
                "Deployment", comp)["spec"]["template"]["spec"]["containers"][0]["image"],
                default_args(comp, leader_namespace=ns), 2, f"opsy-opsy-ami-operator-{comp}")
            pdb = renders["replicas2"].one("PodDisruptionBudget", comp)
            expect(pdb["spec"].get("minAvailable") == 1, f"{comp}: PDB {pdb['spec']}")
            expect(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, "rolling update")
    check("2 replicas turn leader election on", deploy_replicas2)

    def deploy_full():
        render = renders["full"]
        pb, ar = full["packerBuilder"], full["amiRefresher"]
        d = deployment_checks(render, BUILDER, f"{pb['image']['repository']}:{pb['image']['tag']}", [
            "--metrics-bind-address=:9090", "--metrics-secure=true", f"--metrics-cert-path={CERT_PATH}",
            "--metrics-cert-name=tls.crt", "--metrics-cert-key=tls.key",
            "--health-probe-bind-address=:9091", "--leader-elect",
            "--leader-election-namespace=opsy-leases", "--leader-election-id=pb-lease",
            "--namespace=team-a", "--namespace=team-b", "--workers=4", "--log-format=text",
            "--log-level=debug", "--aws-region=eu-west-1",
            "--allowed-packer-images=123456789012.dkr.ecr.*.amazonaws.com/packer[:@]*",
            "--allowed-packer-images=hashicorp/packer:1.11*",
            "--allowed-git-sync-images=registry.example.com/git-sync:*",
            "--allowed-build-service-accounts=", "--context=ignored"], 2, "pb-sa")
        c = container(d)
        pod = d["spec"]["template"]["spec"]
        expect(c["imagePullPolicy"] == "Always", "pullPolicy")
        expect(c["env"][2:] == pb["env"], f"env {c['env']}")
        expect(c["envFrom"] == pb["envFrom"], "envFrom")
        expect(c["resources"] == pb["resources"], "resources")
        for probe in ("livenessProbe", "readinessProbe"):
            got = {k: v for k, v in c[probe].items() if k != "httpGet"}
            expect(got == pb[probe], f"{probe} {got}")
        expect(pod["securityContext"] == pb["podSecurityContext"], "podSecurityContext")
        expect(c["securityContext"] == pb["securityContext"], "securityContext")
        for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints",
                    "priorityClassName", "terminationGracePeriodSeconds", "imagePullSecrets"):
            want = full[key] if key == "imagePullSecrets" else pb[key]
            expect(pod[key] == want, f"{key}: {pod.get(key)}")
        tmpl = d["spec"]["template"]["metadata"]
        expect(tmpl["annotations"] == pb["podAnnotations"], "podAnnotations")
        expect(tmpl["labels"]["example.com/tier"] == "control", "podLabels")
        sa = render.one("ServiceAccount", BUILDER)
        expect(sa["metadata"]["name"] == "pb-sa", "SA name")
        expect(sa["metadata"]["annotations"] == pb["serviceAccount"]["annotations"], "IRSA annotation")
        expect(sa["automountServiceAccountToken"] is False, "SA automount")
        expect(pod["automountServiceAccountToken"] is True, "the controller pod still mounts its token")
        svc = render.one("Service", BUILDER)
        expect(svc["metadata"]["annotations"] == pb["service"]["annotations"], "Service annotations")
        service_checks(render, BUILDER, 9090)
        deployment_checks(render, REFRESHER, f"{ar['image']['repository']}:{ar['image']['tag']}", [
            "--metrics-bind-address=:9290", "--metrics-secure=false", "--health-probe-bind-address=:9291",
            "--leader-elect", f"--leader-election-namespace={ns}",
            "--leader-election-id=ami-refresher.ami.refresh.ops",
            "--workers=3", "--log-format=json", "--log-level=warn", "--aws-region=us-east-2",
            "--notification-allowed-hosts=hooks.corp.internal",
            "--notification-allowed-hosts=10.20.0.0/16"],
            2, f"opsy-full-{REFRESHER}")
        service_checks(render, REFRESHER, 9290)
        for comp in (BUILDER, REFRESHER):
            sm = render.one("ServiceMonitor", comp)
            expect(sm["metadata"]["labels"]["release"] == "kube-prometheus-stack", "ServiceMonitor labels")
            svc_labels = render.one("Service", comp)["metadata"]["labels"]
            expect(svc_labels | sm["spec"]["selector"]["matchLabels"] == svc_labels,
                   "ServiceMonitor selects the Service")
            ep = sm["spec"]["endpoints"][0]
            expect(ep["port"] == "metrics" and ep["interval"] == "15s" and ep["scrapeTimeout"] == "5s",
                   f"endpoint {ep}")
            expect(ep["relabelings"] == full["serviceMonitor"]["relabelings"], "relabelings")
            expect(ep["metricRelabelings"] == full["serviceMonitor"]["metricRelabelings"], "metricRelabelings")
        expect(cert_secret_of(d) == pb["metrics"]["certSecret"], f"certSecret {cert_secret_of(d)}")
        expect(cert_secret_of(render.one("Deployment", REFRESHER)) is None,
               "certSecret mounted although the refresher's metrics are plain HTTP")
        ep = render.one("ServiceMonitor", BUILDER)["spec"]["endpoints"][0]
        expect(ep["scheme"] == "https" and ep["bearerTokenFile"] == TOKEN_FILE
               and ep["tlsConfig"] == {**full["serviceMonitor"]["tlsConfig"],
                                       "serverName": f"opsy-full-{BUILDER}-metrics.{ns}.svc"},
               f"builder endpoint {ep}")
        ep = render.one("ServiceMonitor", REFRESHER)["spec"]["endpoints"][0]
        expect(ep["scheme"] == "http" and "bearerTokenFile" not in ep and "tlsConfig" not in ep,
               f"plain HTTP refresher endpoint {ep}")
    check("every-value render wires each value", deploy_full)

    def metrics_secure_defaults():
        render = renders["defaults"]
        for comp in (BUILDER, REFRESHER):
            c = container(render.one("Deployment", comp))
            expect(c["args"][:3] == ["--metrics-bind-address=:8443", "--metrics-secure=true",
                                     "--health-probe-bind-address=:8081"], f"{comp}: args {c['args']}")
            expect(cert_secret_of(render.one("Deployment", comp)) is None, f"{comp}: certificate mounted")
            metrics_rbac_checks(render, comp, ns, f"opsy-opsy-ami-operator-{comp}")
        sm = chart.template("--set", "serviceMonitor.enabled=true")
        for comp in (BUILDER, REFRESHER):
            ep = sm.one("ServiceMonitor", comp)["spec"]["endpoints"][0]
            expect(ep["port"] == "metrics" and ep["path"] == "/metrics" and ep["scheme"] == "https"
                   and ep["bearerTokenFile"] == TOKEN_FILE
                   and ep["tlsConfig"] == {"insecureSkipVerify": True}, f"{comp}: endpoint {ep}")
    check("defaults: HTTPS metrics, metrics-auth bound, reader role unbound, ServiceMonitor with token",
          metrics_secure_defaults)

    def metrics_auth_namespaced():
        render = chart.template("--set", "packerBuilder.watchNamespaces={team-a}",
                                "--set", "amiRefresher.watchNamespaces={team-b}")
        for comp, watched in ((BUILDER, "team-a"), (REFRESHER, "team-b")):
            prefix = f"opsy-opsy-ami-operator-{comp}"
            rbac_checks(render, comp, ns, watch_namespaces=[watched], sa_name=prefix)
            names = sorted(r["metadata"]["name"] for r in render.of("ClusterRole", comp))
            expect(names == [f"{prefix}-metrics-auth", f"{prefix}-metrics-reader"],
                   f"{comp}: ClusterRoles {names}")
        off = chart.template("--set", "packerBuilder.rbac.create=false",
                             "--set", "amiRefresher.rbac.create=false")
        kinds = [o["kind"] for o in off.objects if o["kind"] in RBAC_KINDS]
        expect(not kinds, f"RBAC with rbac.create=false: {kinds}")
    check("metrics-auth ClusterRole and binding with watchNamespaces too; none with rbac.create=false",
          metrics_auth_namespaced)

    def metrics_readers():
        readers = [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"},
                   {"kind": "User", "name": "alice@example.com"}]
        render = chart.template("--set-json", f"packerBuilder.metrics.readers={json.dumps(readers)}")
        metrics_rbac_checks(render, BUILDER, ns, f"opsy-opsy-ami-operator-{BUILDER}", readers=readers)
        metrics_rbac_checks(render, REFRESHER, ns, f"opsy-opsy-ami-operator-{REFRESHER}")
        notes = chart.notes("--set-json", f"packerBuilder.metrics.readers={json.dumps(readers)}")
        expect("kubectl -n monitoring create token prometheus-k8s" in notes, f"no token command in\n{notes}")
        expect("bound to nobody yet: list Prometheus' ServiceAccount in amiRefresher.metrics.readers" in notes
               and "packerBuilder.metrics.readers" not in notes, f"reader hints in\n{notes}")
    check("metrics-reader ClusterRoleBinding only for the controller whose readers are set", metrics_readers)

    def metrics_cert_secret():
        render = chart.template("--set", "amiRefresher.metrics.certSecret=ar-metrics-tls")
        image = container(renders["defaults"].one("Deployment", REFRESHER))["image"]
        cert_args = [f"--metrics-cert-path={CERT_PATH}", "--metrics-cert-name=tls.crt",
                     "--metrics-cert-key=tls.key"]
        d = deployment_checks(render, REFRESHER, image,
                              default_args(REFRESHER)[:2] + cert_args + default_args(REFRESHER)[2:],
                              1, f"opsy-opsy-ami-operator-{REFRESHER}")
        expect(cert_secret_of(d) == "ar-metrics-tls", f"certSecret {cert_secret_of(d)}")
        expect(cert_secret_of(render.one("Deployment", BUILDER)) is None, "certSecret mounted in the builder")
        plain = chart.template("--set", "amiRefresher.metrics.certSecret=ar-metrics-tls",
                               "--set", "amiRefresher.metrics.secure=false")
        c = container(plain.one("Deployment", REFRESHER))
        expect(cert_secret_of(plain.one("Deployment", REFRESHER)) is None
               and not [a for a in c["args"] if a.startswith("--metrics-cert-")],
               f"certificate wired with secure=false: {c['args']}")
        # A tlsConfig that names its serverName keeps it.
        tls = {"ca": {"secret": {"name": "ar-metrics-tls", "key": "ca.crt"}}, "serverName": "metrics.example"}
        sm = chart.template("--set", "serviceMonitor.enabled=true",
                            "--set-json", f"serviceMonitor.tlsConfig={json.dumps(tls)}")
        ep = sm.one("ServiceMonitor", REFRESHER)["spec"]["endpoints"][0]
        expect(ep["tlsConfig"] == tls, f"tlsConfig as given {ep['tlsConfig']}")
    check("certSecret mounts the Secret read-only and passes the certificate flags; tlsConfig as given",
          metrics_cert_secret)

    def api_limits():
        render = chart.template("--set", "packerBuilder.apiLimits.watchIdleTimeout=1m30s",
                                "--set", "packerBuilder.apiLimits.watchMaxEventBytes=8388608",
                                "--set", "packerBuilder.apiLimits.maxResponseBytes=33554432")
        pb_args = container(render.one("Deployment", BUILDER))["args"]
        for flag in ("--watch-idle-timeout=1m30s", "--watch-max-event-bytes=8388608",
                     "--kube-max-response-bytes=33554432"):
            expect(flag in pb_args, f"{flag} not in {pb_args}")
        ar_args = container(render.one("Deployment", REFRESHER))["args"]
        expect(not [a for a in ar_args if a.startswith(("--watch-", "--kube-max"))],
               f"the refresher got the builder's limits: {ar_args}")
    check("apiLimits pass the watch and response limits, only to their controller (defaults: none)",
          api_limits)

    def metrics_plain():
        off = ["--set", "packerBuilder.metrics.secure=false", "--set", "amiRefresher.metrics.secure=false",
               "--set", "serviceMonitor.enabled=true"]
        render = chart.template(*off)
        for comp in (BUILDER, REFRESHER):
            c = container(render.one("Deployment", comp))
            expect("--metrics-secure=false" in c["args"] and "--metrics-secure=true" not in c["args"],
                   f"{comp}: args {c['args']}")
            rbac_checks(render, comp, ns, sa_name=f"opsy-opsy-ami-operator-{comp}", secure=False)
            ep = render.one("ServiceMonitor", comp)["spec"]["endpoints"][0]
            expect(ep["scheme"] == "http" and "bearerTokenFile" not in ep and "tlsConfig" not in ep,
                   f"{comp}: endpoint {ep}")
        expect(not [o for o in render.objects if o["metadata"]["name"].endswith("-metrics-auth")],
               "metrics-auth rendered with plain metrics")
        notes = chart.notes(*off)
        expect("plain HTTP without authentication (packerBuilder.metrics.secure=false)" in notes
               and "create token" not in notes and "https://" not in notes, f"plain notes\n{notes}")
        notes = chart.notes()
        for comp in (BUILDER, REFRESHER):
            url = f"https://opsy-opsy-ami-operator-{comp}-metrics.{ns}.svc:8443/metrics"
            expect(f"{comp} metrics: {url}" in notes, f"{comp}: no https URL in\n{notes}")
    check("secure=false: plain HTTP, no metrics-auth role, http ServiceMonitor, notes say so", metrics_plain)

    def metrics_port_follows():
        render = chart.template("--set", "packerBuilder.metrics.port=9443")
        image = container(renders["defaults"].one("Deployment", BUILDER))["image"]
        deployment_checks(render, BUILDER, image,
                          ["--metrics-bind-address=:9443"] + default_args(BUILDER)[1:],
                          1, f"opsy-opsy-ami-operator-{BUILDER}")
        service_checks(render, BUILDER, 9443)
        network_policy_checks(render, BUILDER)
        proc = subprocess.run([args.helm, "template", "opsy", chart.chart,
                               "--set", "amiRefresher.metrics.port=8081"],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        expect(proc.returncode != 0
               and "amiRefresher.metrics.port and amiRefresher.health.port" in proc.stderr,
               f"metrics on the probe port accepted: {proc.stderr}")
    check("metrics.port moves the container, Service and NetworkPolicy ports; never the probe port",
          metrics_port_follows)

    def optional_refresher_role(value, suffix, want):
        """The refresher's ClusterRole `<name>-<suffix>` exists only with `value`=true, grants exactly
        `want`, is bound to the refresher's ServiceAccount, never goes to the builder, and `value`
        takes only a boolean. Returns the render with `value` on."""
        for name in ("defaults", "full"):
            expect(not [o for o in renders[name].objects if o["kind"] in RBAC_KINDS
                        and o["metadata"]["name"].endswith(f"-{suffix}")],
                   f"{name}: {suffix} RBAC without {value}")
        render = chart.template("--set", f"amiRefresher.{value}=true")
        roles = [o for o in render.of("ClusterRole", REFRESHER)
                 if o["metadata"]["name"].endswith(f"-{suffix}")]
        expect(len(roles) == 1, f"{suffix} ClusterRoles: {roles}")
        got = flatten_rules(roles[0]["rules"])
        expect(got == want, f"{suffix} rules {got} != {want}")
        bindings = [b for b in render.of("ClusterRoleBinding", REFRESHER)
                    if b["metadata"]["name"].endswith(f"-{suffix}")]
        expect(len(bindings) == 1 and bindings[0]["roleRef"]["name"] == roles[0]["metadata"]["name"]
               and bindings[0]["subjects"][0]["name"] == f"opsy-opsy-ami-operator-{REFRESHER}",
               f"{suffix} bindings: {bindings}")
        expect(not [o for o in render.of("ClusterRole", BUILDER)
                    if o["metadata"]["name"].endswith(f"-{suffix}")],
               f"the builder got {suffix} RBAC")
        rejected = subprocess.run([args.helm, "template", "opsy", chart.chart, "--set",
                                   f"amiRefresher.{value}=yes"],
                                  capture_output=True, text=True, stdin=subprocess.DEVNULL)
        expect(rejected.returncode != 0, f"{value}=yes accepted")
        return render

    def karpenter_rbac():
        # Off by default: no Karpenter grant and no --karpenter.
        for name in ("defaults", "full"):
            expect("--karpenter" not in container(renders[name].one("Deployment", REFRESHER))["args"],
                   f"{name}: --karpenter without karpenter.enabled")
        render = optional_refresher_role(
            "karpenter.enabled", "karpenter",
            {("karpenter.k8s.aws", "ec2nodeclasses"): {"get", "list", "watch", "patch"},
             ("karpenter.sh", "nodeclaims"): {"get", "list", "watch"}})
        expect("--karpenter" in container(render.one("Deployment", REFRESHER))["args"],
               "karpenter.enabled does not pass --karpenter")
    check("karpenter.enabled grants EC2NodeClass patch and NodeClaim reads, and passes --karpenter",
          karpenter_rbac)

    def drain_rbac():
        # Off by default: nothing may cordon Nodes or evict pods.
        optional_refresher_role(
            "selfManaged.enabled", "drain",
            {("", "nodes"): {"get", "list", "watch", "patch"}, ("", "pods"): {"list"},
             ("", "pods/eviction"): {"create"}})
    check("selfManaged.enabled grants node cordon, pod list and pod eviction, nothing more",
          drain_rbac)

    def schema_rejects():
        for bad in (["--set", "packerBuilder.logLevel=loud"], ["--set", "amiRefresher.workers=0"],
                    ["--set", "packerBuilder.unknown=1"], ["--set", "amiRefresher.logFormat=xml"],
                    ["--set", "packerBuilder.networkPolicy.apiServerPorts={0}"],
                    ["--set", "amiRefresher.networkPolicy.egressCIDRs={aws}"],
                    ["--set", "amiRefresher.networkPolicy.unknown=1"],
                    ["--set", "packerBuilder.buildPolicy.allowedPackerImages={}"],
                    ["--set", "packerBuilder.buildPolicy.allowedServiceAccounts={packer}"],
                    ["--set", "packerBuilder.service.port=8080"],
                    ["--set", "amiRefresher.metrics.secure=yes"],
                    ["--set", "amiRefresher.metrics.certSecret=Metrics_TLS"],
                    # A ServiceAccount needs its namespace, a User or Group has none.
                    ["--set-json", 'packerBuilder.metrics.readers=[{"kind":"ServiceAccount","name":"p"}]'],
                    ["--set-json", 'packerBuilder.metrics.readers=[{"kind":"Role","name":"p"}]'],
                    ["--set-json",
                     'amiRefresher.metrics.readers=[{"kind":"User","name":"a","namespace":"b"}]'],
                    ["--set", "serviceMonitor.tlsConfig=skip"],
                    ["--set", "packerBuilder.apiLimits.watchIdleTimeout=soon"],
                    ["--set", "amiRefresher.apiLimits.watchMaxEventBytes=10"],
                    ["--set", "amiRefresher.apiLimits.unknown=1"]):
            proc = subprocess.run([args.helm, "template", "opsy", chart.chart, *bad],
                                  capture_output=True, text=True, stdin=subprocess.DEVNULL)
            expect(proc.returncode != 0 and "values don't meet the specifications" in proc.stderr,
                   f"schema accepted {bad}: {proc.stderr}")
    check("values.schema.json rejects bad values", schema_rejects)

    def crds_identical():
        top = os.path.join(args.repo, "crds")
        mine = os.path.join(chart.chart, "crds")
        names = sorted(os.listdir(top))
        expect(names == sorted(os.listdir(mine)), f"crds differ: {names} vs {sorted(os.listdir(mine))}")
        for name in names:
            expect(filecmp.cmp(os.path.join(top, name), os.path.join(mine, name), shallow=False),
                   f"helm/opsy-ami-operator/crds/{name} differs from crds/{name}; copy it over")
        crds = chart.template("--include-crds").of("CustomResourceDefinition")
        expect(sorted(c["metadata"]["name"] for c in crds) ==
               ["amirefreshers.ami.refresh.ops", "packerbuilders.ami.refresh.ops"], "CRDs rendered")
    check("chart CRDs are identical to crds/", crds_identical)

    def kubectl_decodes():
        # `kubectl apply --dry-run=client` needs an API server (discovery, the live object), so the
        # offline check is `kubectl label --local`, which decodes every object of each render.
        kubeconfig = os.path.join(args.work, "kubeconfig")
        with open(kubeconfig, "w", encoding="utf-8") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
        env = dict(os.environ, KUBECONFIG=kubeconfig)
        for name in ("defaults", "full"):
            render = renders[name]
            out = run([args.kubectl, "label", "--local", "-f", render.path, "opsy.test/checked=true",
                       "-o", "name"], env=env)
            expect(len(out.split()) == len(render.objects),
                   f"{name}: kubectl read {len(out.split())} of {len(render.objects)} objects")
    check("kubectl reads every rendered object offline", kubectl_decodes)

    def promtool_rules():
        for name in ("replicas2", "full"):
            render = chart.template("--set", "prometheusRule.enabled=true") if name == "replicas2" \
                else renders["full"]
            path, groups = rule_groups_file(render, args.work, name)
            expect(groups, f"{name}: no rule groups")
            run([args.promtool, "check", "rules", path])
        _, groups = rule_groups_file(renders["full"], args.work, "full")
        alerts = {r["alert"] for g in groups for r in g["rules"]}
        for alert in ("OpsyPackerBuildFailing", "OpsyPackerBuilderStalled", "OpsyPackerImageExpired",
                      "OpsyAmiRolloutStalled", "OpsyAmiTargetExpired", "OpsyReconcileErrors",
                      "OpsyNoLeader", "OpsyControllerAbsent"):
            expect(alert in alerts, f"alert {alert} missing")
        builder_only = chart.template("--set", "prometheusRule.enabled=true",
                                      "--set", "amiRefresher.enabled=false")
        _, groups = rule_groups_file(builder_only, args.work, "builder-only")
        expect([g["name"] for g in groups] == ["opsy-packer-builder"], "builder-only rule groups")
    check("promtool check rules accepts the PrometheusRule groups", promtool_rules)

    def promtool_fires():
        path, _ = rule_groups_file(chart.template("--set", "prometheusRule.enabled=true",
                                                  "--set", "packerBuilder.replicaCount=2"),
                                   args.work, "unit", annotations=False)
        tests = os.path.join(os.path.dirname(os.path.abspath(__file__)), "alerts_test.yaml")
        with open(tests, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
        spec["rule_files"] = [path]
        test_path = os.path.join(args.work, "alerts_test.yaml")
        with open(test_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(spec, f, sort_keys=False)
        run([args.promtool, "test", "rules", test_path])
    check("promtool test rules: each alert fires on its series and not before", promtool_fires)

    def secrets_never_listed():
        # Last, so that it covers every render above: defaults, each controller alone, replicas,
        # watched namespaces, every value, the NetworkPolicy and monitoring variants.
        expect(len(chart.rendered) >= 10, f"only {len(chart.rendered)} renders")
        for render in chart.rendered:
            for role in render.of("Role") + render.of("ClusterRole"):
                verbs = secret_verbs(role)
                expect(not verbs & {"list", "watch", "*"},
                       f"{role['kind']}/{role['metadata']['name']} grants {sorted(verbs)} on secrets")
    check("no render grants list or watch on Secrets", secrets_never_listed)

    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

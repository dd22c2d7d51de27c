#!/usr/bin/env python3
"""The chart's RBAC and protected metrics, end to end: the real controller binaries run with the
arguments the chart renders and with nothing but the permissions the chart grants.

fake-kube plays the cluster. Each controller authenticates as its ServiceAccount (a token fake-kube
knows), so every request it makes is authorised by the ClusterRoles, Roles and bindings `helm
template` rendered and `kubectl apply` stored; a permission the chart forgot is a 403 and the
controller never becomes ready. Then /metrics is scraped over HTTPS: without a token (401), as a
user no binding names (403) and as Prometheus's ServiceAccount, which the chart's
metrics.readers binds to the metrics-reader ClusterRole (200, the controller's metrics). The
controller's own TokenReview and SubjectAccessReview calls pass through the chart's metrics-auth
ClusterRole the same way.

Usage: chart_e2e.py --helm H --kubectl K --fake-kube F --packer-builder P --ami-refresh A
                    --repo REPO_ROOT --work DIR
"""
import argparse
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

from checks import check, expect, run, stop, summary

NAMESPACE = "opsy-system"
RELEASE = "opsy"
PROMETHEUS = ("monitoring", "prometheus")
TOKENS = {
    "prometheus": "prometheus-scrape-token",
    "developer": "developer-token",
}
# Chart component -> the controller label of its metrics.
METRICS_NAME = {"packer-builder": "packer-builder", "ami-refresher": "ami-refresh"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, token=None, timeout=5):
    """(status, body) of a GET; https without verifying, as the chart's ServiceMonitor does with
    the self-signed certificate. Status 0 when nothing answered."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, ""


def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Cluster:
    """fake-kube with users for the controllers' ServiceAccounts, Prometheus and a developer."""

    def __init__(self, fake_kube, kubectl, work, users):
        self.kubectl = kubectl
        self.work = work
        self.kubeconfig = os.path.join(work, "admin.kubeconfig")
        args = [fake_kube, "--port=0", f"--kubeconfig-out={self.kubeconfig}"]
        args += [f"--user={token}={user}" for token, user in users.items()]
        self.log = open(os.path.join(work, "fake-kube.log"), "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.url = self.proc.stdout.readline().strip()
        expect(self.url.startswith("https://"), f"fake-kube did not start: {self.url!r}")

    def apply(self, objects):
        path = os.path.join(self.work, f"apply-{time.monotonic_ns()}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump_all(objects, f)
        run([self.kubectl, "--kubeconfig", self.kubeconfig, "apply", "-f", path])

    def kubeconfig_for(self, token, namespace, name):
        """A kubeconfig like the admin one, but with `token` and `namespace` (as in a pod)."""
        with open(self.kubeconfig) as f:
            config = yaml.safe_load(f)
        for user in config["users"]:
            user["user"] = {"token": token}
        for context in config["contexts"]:
            context["context"]["namespace"] = namespace
        path = os.path.join(self.work, f"{name}.kubeconfig")
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        return path

    def stop(self):
        stop(self.proc, 10)
        self.log.close()


class Controller:
    """A controller binary started with the container args of a rendered Deployment."""

    def __init__(self, binary, deployment, kubeconfig, work, name):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        self.metrics_port = free_port()
        self.probe_port = free_port()
        args = []
        for arg in container.get("args", []):
            # The pod's addresses become loopback ports; every other flag is the chart's.
            if arg.startswith("--metrics-bind-address="):
                arg = f"--metrics-bind-address=127.0.0.1:{self.metrics_port}"
            elif arg.startswith("--health-probe-bind-address="):
                arg = f"--health-probe-bind-address=127.0.0.1:{self.probe_port}"
            args.append(arg)
        self.args = args
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": work,
            "NO_PROXY": "*",
            "POD_NAME": f"{name}-0",
            "POD_NAMESPACE": NAMESPACE,
            "AWS_REGION": "us-west-2",
            "AWS_ACCESS_KEY_ID": "AKIDCHARTE2E",
            "AWS_SECRET_ACCESS_KEY": "chart-e2e-secret",
            "AWS_EC2_METADATA_DISABLED": "true",
            # No resources exist, so nothing calls AWS; were it to, it reaches nobody.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        }
        for keep in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if keep in os.environ:
                env[keep] = os.environ[keep]
        self.log_path = os.path.join(work, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, f"--kubeconfig={kubeconfig}"] + args, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def metrics_url(self):
        return f"https://127.0.0.1:{self.metrics_port}/metrics"

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"controller exited {self.proc.returncode}:\n{self.output()}")
        return http_get(f"http://127.0.0.1:{self.probe_port}/readyz")[0] == 200

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()[-6000:]

    def stop(self):
        stop(self.proc, 20)
        self.log.close()


def render(args, values):
    path = os.path.join(args.work, f"values-{time.monotonic_ns()}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(values, f)
    text = run([args.helm, "template", RELEASE, os.path.join(args.repo, "helm/opsy-ami-operator"),
                "--namespace", NAMESPACE, "-f", path])
    return [d for d in yaml.safe_load_all(text) if d]


def scenario(args, name, values, components, extra_namespaces=()):
    """Installs one render into a fresh fake cluster and runs its controllers."""
    objects = render(args, values)
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d
                   for d in objects if d["kind"] == "Deployment"}
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    users = {TOKENS["prometheus"]: "system:serviceaccount:%s:%s" % PROMETHEUS,
             TOKENS["developer"]: "jane"}
    sa_tokens = {}
    for component in components:
        sa = deployments[component]["spec"]["template"]["spec"]["serviceAccountName"]
        sa_tokens[component] = f"{component}-sa-token"
        users[sa_tokens[component]] = f"system:serviceaccount:{NAMESPACE}:{sa}"
    cluster = Cluster(args.fake_kube, args.kubectl, work, users)
    controllers = {}
    try:
        namespaces = [NAMESPACE, PROMETHEUS[0], *extra_namespaces]
        cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                       for n in namespaces if n != "default"])
        crds = []
        crd_dir = os.path.join(args.repo, "helm/opsy-ami-operator/crds")
        for file in sorted(os.listdir(crd_dir)):
            with open(os.path.join(crd_dir, file)) as f:
                crds += [d for d in yaml.safe_load_all(f) if d]
        cluster.apply(crds)
        rbac_kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
        cluster.apply([o for o in objects if o["kind"] in rbac_kinds])

        for component in components:
            kubeconfig = cluster.kubeconfig_for(sa_tokens[component], NAMESPACE, component)
            binary = args.packer_builder if component == "packer-builder" else args.ami_refresh
            controllers[component] = Controller(binary, deployments[component], kubeconfig, work,
                                                component)

        for component, controller in controllers.items():
            def becomes_ready(c=controller):
                try:
                    wait_for(c.ready, 60, "/readyz")
                except AssertionError as e:
                    raise AssertionError(f"{e}\n{c.output()}")
            check(f"{name}: {component} becomes ready with only the chart's RBAC", becomes_ready)

            def secure_flags(c=controller):
                expect("--metrics-secure=true" in c.args, f"chart args: {c.args}")

            check(f"{name}: {component} runs with --metrics-secure=true from the chart",
                  secure_flags)

            def scrapes(c=controller, component=component):
                status, body = http_get(c.metrics_url())
                expect(status == 401, f"no token: {status} {body[:200]}")
                status, body = http_get(c.metrics_url(), "not-a-token")
                expect(status == 401, f"unknown token: {status} {body[:200]}")
                status, body = http_get(c.metrics_url(), TOKENS["developer"])
                expect(status == 403, f"unbound user: {status} {body[:200]}")
                status, body = http_get(c.metrics_url(), TOKENS["prometheus"])
                expect(status == 200, f"prometheus: {status} {body[:300]}\n{c.output()}")
                expect(f'opsy_build_info{{controller="{METRICS_NAME[component]}"' in body,
                       "the page is not the controller's metrics")
                plain, _ = http_get(c.metrics_url().replace("https://", "http://"),
                                    TOKENS["prometheus"])
                expect(plain != 200, "plain HTTP served the page")

            check(f"{name}: {component} /metrics: 401 without or with an unknown token, 403 for "
                  "an unbound user, 200 for the ServiceAccount metrics.readers names", scrapes)

            def no_tokens_logged(c=controller, component=component):
                log = c.output()
                for token in [*TOKENS.values(), sa_tokens[component]]:
                    expect(token not in log, f"a token is in the log:\n{log}")
                expect("forbidden" not in log.lower(), f"a request was forbidden:\n{log}")

            check(f"{name}: {component} logs no token and no forbidden request", no_tokens_logged)
    finally:
        for controller in controllers.values():
            controller.stop()
        cluster.stop()


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--helm", "--kubectl", "--fake-kube", "--packer-builder", "--ami-refresh",
                 "--repo", "--work"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)

    prometheus = {"kind": "ServiceAccount", "name": PROMETHEUS[1], "namespace": PROMETHEUS[0]}
    both = {
        "packerBuilder": {"metrics": {"readers": [prometheus]},
                          "leaderElection": {"enabled": True}},
        "amiRefresher": {"metrics": {"readers": [prometheus]}},
    }
    scenario(args, "all-namespaces", both, ["packer-builder", "ami-refresher"])
    scoped = {
        "packerBuilder": {"metrics": {"readers": [prometheus]}, "watchNamespaces": ["team-a"]},
        "amiRefresher": {"enabled": False},
    }
    scenario(args, "watch-namespaces", scoped, ["packer-builder"], extra_namespaces=["team-a"])

    return summary()


if __name__ == "__main__":
    sys.exit(main())

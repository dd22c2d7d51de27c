#!/usr/bin/env python3
"""python3-kubernetes, a client nobody here wrote, against fake-kube: list, watch (it sends
watch=True), a custom resource and its status subresource. If it works here it is because the fake
speaks the API as a real server does.

Usage: python_kubernetes_test.py --fake-kube PATH --repo REPO_ROOT --work DIR
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helm"))
from checks import check, expect, stop, summary  # noqa: E402

try:
    import kubernetes
    from kubernetes import client, config, watch
except ImportError:
    print("python3-kubernetes is missing (Debian package python3-kubernetes); run scripts/bootstrap",
          file=sys.stderr)
    sys.exit(1)

NS = "default"


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--fake-kube", "--repo", "--work"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    kubeconfig = os.path.join(args.work, "kubeconfig")
    log = open(os.path.join(args.work, "fake-kube.log"), "w")
    proc = subprocess.Popen([args.fake_kube, "--port=0", f"--kubeconfig-out={kubeconfig}"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        url = proc.stdout.readline().strip()
        expect(url.startswith("https://"), f"fake-kube did not start: {url!r}")
        api_client = config.new_client_from_config(config_file=kubeconfig)
        core = client.CoreV1Api(api_client)
        print(f"python3-kubernetes {kubernetes.__version__} against {url}")

        def lists_and_creates():
            core.create_namespaced_config_map(NS, {"metadata": {"name": "listed"},
                                                   "data": {"k": "v"}})
            names = [c.metadata.name for c in core.list_namespaced_config_map(NS).items]
            expect("listed" in names, f"list: {names}")
            got = core.read_namespaced_config_map("listed", NS)
            expect(got.data == {"k": "v"}, f"read: {got.data}")

        check("list, create and read ConfigMaps", lists_and_creates)

        def watch_sees_add_update_delete():
            seen = []
            ready = threading.Event()
            rv = core.list_namespaced_config_map(NS).metadata.resource_version

            def run():
                w = watch.Watch()
                ready.set()
                for event in w.stream(core.list_namespaced_config_map, NS, resource_version=rv,
                                      timeout_seconds=10):
                    if event["object"].metadata.name == "watched":
                        seen.append(event["type"])
                    if len(seen) == 3:
                        w.stop()

            thread = threading.Thread(target=run)
            thread.start()
            ready.wait()
            time.sleep(0.3)
            core.create_namespaced_config_map(NS, {"metadata": {"name": "watched"},
                                                   "data": {"k": "1"}})
            core.patch_namespaced_config_map("watched", NS, {"data": {"k": "2"}})
            core.delete_namespaced_config_map("watched", NS)
            thread.join(timeout=15)
            expect(seen == ["ADDED", "MODIFIED", "DELETED"], f"watch saw {seen}")

        check("watch.Watch().stream sees an add, an update and a delete", watch_sees_add_update_delete)

        def custom_resource_and_status():
            ext = client.ApiextensionsV1Api(api_client)
            with open(os.path.join(args.repo, "crds/ami.refresh.ops_packerbuilders.yaml")) as f:
                ext.create_custom_resource_definition(yaml.safe_load(f))
            with open(os.path.join(args.repo, "tests/data/samples/packerbuilder.yaml")) as f:
                sample = yaml.safe_load(f)
            custom = client.CustomObjectsApi(api_client)
            group, version, plural = "ami.refresh.ops", "v1alpha1", "packerbuilders"
            name = sample["metadata"]["name"]
            custom.create_namespaced_custom_object(group, version, NS, plural, sample)
            listed = custom.list_namespaced_custom_object(group, version, NS, plural)
            expect([i["metadata"]["name"] for i in listed["items"]] == [name], f"{listed}")
            custom.patch_namespaced_custom_object_status(
                group, version, NS, plural, name, {"status": {"state": "Building"}})
            got = custom.get_namespaced_custom_object(group, version, NS, plural, name)
            expect(got.get("status", {}).get("state") == "Building", f"status: {got.get('status')}")
            expect(got["metadata"]["generation"] == 1, "a status patch changed the generation")

        check("a PackerBuilder is created, listed and its status patched", custom_resource_and_status)

        def refusals_are_api_exceptions():
            try:
                core.read_namespaced_config_map("missing", NS)
            except client.exceptions.ApiException as e:
                expect(e.status == 404 and e.reason == "Not Found", f"{e.status} {e.reason}")
            else:
                raise AssertionError("reading a missing ConfigMap succeeded")

        check("a missing object is a 404 ApiException", refusals_are_api_exceptions)
    finally:
        stop(proc, 10)
        log.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())

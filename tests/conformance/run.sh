#!/usr/bin/env bash
# ctest entry point of the conformance tests: what the controllers write to fake-kube, and what
# the chart renders, checked by validate.mjs against the upstream Kubernetes schemas.
# Usage: run.sh reset CAPTURE_DIR                         empty the e2e tests' capture directory
#        run.sh objects WORK_DIR CAPTURE_DIR               validate every captured object
#        run.sh chart WORK_DIR REPO_ROOT HELM_TOOLS_DIR    render the chart twice and validate it
#        run.sh self-test WORK_DIR                         the validator must fail broken-job.yaml
# WORK_DIR caches the npm packages (WORK_DIR/models) and holds the rendered chart.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=${1:?usage: run.sh reset|objects|chart|self-test ...}
shift

validate() {
  node "$here/validate.mjs" --models "$work/models" "$@"
}

case "$mode" in
  reset)
    capture=${1:?usage: run.sh reset CAPTURE_DIR}
    rm -rf "$capture"
    mkdir -p "$capture"
    ;;
  objects)
    work=${1:?usage: run.sh objects WORK_DIR CAPTURE_DIR}
    capture=${2:?usage: run.sh objects WORK_DIR CAPTURE_DIR}
    "$here/fetch_models.sh" "$work/models"
    echo "Captures: $(find "$capture" -name '*.jsonl' | wc -l) files in $capture"
    validate "$capture"
    ;;
  chart)
    work=${1:?usage: run.sh chart WORK_DIR REPO_ROOT HELM_TOOLS_DIR}
    repo=${2:?usage: run.sh chart WORK_DIR REPO_ROOT HELM_TOOLS_DIR}
    tools=${3:?usage: run.sh chart WORK_DIR REPO_ROOT HELM_TOOLS_DIR}
    "$repo/tests/helm/fetch_tools.sh" "$tools"
    "$here/fetch_models.sh" "$work/models"
    out="$work/chart"
    rm -rf "$out"
    mkdir -p "$out"
    chart="$repo/helm/opsy-ami-operator"
    render=("$tools/bin/helm" template opsy "$chart" --namespace opsy-system --include-crds)
    "${render[@]}" >"$out/defaults.yaml"
    "${render[@]}" -f "$repo/tests/helm/values-full.yaml" >"$out/values-full.yaml"
    validate "$out/defaults.yaml" "$out/values-full.yaml"
    ;;
  self-test)
    work=${1:?usage: run.sh self-test WORK_DIR}
    "$here/fetch_models.sh" "$work/models"
    status=0
    output=$(validate "$here/broken-job.yaml" 2>&1) || status=$?
    echo "$output"
    failed=0
    expect() {
      if grep -qF -- "$1" <<<"$output"; then
        echo "ok: $1"
      else
        echo "MISSING: $1"
        failed=1
      fi
    }
    container='spec.template.spec.containers[0]'
    expect 'INVALID Job default/build-broken'
    expect "$container.name: Required value"
    expect "$container.ports[0].containerPort: Invalid value: \"8080\": must be integer"
    expect 'batch/v1 Job: 1 valid, 1 invalid'
    expect 'ami.refresh.ops/v1alpha1 PackerBuilder (no schema for ami.refresh.ops): 1'
    if [ "$status" -ne 1 ]; then
      echo "the validator exited $status on a broken Job; it must exit 1"
      failed=1
    fi
    exit "$failed"
    ;;
  *)
    echo "run.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac

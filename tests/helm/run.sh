#!/usr/bin/env bash
# ctest entry point: fetch helm and kubectl (cached under the build tree), then check the chart.
# Usage: run.sh REPO_ROOT WORK_DIR
set -euo pipefail

repo=${1:?usage: run.sh REPO_ROOT WORK_DIR}
work=${2:?usage: run.sh REPO_ROOT WORK_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$here/fetch_tools.sh" "$work/tools"

promtool=$(command -v promtool || true)
if [ -z "$promtool" ]; then
  echo "promtool is missing (Debian package prometheus); run scripts/bootstrap" >&2
  exit 1
fi
. "$here/python.sh"

exec "$python" "$here/check_chart.py" --helm "$work/tools/bin/helm" --kubectl "$work/tools/bin/kubectl" \
  --promtool "$promtool" --repo "$repo" --work "$work/out"

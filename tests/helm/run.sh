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
# PyYAML: Debian's python3-yaml belongs to /usr/bin/python3; another python3 first in PATH may lack it.
python=""
for candidate in /usr/bin/python3 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  echo "PyYAML is missing (Debian package python3-yaml); run scripts/bootstrap" >&2
  exit 1
fi

exec "$python" "$here/check_chart.py" --helm "$work/tools/bin/helm" --kubectl "$work/tools/bin/kubectl" \
  --promtool "$promtool" --repo "$repo" --work "$work/out"

#!/usr/bin/env bash
# Installs the validator's npm packages (package.json, pinned with package-lock.json: the
# schemas generated from the upstream Kubernetes OpenAPI spec, and a YAML parser) into CACHE_DIR.
# Reuses a previous install of the same lock file. Exits 77 (ctest's skip code) only when npm
# cannot reach its registry.
# Usage: fetch_models.sh CACHE_DIR
set -euo pipefail

cache=${1:?usage: fetch_models.sh CACHE_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ -d "$cache/node_modules/kubernetes-models" ] &&
  cmp -s "$cache/package-lock.json" "$here/package-lock.json"; then
  exit 0
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch_models: $tool is missing; run scripts/bootstrap" >&2
    exit 1
  fi
done

mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$work/"
# The packages declare node >= 22 and work on Debian's 20: the engine warning is noise here.
if ! npm ci --prefix "$work" --no-audit --no-fund --loglevel=error --engine-strict=false \
    --fetch-retries=1 --fetch-timeout=60000 >"$work/npm.log" 2>&1; then
  if ! npm ping --fetch-retries=0 --fetch-timeout=15000 >/dev/null 2>&1; then
    echo "SKIPPED: npm cannot reach its registry, so the Kubernetes schemas cannot be fetched" >&2
    exit 77
  fi
  echo "fetch_models: npm ci failed:" >&2
  cat "$work/npm.log" >&2
  exit 1
fi
# Swap in whole so a concurrent or interrupted run never sees half an install.
rm -rf "$cache/node_modules" "$cache/package.json" "$cache/package-lock.json"
mv "$work/node_modules" "$cache/node_modules"
cp "$here/package.json" "$cache/package.json"
cp "$here/package-lock.json" "$cache/package-lock.json"
echo "fetch_models: installed the packages of $here/package-lock.json in $cache" >&2

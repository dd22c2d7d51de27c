#!/usr/bin/env bash
# Shows that check_runtime_libs.sh can fail: against a real binary, a Dockerfile passes as it is
# and fails, naming the package, once that package is dropped from the runtime stage's install.
#
#   tests/docker/check_runtime_libs_selftest.sh docker/packer-builder-controller.Dockerfile BINARY
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 DOCKERFILE BINARY" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
dockerfile=$1
binary=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
copy="$work/$(basename "$dockerfile")"

if ! "$here/check_runtime_libs.sh" "$dockerfile" "$binary" >"$work/out" 2>&1; then
  echo "the unchanged Dockerfile should pass:" >&2
  cat "$work/out" >&2
  exit 1
fi

# libcurl4 is linked by every binary built on libopsy.
sed -E 's/([[:space:]])libcurl4([[:space:]])/\1\2/' "$dockerfile" >"$copy"
if cmp -s "$dockerfile" "$copy"; then
  echo "$dockerfile does not install libcurl4; nothing to remove" >&2
  exit 1
fi
if "$here/check_runtime_libs.sh" "$copy" "$binary" >"$work/out" 2>&1; then
  echo "a runtime stage without libcurl4 should fail the check" >&2
  exit 1
fi
if ! grep -q 'does not install: .*libcurl4' "$work/out"; then
  echo "the failure should name libcurl4:" >&2
  cat "$work/out" >&2
  exit 1
fi
echo "check_runtime_libs.sh reports a missing runtime package"

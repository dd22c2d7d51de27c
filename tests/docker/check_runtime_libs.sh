#!/usr/bin/env bash
# Checks a controller Dockerfile without a Docker engine:
#   1. structure: a debian:bookworm build stage that runs scripts/bootstrap and builds the
#      controller with the release preset; a last stage on debian:bookworm-slim that installs
#      ca-certificates, runs as a numeric non-root USER and has the binary as ENTRYPOINT;
#   2. with binaries: every shared library ldd resolves for them belongs to a Debian package the
#      runtime stage installs (the exact package, found with dpkg -S on this bookworm machine).
# Sanitizer runtimes (libasan, libubsan, ...) are skipped: only the dev preset links them, and the
# image is built with the release preset.
#
#   tests/docker/check_runtime_libs.sh docker/packer-builder-controller.Dockerfile [binary...]
#
# Exits 0 when every check passes, 1 naming each failure (missing packages listed), 2 on misuse.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 DOCKERFILE [BINARY...]" >&2
  exit 2
fi
dockerfile=$1
shift
if [ ! -f "$dockerfile" ]; then
  echo "no such Dockerfile: $dockerfile" >&2
  exit 2
fi
# docker/<controller>.Dockerfile builds <controller>.
controller=$(basename "$dockerfile" .Dockerfile)

failures=()
fail() { failures+=("$1"); }

# Instructions one per line: continuations joined, comments and blank lines dropped.
instructions=$(sed -e 's/\r$//' "$dockerfile" | awk '
  /^[[:space:]]*#/ { next }
  {
    line = $0
    if (sub(/\\[[:space:]]*$/, "", line)) { buf = buf line " "; next }
    buf = buf line
    if (buf ~ /[^[:space:]]/) print buf
    buf = ""
  }
  END { if (buf ~ /[^[:space:]]/) print buf }')

from_lines=$(grep -niE '^[[:space:]]*FROM[[:space:]]' <<<"$instructions" || true)
stages=$(grep -c . <<<"$from_lines" || true)
if [ "$stages" -lt 2 ]; then
  fail "expected a build stage and a runtime stage (found $stages FROM lines)"
fi
first_from=$(head -n 1 <<<"$from_lines" | cut -d: -f2-)
last_from_no=$(tail -n 1 <<<"$from_lines" | cut -d: -f1)
last_from=$(tail -n 1 <<<"$from_lines" | cut -d: -f2-)
if ! grep -qiE '^[[:space:]]*FROM[[:space:]]+debian:bookworm[[:space:]]+AS[[:space:]]+[a-z0-9_-]+[[:space:]]*$' \
  <<<"$first_from"; then
  fail "the first stage must be 'FROM debian:bookworm AS <name>' (found: ${first_from:-none})"
fi
if ! grep -qiE '^[[:space:]]*FROM[[:space:]]+debian:bookworm-slim([[:space:]]|$)' <<<"$last_from"; then
  fail "the runtime stage must be 'FROM debian:bookworm-slim' (found: ${last_from:-none})"
fi

build_stage=$(sed -n "1,$((${last_from_no:-1} - 1))p" <<<"$instructions")
runtime_stage=$(sed -n "${last_from_no:-1},\$p" <<<"$instructions")

grep -qE '^[[:space:]]*RUN[[:space:]].*scripts/bootstrap' <<<"$build_stage" ||
  fail "the build stage must run scripts/bootstrap"
grep -qE '^[[:space:]]*RUN[[:space:]].*cmake[[:space:]]+--preset[[:space:]]+release' <<<"$build_stage" ||
  fail "the build stage must configure with 'cmake --preset release'"
grep -qE "^[[:space:]]*RUN[[:space:]].*--target[[:space:]]+$controller([[:space:]]|$)" <<<"$build_stage" ||
  fail "the build stage must build only the target $controller (--target $controller)"

users=$(grep -iE '^[[:space:]]*USER[[:space:]]' <<<"$runtime_stage" || true)
if [ -z "$users" ]; then
  fail "the runtime stage has no USER (it would run as root)"
else
  user=$(tail -n 1 <<<"$users" | awk '{print $2}')
  if ! [[ "$user" =~ ^[0-9]+(:[0-9]+)?$ ]]; then
    fail "USER must be numeric uid[:gid] so runAsNonRoot can be enforced (found: $user)"
  elif [ "${user%%:*}" -eq 0 ]; then
    fail "USER must not be root (found: $user)"
  fi
fi

entrypoints=$(grep -iE '^[[:space:]]*ENTRYPOINT[[:space:]]' <<<"$runtime_stage" || true)
if [ -z "$entrypoints" ]; then
  fail "the runtime stage has no ENTRYPOINT"
else
  entry=$(tail -n 1 <<<"$entrypoints")
  if ! grep -qE "^[[:space:]]*ENTRYPOINT[[:space:]]+\[[[:space:]]*\"(/[^\"]*/)?$controller\"" <<<"$entry"; then
    fail "ENTRYPOINT must be the exec form starting the binary $controller (found: $entry)"
  fi
fi
grep -qE "^[[:space:]]*COPY[[:space:]]+--from=[^[:space:]]+[[:space:]].*$controller" <<<"$runtime_stage" ||
  fail "the runtime stage must COPY --from the build stage the binary $controller"

# Packages the runtime stage installs: the words after 'apt-get install' up to the next && ; |.
installed=$(grep -E '^[[:space:]]*RUN[[:space:]]' <<<"$runtime_stage" | awk '
  {
    for (i = 1; i <= NF; i++) {
      if ($i == "install" && i > 1 && ($(i - 1) == "apt-get" || $(i - 1) == "apt")) {
        for (j = i + 1; j <= NF; j++) {
          if ($j == "&&" || $j == ";" || $j == "|" || $j == "||") break
          if ($j ~ /^-/) continue
          sub(/=.*/, "", $j)
          print $j
        }
      }
    }
  }' | sort -u)
grep -qx 'ca-certificates' <<<"$installed" ||
  fail "the runtime stage must install ca-certificates (AWS and the API server use TLS)"

# The package owning a library path. Debian bookworm is merged-/usr: the loader reports /lib/...
# while most packages list /usr/lib/... (and libc6 the other way round), so try both spellings,
# for the path and for the file it points to.
package_of() {
  local path=$1 candidates=() real
  real=$(readlink -f "$path" 2>/dev/null || echo "$path")
  for p in "$path" "$real"; do
    candidates+=("$p")
    case "$p" in
      /usr/*) candidates+=("${p#/usr}") ;;
      *) candidates+=("/usr$p") ;;
    esac
  done
  local c out
  for c in "${candidates[@]}"; do
    if out=$(dpkg -S "$c" 2>/dev/null); then
      # "pkg1, pkg2: /path" or "pkg:arch: /path"; the first owner, without the architecture.
      sed -e 's/: .*//' -e 's/,.*//' -e 's/:.*//' <<<"$(head -n 1 <<<"$out")"
      return 0
    fi
  done
  return 1
}

missing=()
for binary in "$@"; do
  if [ ! -x "$binary" ]; then
    fail "not an executable: $binary"
    continue
  fi
  if ! ldd_out=$(ldd "$binary" 2>&1); then
    fail "ldd failed for $binary: $ldd_out"
    continue
  fi
  while IFS= read -r line; do
    lib=""
    if [[ "$line" =~ =\>[[:space:]]+not[[:space:]]found ]]; then
      fail "$(basename "$binary"): $(awk '{print $1}' <<<"$line") is not found on this machine"
      continue
    elif [[ "$line" =~ =\>[[:space:]]+(/[^[:space:]]+) ]]; then
      lib=${BASH_REMATCH[1]}
    elif [[ "$line" =~ ^[[:space:]]*(/[^[:space:]]+) ]]; then
      lib=${BASH_REMATCH[1]}  # the dynamic loader itself
    fi
    [ -n "$lib" ] || continue  # linux-vdso.so.1 and the like
    case "$(basename "$lib")" in
      libasan.so* | libubsan.so* | liblsan.so* | libtsan.so* | libhwasan.so*) continue ;;
    esac
    if ! pkg=$(package_of "$lib"); then
      fail "$(basename "$binary"): no Debian package owns $lib"
      continue
    fi
    if ! grep -qx -- "$pkg" <<<"$installed"; then
      missing+=("$pkg ($(basename "$lib") for $(basename "$binary"))")
    fi
  done <<<"$ldd_out"
done

if [ ${#missing[@]} -gt 0 ]; then
  fail "the runtime stage does not install: $(printf '%s\n' "${missing[@]}" | sort -u | paste -sd ' ' | sed 's/) /), /g')"
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo "$dockerfile:" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "$dockerfile: ok${1:+ ($(printf '%s ' "${@##*/}" | sed 's/ $//'))}"

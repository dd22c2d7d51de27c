#!/usr/bin/env bash
# Public headers stay free of parser and transport types (STYLE.md): no curl, RapidJSON, yaml-cpp,
# pugixml or cctz include or type may appear under libopsy/include. Internal headers
# (libopsy/internal, target opsy::internal) may use them, so no public header may include one,
# and no internal header may share a path with a public one (it would shadow it).
set -euo pipefail
root="${1:?usage: public_headers.sh <repo root>}"
include="$root/libopsy/include"
internal="$root/libopsy/internal"
pattern='#\s*include\s*[<"](curl/|rapidjson/|yaml-cpp/|pugixml|cctz/)|\b(CURL|CURLM|CURLcode|rapidjson::|YAML::|pugi::|cctz::)'
if hits=$(grep -rnE "$pattern" "$include"); then
  echo "forbidden types in public headers:" >&2
  echo "$hits" >&2
  exit 1
fi
internal_count=0
if [[ -d "$internal" ]]; then
  while IFS= read -r header; do
    rel="${header#"$internal"/}"
    internal_count=$((internal_count + 1))
    if [[ -e "$include/$rel" ]]; then
      echo "internal header $rel shadows the public header of the same path" >&2
      exit 1
    fi
    if hits=$(grep -rnF "\"$rel\"" "$include"); then
      echo "public headers include the internal header $rel:" >&2
      echo "$hits" >&2
      exit 1
    fi
  done < <(find "$internal" -name '*.h')
fi
count=$(find "$include" -name '*.h' | wc -l)
echo "public headers clean: $count checked, $internal_count internal headers kept out"

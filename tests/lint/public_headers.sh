#!/usr/bin/env bash
# Public headers stay free of parser and transport types (STYLE.md): no curl, RapidJSON, yaml-cpp
# or pugixml include or type may appear under libopsy/include.
set -euo pipefail
root="${1:?usage: public_headers.sh <repo root>}"
pattern='#\s*include\s*[<"](curl/|rapidjson/|yaml-cpp/|pugixml)|\b(CURL|CURLM|CURLcode|rapidjson::|YAML::|pugi::)'
if hits=$(grep -rnE "$pattern" "$root/libopsy/include"); then
  echo "forbidden types in public headers:" >&2
  echo "$hits" >&2
  exit 1
fi
count=$(find "$root/libopsy/include" -name '*.h' | wc -l)
echo "public headers clean: $count checked"

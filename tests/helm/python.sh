# Sourced by the chart test entry points: sets $python to a python3 with PyYAML. Debian's
# python3-yaml belongs to /usr/bin/python3; another python3 first in PATH may lack it.
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

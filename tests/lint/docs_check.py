#!/usr/bin/env python3
"""Checks the machine-read parts of docs/: the Grafana dashboard, the metrics page and the JSON
examples (IAM policies) that readers paste.

- The dashboard is valid JSON with a uid, a title and panels with unique ids and a grid position.
- Every metric family registered in libopsy/src/runtime/metrics.cc is on some panel and in
  docs/metrics.md. Series that the dashboard or the page name but metrics.cc does not register are
  reported as warnings only: a controller may register its own families before they reach the
  shared registry (the rollout metrics of ami-refresh-controller).
- Every query is valid PromQL: with promtool (Debian prometheus, from scripts/bootstrap), each
  expression is checked as a recording rule once the Grafana variables are substituted.

- Every ```json block in docs/*.md parses, and every relative link in them names a file that
  exists.

  tests/lint/docs_check.py REPO_ROOT
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SUFFIXES = ("_bucket", "_sum", "_count")


def registered_metrics(root):
    """Families and their kind, read from the prometheus-cpp builders in metrics.cc."""
    with open(os.path.join(root, "libopsy", "src", "runtime", "metrics.cc"), encoding="utf-8") as f:
        text = f.read()
    found = {}
    for kind, name in re.findall(r'Build(Counter|Gauge|Histogram)\(\)\s*\.Name\("(opsy_\w+)"\)', text):
        found[name] = kind
    return found


def queries(dashboard):
    """(panel title, expr) for every target, rows' nested panels included."""
    out = []
    stack = list(dashboard.get("panels", []))
    while stack:
        p = stack.pop(0)
        stack.extend(p.get("panels", []))
        for t in p.get("targets", []):
            out.append((p.get("title", "?"), t.get("expr", "")))
    return out


def family_of(series, metrics):
    if series in metrics:
        return series
    for suffix in SUFFIXES:
        if series.endswith(suffix) and metrics.get(series[: -len(suffix)]) == "Histogram":
            return series[: -len(suffix)]
    return None


def promtool_check(exprs, problems):
    promtool = shutil.which("promtool")
    if promtool is None:
        print("promtool not found; PromQL syntax not checked", file=sys.stderr)
        return
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, expr in enumerate(exprs):
        concrete = (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
                    .replace("$__range", "1h").replace("$job", ".*"))
        lines.append(f"      - record: dashboard:query_{i}")
        lines.append(f"        expr: {json.dumps(concrete)}")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    try:
        r = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
        if r.returncode != 0:
            problems.append("promtool rejects a query:\n" + r.stdout + r.stderr)
    finally:
        os.unlink(path)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    problems = []
    warnings = set()
    metrics = registered_metrics(root)
    if not metrics:
        problems.append("no opsy_* metric found in libopsy/src/runtime/metrics.cc")

    path = os.path.join(root, "docs", "grafana-dashboard.json")
    try:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    for key in ("uid", "title", "panels"):
        if not dashboard.get(key):
            problems.append(f"dashboard has no {key}")
    ids = []
    stack = list(dashboard.get("panels", []))
    while stack:
        p = stack.pop(0)
        stack.extend(p.get("panels", []))
        ids.append(p.get("id"))
        grid = p.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
            problems.append(f"panel {p.get('title')!r} has no complete gridPos")
        if p.get("type") != "row" and not p.get("targets"):
            problems.append(f"panel {p.get('title')!r} has no query")
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"panel ids must be present and unique: {ids}")

    shown = set()
    exprs = []
    for title, expr in queries(dashboard):
        if not expr.strip():
            problems.append(f"panel {title!r} has an empty query")
            continue
        exprs.append(expr)
        for series in re.findall(r"\bopsy_\w+", expr):
            family = family_of(series, metrics)
            if family is None:
                warnings.add(f"panel {title!r} queries {series}, which metrics.cc does not register")
            else:
                shown.add(family)
    for name in sorted(set(metrics) - shown):
        problems.append(f"{name} is on no dashboard panel")

    doc = os.path.join(root, "docs", "metrics.md")
    try:
        with open(doc, encoding="utf-8") as f:
            documented = set(re.findall(r"`(opsy_\w+)`", f.read()))
    except OSError as e:
        problems.append(f"{doc}: {e}")
        documented = set()
    for name in sorted(set(metrics) - documented):
        problems.append(f"{name} is not described in docs/metrics.md")
    for name in sorted(n for n in documented - set(metrics) if family_of(n, metrics) is None):
        warnings.add(f"docs/metrics.md describes {name}, which metrics.cc does not register")

    for page in sorted(os.listdir(os.path.join(root, "docs"))):
        if not page.endswith(".md"):
            continue
        with open(os.path.join(root, "docs", page), encoding="utf-8") as f:
            text = f.read()
        prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", prose):
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto:
            if not os.path.exists(os.path.normpath(os.path.join(root, "docs", target))):
                problems.append(f"docs/{page}: link to {target}, which does not exist")
        for n, block in enumerate(re.findall(r"```json\n(.*?)```", text, re.S), start=1):
            try:
                json.loads(block)
            except ValueError as e:
                problems.append(f"docs/{page}: json block {n} does not parse: {e}")

    promtool_check(exprs, problems)
    for w in sorted(warnings):
        print(f"warning: {w}")
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return 1
    print(f"dashboard: {len(exprs)} queries over {len(shown)} metric families; metrics.md complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())

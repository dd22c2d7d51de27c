#!/usr/bin/env python3
"""Every AWS call a controller can make is allowed by its policy in docs/iam.md.

The actions are derived from the code: each AWS client method in libopsy/src/aws/<service>.cc is
mapped to the operation it sends, and each controller's sources (plus the libopsy code they use
for images) are searched for calls of those methods. The controller's section of docs/iam.md must
name every such action in its table (`service:Operation`) and grant it in its JSON policy
("service:Operation"). Exit 1 lists what is missing.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
SERVICES = ["ec2", "eks", "autoscaling"]
METHOD = re.compile(
    r"^\s+(?:\[\[nodiscard\]\]\s+)?(?:Result<.*?>|Status)\s+(\w+)\([^;]*?(?:override|const)?\s*\{",
    re.M)
OPERATION = re.compile(r'(?:paginate|call|query|restJson|json)\(\s*"([A-Z][A-Za-z]+)"')


def client_methods():
    """method name -> "service:Operation" for every client method that sends a request."""
    out = {}
    for service in SERVICES:
        text = (root / "libopsy/src/aws" / f"{service}.cc").read_text()
        starts = [(m.start(), m.group(1)) for m in METHOD.finditer(text)]
        for i, (start, name) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
            op = OPERATION.search(text, start, end)
            if op:
                out.setdefault(name, f"{service}:{op.group(1)}")
    return out


def calls(paths, methods):
    found = set()
    for path in paths:
        for f in sorted(path.rglob("*.cc")) if path.is_dir() else [path]:
            text = f.read_text()
            for name, action in methods.items():
                if re.search(r"(?:\.|->)" + name + r"\(", text):
                    found.add(action)
    return found


def section(doc, title):
    m = re.search(r"^## " + re.escape(title) + r"\n(.*?)(?=^## |\Z)", doc, re.M | re.S)
    return m.group(1) if m else ""


def main():
    methods = client_methods()
    if len(methods) < 10:
        print(f"iam_check: only {len(methods)} AWS client methods found; the parser is stale")
        return 1
    shared = [root / "libopsy/src/ami"]
    controllers = {
        "packer-builder-controller": [root / "packer-builder-controller"] + shared,
        "ami-refresh-controller": [root / "ami-refresh-controller"] + shared,
    }
    doc = (root / "docs/iam.md").read_text()
    problems = []
    for name, paths in controllers.items():
        actions = calls(paths, methods)
        if not actions:
            problems.append(f"{name}: no AWS call found in its code; the scan is stale")
        text = section(doc, name)
        for action in sorted(actions):
            if f"`{action}`" not in text:
                problems.append(f"{name}: docs/iam.md table does not name `{action}`")
            if f'"{action}"' not in text:
                problems.append(f"{name}: docs/iam.md policy does not allow \"{action}\"")
        print(f"{name}: {', '.join(sorted(actions))}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

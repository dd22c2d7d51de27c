// Checks Kubernetes objects against the schemas generated from the upstream Kubernetes OpenAPI
// spec (npm kubernetes-models, and @kubernetes-models/prometheus-operator for
// monitoring.coreos.com), independently of the fake API server that accepted them.
//
// Usage: node validate.mjs --models DIR INPUT...
//   DIR     an npm prefix holding tests/conformance/package.json's packages (fetch_models.sh)
//   INPUT   a file or a directory of files: *.jsonl (fake-kube captures, one write a line),
//           *.yaml/*.yml (manifests, several documents), *.json (one object); List kinds are
//           read item by item.
// Prints one line per invalid object, then counts per kind, the skipped objects (no schema
// known, or too large to capture) and a total. Exits 1 when an object is invalid or unreadable,
// or when no object could be checked at all; 2 on a usage error.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

function usage(message) {
  console.error(`validate.mjs: ${message}\nusage: node validate.mjs --models DIR INPUT...`);
  process.exit(2);
}

const args = process.argv.slice(2);
let modelsDir = "";
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--models") {
    modelsDir = args[++i] ?? usage("--models needs a directory");
  } else if (args[i].startsWith("--")) {
    usage(`unknown option ${args[i]}`);
  } else {
    inputs.push(args[i]);
  }
}
if (!modelsDir || inputs.length === 0) {
  usage("nothing to do");
}

// --- Where the schemas come from: each package's exports map, read as Node would resolve it.
// By hand, because the packages live in the build tree, where Node would never look for the
// imports of a script in the source tree.

const PACKAGES = ["kubernetes-models", "@kubernetes-models/prometheus-operator"];

function readPackage(name) {
  const root = path.join(modelsDir, "node_modules", name);
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
    return { name, root, version: manifest.version, exports: manifest.exports ?? {} };
  } catch (e) {
    console.error(`validate.mjs: ${name} is not installed under ${modelsDir}: ${e.message}`);
    process.exit(2);
  }
}
const packages = PACKAGES.map(readPackage);
const yamlModule = await import(
  pathToFileURL(resolveExport(readPackage("yaml"), ".") ?? usage("yaml has no entry point")).href
);
const YAML = yamlModule.default ?? yamlModule;

// The file an `import` of pkg/subpath loads: the first condition Node matches, in the map's order.
function resolveExport(pkg, subpath) {
  let target = pkg.exports[subpath];
  while (target !== null && typeof target === "object") {
    const condition = Object.keys(target).find((c) => ["node", "import", "default"].includes(c));
    target = condition === undefined ? null : target[condition];
  }
  return typeof target === "string" ? path.join(pkg.root, target) : null;
}

// apiVersion -> { pkg, module } or null when no package knows the group-version.
const groupVersions = new Map();
async function modelsFor(apiVersion) {
  if (!groupVersions.has(apiVersion)) {
    let found = null;
    for (const pkg of packages) {
      const file = resolveExport(pkg, `./${apiVersion}`);
      if (file !== null && fs.existsSync(file)) {
        found = { pkg, module: await import(pathToFileURL(file).href) };
        break;
      }
    }
    groupVersions.set(apiVersion, found);
  }
  return groupVersions.get(apiVersion);
}

// --- Reading the inputs: every object with where it came from.

function* listFiles(input) {
  const stat = fs.statSync(input);
  if (!stat.isDirectory()) {
    yield input;
    return;
  }
  for (const entry of fs.readdirSync(input, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const full = path.join(input, entry.name);
    if (entry.isDirectory()) {
      yield* listFiles(full);
    } else if (/\.(jsonl|json|ya?ml)$/.test(entry.name)) {
      yield full;
    }
  }
}

// Yields { object, where, note } or { problem, where } for what cannot be read.
function* readObjects(file) {
  const text = fs.readFileSync(file, "utf8");
  if (file.endsWith(".jsonl")) {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === "") {
        continue;
      }
      const where = `${file}:${i + 1}`;
      let record;
      try {
        record = JSON.parse(lines[i]);
      } catch (e) {
        yield { problem: `not JSON: ${e.message}`, where };
        continue;
      }
      const note = [record.verb, record.path].filter(Boolean).join(" ");
      if (record.skipped) {
        yield { skipped: record.skipped, record, where, note };
      } else {
        yield* expandList(record.object, where, note);
      }
    }
  } else if (file.endsWith(".json")) {
    try {
      yield* expandList(JSON.parse(text), file, "");
    } catch (e) {
      yield { problem: `not JSON: ${e.message}`, where: file };
    }
  } else {
    let documents;
    try {
      documents = YAML.parseAllDocuments(text);
    } catch (e) {
      yield { problem: `not YAML: ${e.message}`, where: file };
      return;
    }
    for (const doc of documents) {
      const start = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
      const line = text.slice(0, start).split("\n").length;
      const where = `${file}:${line}`;
      if (doc.errors.length > 0) {
        yield { problem: `not YAML: ${doc.errors[0].message}`, where };
        continue;
      }
      const value = doc.toJS({ maxAliasCount: -1 });
      if (value !== null && value !== undefined) {
        yield* expandList(value, where, "");
      }
    }
  }
}

function* expandList(object, where, note) {
  if (
    object !== null &&
    typeof object === "object" &&
    typeof object.kind === "string" &&
    object.kind.endsWith("List") &&
    Array.isArray(object.items)
  ) {
    for (let i = 0; i < object.items.length; i++) {
      yield { object: object.items[i], where: `${where} items[${i}]`, note };
    }
  } else {
    yield { object, where, note };
  }
}

// --- Reporting errors as Kubernetes names fields: spec.containers[0].ports[0].containerPort.

function fieldPath(pointer, extra) {
  const parts = pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (extra !== undefined) {
    parts.push(extra);
  }
  let out = "";
  for (const p of parts) {
    if (/^\d+$/.test(p)) {
      out += `[${p}]`;
    } else if (/^[A-Za-z0-9_$-]+$/.test(p)) {
      out += out === "" ? p : `.${p}`;
    } else {
      out += `[${JSON.stringify(p)}]`;
    }
  }
  return out || "(object)";
}

function valueAt(object, pointer) {
  let v = object;
  for (const p of pointer.split("/").slice(1)) {
    if (v === null || typeof v !== "object") {
      return undefined;
    }
    v = v[p.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return v;
}

function shown(value) {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function describe(error, object) {
  const { instancePath = "", keyword, params = {}, message = "" } = error;
  if (keyword === "required") {
    return `${fieldPath(instancePath, params.missingProperty)}: Required value`;
  }
  const value = valueAt(object, instancePath);
  let detail = message;
  if (keyword === "enum" && Array.isArray(params.allowedValues)) {
    detail = `must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  return `${fieldPath(instancePath)}: Invalid value: ${shown(value)}: ${detail}`;
}

// --- Checking.

const counts = new Map(); // "apiVersion Kind" -> { valid, invalid }
const skipped = new Map(); // "apiVersion Kind (reason)" -> count
const failures = [];
let unreadable = 0;

function count(key, field) {
  const entry = counts.get(key) ?? { valid: 0, invalid: 0 };
  entry[field]++;
  counts.set(key, entry);
}

function skip(key, reason) {
  const k = `${key} (${reason})`;
  skipped.set(k, (skipped.get(k) ?? 0) + 1);
}

function label(object) {
  const meta = object?.metadata ?? {};
  const name = meta.name ?? meta.generateName ?? "(no name)";
  return meta.namespace ? `${meta.namespace}/${name}` : name;
}

for (const input of inputs) {
  if (!fs.existsSync(input)) {
    console.error(`validate.mjs: no such file or directory: ${input}`);
    process.exit(2);
  }
  for (const file of listFiles(input)) {
    for (const item of readObjects(file)) {
      const where = item.note ? `${item.where} ${item.note}` : item.where;
      if (item.problem !== undefined) {
        unreadable++;
        failures.push(`UNREADABLE ${where}: ${item.problem}`);
        continue;
      }
      if (item.skipped !== undefined) {
        const r = item.record;
        skip(`${r.apiVersion ?? "?"} ${r.kind ?? "?"}`, item.skipped);
        continue;
      }
      const object = item.object;
      if (object === null || typeof object !== "object" || Array.isArray(object)) {
        unreadable++;
        failures.push(`UNREADABLE ${where}: not an object: ${shown(object)}`);
        continue;
      }
      const { apiVersion, kind } = object;
      if (typeof apiVersion !== "string" || typeof kind !== "string" || !apiVersion || !kind) {
        unreadable++;
        failures.push(`INVALID ${label(object)} (${where}): apiVersion and kind are required`);
        continue;
      }
      const key = `${apiVersion} ${kind}`;
      const models = await modelsFor(apiVersion);
      if (models === null) {
        skip(key, `no schema for ${apiVersion.includes("/") ? apiVersion.split("/")[0] : "core"}`);
        continue;
      }
      const Model = Object.values(models.module).find(
        (m) => typeof m === "function" && m.kind === kind && m.apiVersion === apiVersion,
      );
      if (Model === undefined) {
        // The group-version is a real one, so a real API server would not serve this kind.
        count(key, "invalid");
        failures.push(
          `INVALID ${kind} ${label(object)} (${where}): ${apiVersion} has no kind ${kind}`,
        );
        continue;
      }
      try {
        new Model(object).validate();
        count(key, "valid");
      } catch (e) {
        const errors = Array.isArray(e.errors) ? e.errors : [{ message: e.message }];
        const lines = [...new Set(errors.map((err) => describe(err, object)))];
        count(key, "invalid");
        failures.push(`INVALID ${kind} ${label(object)} (${where}): ${lines.join("; ")}`);
      }
    }
  }
}

// --- Report.

for (const line of failures) {
  console.log(line);
}
const versions = packages.map((p) => `${p.name} ${p.version}`).join(", ");
console.log(`Checked against ${versions}:`);
let valid = 0;
let invalid = 0;
for (const key of [...counts.keys()].sort()) {
  const c = counts.get(key);
  valid += c.valid;
  invalid += c.invalid;
  console.log(`  ${key}: ${c.valid} valid, ${c.invalid} invalid`);
}
let skippedTotal = 0;
if (skipped.size > 0) {
  console.log("Skipped:");
  for (const key of [...skipped.keys()].sort()) {
    skippedTotal += skipped.get(key);
    console.log(`  ${key}: ${skipped.get(key)}`);
  }
}
console.log(
  `${valid + invalid} objects checked: ${valid} valid, ${invalid} invalid; ` +
    `${skippedTotal} skipped, ${unreadable} unreadable`,
);
if (valid + invalid === 0) {
  console.log("FAILED: nothing was checked");
  process.exit(1);
}
process.exit(invalid + unreadable > 0 ? 1 : 0);

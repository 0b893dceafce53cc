#!/usr/bin/env node
// Offline stand-in for the native `solc` command line, backed by solc-js (the official
// compiler built to WebAssembly, from the npm package `solc`).
//
// py-solc-x and ape-solidity find a compiler by file name (`solc-v<version>` in
// SOLCX_BINARY_PATH) and drive it through `--version` and `--standard-json`. This adapter
// implements exactly that surface and refuses everything else with exit code 2 and a message
// that names what is supported, so a caller never mistakes silence for success.
"use strict";

const fs = require("fs");
const path = require("path");

const SUPPORTED = [
  "--version",
  "--help",
  "--standard-json [FILE|-]",
  "--base-path PATH",
  "--include-path PATH (repeatable)",
  "--allow-paths PATH[,PATH...]",
];

function refuse(message) {
  process.stderr.write(
    `solc-adapter (solc-js): ${message}\n` +
      `Supported options: ${SUPPORTED.join(", ")}.\n` +
      "Use --standard-json for everything else (optimizer, outputs, remappings go in the JSON).\n",
  );
  process.exit(2);
}

function loadSolc() {
  const from = process.env.ZKAI_SOLCJS_DIR || path.join(__dirname, "..", "node_modules", "solc");
  try {
    return require(from);
  } catch (err) {
    process.stderr.write(
      `solc-adapter: cannot load solc-js from ${from} (${err.message}).\n` +
        "Run the project's set-up (`make setup`) to install the npm dependencies.\n",
    );
    process.exit(3);
  }
}

function parseArgs(argv) {
  const opts = { basePath: null, includePaths: [], allowPaths: [], standardJson: false, file: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const takeValue = () => {
      if (i + 1 >= argv.length) refuse(`option ${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case "--version":
        opts.version = true;
        break;
      case "--help":
        opts.help = true;
        break;
      case "--standard-json":
        opts.standardJson = true;
        break;
      case "--base-path":
        opts.basePath = takeValue();
        break;
      case "--include-path":
        opts.includePaths.push(takeValue());
        break;
      case "--allow-paths":
        opts.allowPaths.push(...takeValue().split(",").filter(Boolean));
        break;
      default:
        if (arg === "-" || !arg.startsWith("-")) {
          if (opts.file !== null) refuse(`more than one input file given (${opts.file}, ${arg})`);
          opts.file = arg;
        } else {
          refuse(`unsupported option ${arg}`);
        }
    }
  }
  return opts;
}

function readInput(file) {
  if (file === null || file === "-") return fs.readFileSync(0, "utf8");
  return fs.readFileSync(file, "utf8");
}

// Resolve an import the way native solc does: relative to the base path, then each include
// path; absolute paths are read as they are. Reads are confined to the base path, include paths
// and allowed paths.
function makeImportCallback(opts) {
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths].map((p) => path.resolve(p));
  const allowed = [...roots, ...opts.allowPaths.map((p) => path.resolve(p))];
  const isAllowed = (full) => allowed.some((root) => full === root || full.startsWith(root + path.sep));
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.join(r, importPath));
    for (const candidate of candidates) {
      const full = path.resolve(candidate);
      if (!isAllowed(full)) continue;
      if (fs.existsSync(full) && fs.statSync(full).isFile()) {
        return { contents: fs.readFileSync(full, "utf8") };
      }
    }
    return { error: `File not found inside the base path or any of the include paths: ${importPath}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(`solc-adapter: solc-js behind the native command line.\n${SUPPORTED.join("\n")}\n`);
    return;
  }
  const solc = loadSolc();
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) refuse("only --standard-json compilation is supported");
  const input = readInput(opts.file);
  let parsed;
  try {
    parsed = JSON.parse(input);
  } catch (err) {
    process.stdout.write(
      JSON.stringify({
        errors: [{ component: "general", formattedMessage: `Invalid JSON input: ${err.message}`, message: err.message, severity: "error", type: "JSONError" }],
      }),
    );
    return;
  }
  const callback = makeImportCallback(opts);
  // Sources given by URL only (as native solc accepts) are read through the same callback.
  for (const [name, source] of Object.entries(parsed.sources || {})) {
    if (source.content === undefined && Array.isArray(source.urls)) {
      for (const url of source.urls) {
        const result = callback(url);
        if (result.contents !== undefined) {
          source.content = result.contents;
          delete source.urls;
          break;
        }
      }
      if (source.content === undefined) refuse(`cannot read source ${name} from ${source.urls.join(", ")}`);
    }
  }
  process.stdout.write(solc.compile(JSON.stringify(parsed), { import: callback }));
}

main();

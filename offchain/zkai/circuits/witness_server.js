#!/usr/bin/env node
// Long-lived witness calculator for zkai.circuits.witness: runs a circuit's own circom-generated
// WebAssembly under Node (V8 compiles it; groth16py's in-process path interprets it), so the
// Python prover only has to run `prove_wtns` on the result.
//
// Protocol: one JSON request per line on stdin, one JSON reply per line on stdout.
//   request: {"id": <any>, "wasm": "<path>", "input": {<signal>: <decimal string | nested>},
//             "wtns": "<output path>"}
//   reply:   {"id": <same>, "ok": true} or {"id": <same>, "ok": false, "error": "<message>"}
// Compiled circuits are cached per wasm path. The process exits when stdin closes.
// circom_runtime comes with snarkjs (a declared npm dependency of the repository).
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");

function loadRuntime() {
  const root = process.env.ZKAI_NODE_MODULES || path.join(__dirname, "..", "..", "..", "node_modules");
  const snarkjs = require.resolve("snarkjs", { paths: [root] });
  return require(require.resolve("circom_runtime", { paths: [path.dirname(snarkjs), root] }));
}

const { WitnessCalculatorBuilder } = loadRuntime();
const calculators = new Map();

async function calculator(wasmPath) {
  if (!calculators.has(wasmPath)) {
    const code = fs.readFileSync(wasmPath);
    calculators.set(wasmPath, await WitnessCalculatorBuilder(code, { sanityCheck: true }));
  }
  return calculators.get(wasmPath);
}

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    return { id: null, ok: false, error: `request is not JSON: ${err.message}` };
  }
  try {
    const wc = await calculator(request.wasm);
    const wtns = await wc.calculateWTNSBin(request.input, true);
    fs.writeFileSync(request.wtns, Buffer.from(wtns));
    return { id: request.id, ok: true };
  } catch (err) {
    return { id: request.id, ok: false, error: String((err && err.message) || err) };
  }
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    const reply = await handle(line);
    process.stdout.write(JSON.stringify(reply) + "\n");
  });
});
lines.on("close", () => {
  queue.then(() => process.exit(0));
});

#!/usr/bin/env node
// Proves one validity statement with snarkjs, as a browser does: groth16.fullProve(input,
// circuit.wasm, circuit.zkey). Used by zkai.circuits.validity (tests and `zkai bench`).
//   node snarkjs_prove.js <circuit.wasm> <circuit.zkey> <input.json>
// Prints {"proof": <snarkjs proof.json>, "publicSignals": [...], "seconds": <fullProve time>}.
"use strict";

const fs = require("fs");
const path = require("path");

async function main() {
  const [wasm, zkey, inputPath] = process.argv.slice(2);
  const root = process.env.ZKAI_NODE_MODULES || path.join(__dirname, "..", "..", "..", "node_modules");
  const snarkjs = require(require.resolve("snarkjs", { paths: [root] }));
  const input = JSON.parse(fs.readFileSync(inputPath, "utf8"));
  const started = process.hrtime.bigint();
  const { proof, publicSignals } = await snarkjs.groth16.fullProve(input, wasm, zkey);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(JSON.stringify({ proof, publicSignals, seconds }));
  // snarkjs keeps worker threads alive: exit explicitly.
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(String((error && error.stack) || error));
  process.exit(1);
});

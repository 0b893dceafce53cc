// Independent check for the tests: snarkjs (not written by this project) verifies Groth16
// proofs. One JSON request per line on stdin: {"vk": <verification_key.json object>,
// "public": [<decimal strings>], "proof": <proof.json object>}; replies {"ok": <bool>}.
"use strict";

const readline = require("readline");
const snarkjs = require("snarkjs");

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let ok = false;
    let error = null;
    try {
      const request = JSON.parse(line);
      ok = await snarkjs.groth16.verify(request.vk, request.public, request.proof, silent);
    } catch (err) {
      error = String((err && err.message) || err);
    }
    process.stdout.write(JSON.stringify({ ok: ok === true, error }) + "\n");
  });
});
lines.on("close", () => {
  queue.then(() => process.exit(0));
});

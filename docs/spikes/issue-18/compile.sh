#!/bin/bash
# usage: compile.sh DIR   (circom2 from npm, cwd = DIR with copied lib, as validity.py _compile)
cd $1 && rm -rf lib && cp -r /work/main/.venv/lib/python3.11/site-packages/groth16py/_vendor/circomlib2/circuits lib && /usr/bin/time -f "%e s %M KB" node /work/main/node_modules/circom2/cli.js circuit.circom --r1cs --wasm --O2 -l lib -o . 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | grep -E "constraints|wires|inputs|outputs|error|Error|s .*KB|templ" ; rm -rf lib

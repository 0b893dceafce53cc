#!/usr/bin/env bash
# The whole test suite, from a clean clone: set-up (idempotent), lint, type check, then the tests
# on anvil and on ape's in-process EVM. Services the tests need (Redis, anvil) are started by the
# tests' fixtures / ape-foundry and stopped when they end. Extra arguments go to both pytest passes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
VENV="${ZKAI_VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
# Circuit artifacts built by tests are cached here, inside the run, keyed by content hash.
export ZKAI_DATA_DIR="${ZKAI_DATA_DIR:-$ROOT/.zkai-test}"
export APE_FOUNDRY_HOST="${APE_FOUNDRY_HOST:-auto}"

say() { printf '\033[1;34m[test]\033[0m %s\n' "$*"; }

say "ruff (lint and format)"
ruff check offchain tests scripts
ruff format --check offchain tests scripts
say "prettier (Solidity formatting)"
npx --no-install prettier --check "contracts/**/*.sol"
say "mypy --strict (offchain/zkai)"
mypy
say "pytest on anvil (ethereum:local:foundry)"
ape test tests -m "not pyevm" --network ethereum:local:foundry "$@"
say "pytest on the in-process EVM (ethereum:local:test)"
ape test tests -m pyevm --network ethereum:local:test "$@"

#!/usr/bin/env bash
# One-command set-up, idempotent: Python venv + locked dependencies, npm dependencies, the offline
# Solidity compiler, anvil on the venv's PATH, and compiled contracts. Safe to run again; each step
# says what it does and skips itself when its inputs have not changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${ZKAI_VENV:-$ROOT/.venv}"
STAMPS="$VENV/.zkai-stamps"
SOLC_VERSION="0.8.37"
SOLCX_DIR="${SOLCX_BINARY_PATH:-$HOME/.solcx}"

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Fingerprint of the files a step depends on, so a step re-runs only when they change.
fingerprint() { cat "$@" | sha256sum | cut -c1-16; }
up_to_date() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
mark_done() { mkdir -p "$STAMPS"; echo "$2" > "$STAMPS/$1"; }

# --- prerequisites -------------------------------------------------------------------------------
PYTHON="${ZKAI_PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[[ -n "$PYTHON" ]] || die "Python 3.11 not found. Install it (Debian: apt-get install python3.11 python3.11-venv) or set ZKAI_PYTHON=/path/to/python3.11."
command -v node >/dev/null || die "Node.js not found (needed for solc-js, anvil and snarkjs). Debian: apt-get install nodejs npm."
command -v npm >/dev/null || die "npm not found. Debian: apt-get install npm."
node -e 'process.exit(parseInt(process.versions.node) >= 18 ? 0 : 1)' || die "Node.js >= 18 required (found $(node --version))."

# --- Python --------------------------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
py_fp="$(fingerprint pyproject.toml constraints.txt)"
if up_to_date python "$py_fp" && "$VENV/bin/python" -c 'import zkai' 2>/dev/null; then
  say "Python dependencies up to date"
else
  say "installing Python dependencies (locked by constraints.txt)"
  # Some machines configure pip with local index folders that may not exist; its warnings about
  # them would bury real errors.
  pip_quiet() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location '.*' is ignored" >&2); }
  pip_quiet install --quiet --disable-pip-version-check --upgrade pip
  pip_quiet install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,bench]"
  "$VENV/bin/python" -m pip check
  mark_done python "$py_fp"
fi

# --- npm -----------------------------------------------------------------------------------------
npm_fp="$(fingerprint package.json package-lock.json)"
if up_to_date npm "$npm_fp" && [[ -d node_modules/solc ]]; then
  say "npm dependencies up to date"
else
  say "installing npm dependencies (npm ci, lock file package-lock.json)"
  # Install scripts are not needed: anvil's binary arrives as an optional platform package.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  mark_done npm "$npm_fp"
fi

# --- anvil on the venv's PATH --------------------------------------------------------------------
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) anvil_pkg="anvil-linux-amd64" ;;
  Linux-aarch64) anvil_pkg="anvil-linux-arm64" ;;
  Darwin-arm64) anvil_pkg="anvil-darwin-arm64" ;;
  Darwin-x86_64) anvil_pkg="anvil-darwin-amd64" ;;
  *) die "no anvil build for $(uname -s)-$(uname -m)" ;;
esac
anvil_bin="$ROOT/node_modules/@foundry-rs/$anvil_pkg/bin/anvil"
[[ -x "$anvil_bin" ]] || die "anvil binary missing at $anvil_bin; run: npm ci"
# Link the real binary (the npm .bin wrapper starts a second process that ape-foundry cannot stop).
ln -sf "$anvil_bin" "$VENV/bin/anvil"
say "anvil $("$VENV/bin/anvil" --version | head -1 | awk '{print $3}') linked into $VENV/bin"

# --- Solidity compiler ---------------------------------------------------------------------------
mkdir -p "$SOLCX_DIR"
target="$SOLCX_DIR/solc-v$SOLC_VERSION"
if command -v solc >/dev/null && solc --version 2>/dev/null | grep -q "Version: $SOLC_VERSION+"; then
  native="$(command -v solc)"
  if [[ "$(readlink -f "$target" 2>/dev/null)" != "$(readlink -f "$native")" ]]; then
    say "using native solc $SOLC_VERSION at $native"
    ln -sf "$native" "$target"
  fi
else
  wrapper="$(printf '#!/bin/sh\n# Installed by %s/tools/setup.sh: solc-js %s behind the native command line.\nexec node "%s/tools/solc-adapter.cjs" "$@"\n' "$ROOT" "$SOLC_VERSION" "$ROOT")"
  if [[ ! -f "$target" || -L "$target" || "$(cat "$target")" != "$wrapper" ]]; then
    say "installing the solc-js adapter as $target"
    rm -f "$target"
    printf '%s\n' "$wrapper" > "$target"
    chmod +x "$target"
  fi
fi
"$target" --version | grep -q "Version: $SOLC_VERSION+" || die "$target does not report solc $SOLC_VERSION"
say "solc $SOLC_VERSION ready at $target"

# --- contracts -----------------------------------------------------------------------------------
say "compiling contracts (ape compile)"
PATH="$VENV/bin:$PATH" "$VENV/bin/ape" compile
# ape-solidity may unpack OpenZeppelin (500+ files) into contracts/.cache while computing import
# remappings; ape lists at most 500 files under contracts/, so with that copy present it never sees
# contracts/interfaces/ or contracts/verifiers/ and `project.Groth16VerifierAdapter` is missing.
# Compilation itself runs in an isolated copy and does not need it.
rm -rf contracts/.cache
say "done. Activate with: source $VENV/bin/activate"

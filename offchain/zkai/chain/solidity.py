"""Compile a standalone Solidity source with the project's pinned compiler and settings.

Used for contracts produced at run time, such as the Groth16 verifier generated from a circuit's
verifying key: they are not part of the ape project (their keys are never committed). The
settings match `ape-config.yaml` (solc 0.8.37, EVM prague, optimizer on with 200 runs), so such
a contract behaves on both of the project's EVMs (anvil and py-evm) like the project's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import solcx

from zkai.errors import ToolchainError
from zkai.toolchain import REPO_ROOT, solc_path

EVM_VERSION = "prague"
OPTIMIZER_RUNS = 200


@dataclass(frozen=True)
class CompiledContract:
    """One compiled contract: its ABI and its creation and runtime bytecode (0x-prefixed hex)."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    runtime_bytecode: str


def compile_solidity(
    source: str, contract_name: str, file_name: str | None = None
) -> CompiledContract:
    """Compile `source` and return `contract_name` from it.

    Imports resolve from the repository root (`@openzeppelin/...` maps to node_modules).
    Raises `ToolchainError` when the compiler is missing or reports an error.
    """
    binary = solc_path()
    if not binary.exists():
        raise ToolchainError(f"solc is not installed at {binary}: run `make setup`")
    file_name = file_name or f"{contract_name}.sol"
    request = {
        "language": "Solidity",
        "sources": {file_name: {"content": source}},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
            "outputSelection": {
                file_name: {
                    contract_name: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]
                }
            },
        },
    }
    try:
        output: dict[str, Any] = solcx.compile_standard(
            request,
            base_path=str(REPO_ROOT),
            allow_paths=[str(REPO_ROOT)],
            solc_binary=binary,
        )
    except solcx.exceptions.SolcError as err:
        raise ToolchainError(f"compiling {file_name} failed: {err}") from err
    try:
        compiled = output["contracts"][file_name][contract_name]
    except KeyError as err:
        raise ToolchainError(f"{file_name} does not define a contract {contract_name!r}") from err
    return CompiledContract(
        name=contract_name,
        abi=compiled["abi"],
        bytecode="0x" + compiled["evm"]["bytecode"]["object"],
        runtime_bytecode="0x" + compiled["evm"]["deployedBytecode"]["object"],
    )

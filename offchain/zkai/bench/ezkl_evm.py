"""ezkl's Solidity verifier on an EVM: solc for ezkl's generation, compilation, deployment, and
the verify transaction's gas.

Offline: `create_evm_verifier` looks up solc 0.8.20 through svm (`$HOME/.svm/0.8.20/
solc-0.8.20`) and downloads it when missing. Its child runs with HOME set to `workdir/evm-home`,
where that name is a symlink to the project's compiler (solc-js 0.8.37 behind
tools/solc-adapter.cjs, see `zkai.toolchain.solc_path`). ezkl drives it with `--standard-json`
only, which the adapter implements; ezkl's own compile (shanghai, 0 runs) is used by ezkl for the
ABI alone. The verifier deployed here is compiled by this module through py-solc-x and the same
adapter (evmVersion prague, optimizer on, ezkl's default of 1 run). web3 and py-solc-x are
imported inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zkai.errors import BenchmarkError, ToolchainError
from zkai.toolchain import solc_path

if TYPE_CHECKING:
    from web3 import Web3
    from web3.types import TxParams, TxReceipt

__all__ = [
    "EZKL_SVM_SOLC_VERSION",
    "VERIFIER_EVM_VERSION",
    "EvmNumbers",
    "call_verifier",
    "install_svm_solc",
    "measure_evm",
]

VERIFIER_EVM_VERSION = "prague"
# The compiler version ezkl's `create_evm_verifier` asks svm for.
EZKL_SVM_SOLC_VERSION = "0.8.20"


def install_svm_solc(evm_home: Path) -> None:
    """Make `evm_home/.svm/<ezkl's solc version>/solc-<version>` our offline compiler."""
    compiler = solc_path()
    if not compiler.is_file():
        raise ToolchainError(
            f"solc is not installed at {compiler}: run `make setup` in the repository"
        )
    link = evm_home / ".svm" / EZKL_SVM_SOLC_VERSION / f"solc-{EZKL_SVM_SOLC_VERSION}"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and Path(os.readlink(link)) == compiler:
        return
    link.unlink(missing_ok=True)
    link.symlink_to(compiler)


def _compile_verifier(sol_path: Path, optimizer_runs: int) -> tuple[str, int]:
    """Creation bytecode (hex) and runtime size in bytes of the verifier in `sol_path`."""
    import solcx

    standard_input = {
        "language": "Solidity",
        "sources": {sol_path.name: {"content": sol_path.read_text()}},
        "settings": {
            "optimizer": {"enabled": True, "runs": optimizer_runs},
            "evmVersion": VERIFIER_EVM_VERSION,
            "outputSelection": {"*": {"*": ["evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    try:
        output = solcx.compile_standard(standard_input, solc_binary=solc_path())
    except solcx.exceptions.SolcError as exc:
        raise BenchmarkError(f"compiling the ezkl verifier failed: {exc}") from exc
    contracts = output["contracts"][sol_path.name]
    if len(contracts) != 1:
        raise BenchmarkError(f"expected one contract in {sol_path}, found {sorted(contracts)}")
    (evm,) = (contract["evm"] for contract in contracts.values())
    return evm["bytecode"]["object"], len(evm["deployedBytecode"]["object"]) // 2


def _connect(rpc_url: str) -> Web3:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 120}))
    if not w3.is_connected():
        raise BenchmarkError(f"no Ethereum JSON-RPC answers at {rpc_url}")
    return w3


def _transact(w3: Web3, transaction: TxParams, what: str) -> TxReceipt:
    from web3.exceptions import Web3Exception

    accounts = w3.eth.accounts
    if not accounts:
        raise BenchmarkError(
            "the RPC has no unlocked account to send from (use anvil's default accounts)"
        )
    try:
        tx_hash = w3.eth.send_transaction({"from": accounts[0], **transaction})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    except Web3Exception as exc:
        raise BenchmarkError(f"{what} failed: {exc}") from exc
    if receipt["status"] != 1:
        raise BenchmarkError(f"{what} reverted (transaction {tx_hash.hex()})")
    return receipt


def call_verifier(rpc_url: str, address: str, calldata: bytes) -> bool:
    """Whether the verifier at `address` returns true for `calldata` (False if it reverts)."""
    from web3 import Web3
    from web3.exceptions import ContractLogicError

    w3 = _connect(rpc_url)
    try:
        returned = w3.eth.call({"to": Web3.to_checksum_address(address), "data": calldata})
    except ContractLogicError:
        return False
    return len(returned) == 32 and int.from_bytes(returned, "big") == 1


@dataclass(frozen=True)
class EvmNumbers:
    address: str
    runtime_bytes: int
    deploy_gas: int
    verify_gas: int


def measure_evm(
    rpc_url: str, sol_path: Path, calldata_path: Path, optimizer_runs: int
) -> EvmNumbers:
    bytecode, runtime_bytes = _compile_verifier(sol_path, optimizer_runs)
    w3 = _connect(rpc_url)
    deployed = _transact(w3, {"data": bytes.fromhex(bytecode)}, "deploying the ezkl verifier")
    address = deployed["contractAddress"]
    if address is None:
        raise BenchmarkError("deploying the ezkl verifier created no contract")
    calldata = calldata_path.read_bytes()
    if not call_verifier(rpc_url, address, calldata):
        raise BenchmarkError(f"the deployed ezkl verifier at {address} rejects ezkl's proof")
    verified = _transact(w3, {"to": address, "data": calldata}, "the verify transaction")
    return EvmNumbers(
        address=str(address),
        runtime_bytes=runtime_bytes,
        deploy_gas=int(deployed["gasUsed"]),
        verify_gas=int(verified["gasUsed"]),
    )

"""Verifiers the project did not write, used to re-check the proofs the tests make.

- snarkjs (`groth16.verify`) in one long-lived Node process (`snarkjs_verify.cjs`);
- a snarkjs-style Solidity verifier rendered from the part's verification key (groth16py's
  `to_solidity`), compiled with the project's solc and deployed on the chain `ape test`
  connects to (anvil), called with `verifyProof`: the proof words and public inputs in the
  order the EVM's pairing precompile takes them. (The generic `Groth16Verifier` deployed through
  `VerifierFactory` is checked with the same words in tests/contracts.)
- py_ecc's BN254 pairing (the Groth16 equation written out), for a subset (it is slower).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from py_ecc import optimized_bn128 as bn
from web3.exceptions import ContractLogicError, Web3RPCError

from zkai.circuits.artifacts import PartArtifacts
from zkai.circuits.part import PartProof
from zkai.circuits.prove import proof_to_snarkjs, public_to_snarkjs
from zkai.toolchain import solc_path

_SCRIPT = Path(__file__).resolve().parent / "snarkjs_verify.cjs"
_CONTRACT = "Groth16Verifier"


class SnarkjsVerifier:
    def __init__(self) -> None:
        self._process = subprocess.Popen(
            ["node", str(_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=_SCRIPT.parent,
        )
        self._vks: dict[Path, Any] = {}

    def verify(self, artifacts: PartArtifacts, proof: Sequence[int], public: Sequence[int]) -> bool:
        path = artifacts.verification_key_path
        if path not in self._vks:
            self._vks[path] = json.loads(path.read_text())
        request = {
            "vk": self._vks[path],
            "public": public_to_snarkjs(public),
            "proof": proof_to_snarkjs(proof),
        }
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        reply = json.loads(self._process.stdout.readline())
        return bool(reply["ok"])

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)
        if self._process.stdout is not None:
            self._process.stdout.close()


def compile_verifier(artifacts: PartArtifacts) -> dict[str, Any]:
    """abi, bytecode and deployed bytecode of the part's snarkjs-style Solidity verifier."""
    import solcx

    solidity = artifacts.verifying_key.to_solidity(
        pragma="^0.8.24", contract_name=_CONTRACT, style="snarkjs"
    )
    request = {
        "language": "Solidity",
        "sources": {"Verifier.sol": {"content": solidity}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "prague",
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }
    output = solcx.compile_standard(request, solc_binary=solc_path())
    contract = output["contracts"]["Verifier.sol"][_CONTRACT]
    return {
        "abi": contract["abi"],
        "bytecode": contract["evm"]["bytecode"]["object"],
        "deployed_bytecode": contract["evm"]["deployedBytecode"]["object"],
    }


class EvmVerifier:
    """Deploys each circuit's verifier once on the connected chain and calls verifyProof."""

    def __init__(self) -> None:
        self._contracts: dict[Path, Any] = {}
        self._builds: dict[Path, dict[str, Any]] = {}
        self.deploy_gas: dict[Path, int] = {}

    @property
    def web3(self) -> Any:
        from ape import chain

        return chain.provider.web3

    def contract(self, artifacts: PartArtifacts) -> Any:
        """The deployed verifier; redeployed when ape's per-test isolation reverted it."""
        key = artifacts.directory
        if key not in self._builds:
            self._builds[key] = compile_verifier(artifacts)
        build = self._builds[key]
        known = self._contracts.get(key)
        expected = bytes.fromhex(build["deployed_bytecode"])
        if known is None or bytes(self.web3.eth.get_code(known.address)) != expected:
            factory = self.web3.eth.contract(abi=build["abi"], bytecode=build["bytecode"])
            sender = self.web3.eth.accounts[0]
            tx = factory.constructor().transact({"from": sender})
            receipt = self.web3.eth.wait_for_transaction_receipt(tx)
            assert receipt["status"] == 1
            self.deploy_gas[key] = receipt["gasUsed"]
            self._contracts[key] = self.web3.eth.contract(
                address=receipt["contractAddress"], abi=build["abi"]
            )
        return self._contracts[key]

    @staticmethod
    def arguments(proof: Sequence[int], public: Sequence[int]) -> tuple[Any, ...]:
        w = list(proof)
        return ([w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], list(public))

    def verify(self, artifacts: PartArtifacts, proof: Sequence[int], public: Sequence[int]) -> bool:
        """verifyProof's answer; a revert counts as a rejection."""
        function = self.contract(artifacts).functions.verifyProof(*self.arguments(proof, public))
        try:
            return bool(function.call())
        except (ContractLogicError, Web3RPCError):
            return False

    def gas(self, artifacts: PartArtifacts, proof: Sequence[int], public: Sequence[int]) -> int:
        function = self.contract(artifacts).functions.verifyProof(*self.arguments(proof, public))
        return int(function.estimate_gas())


def py_ecc_verify(artifacts: PartArtifacts, proof: Sequence[int], public: Sequence[int]) -> bool:
    """e(-A, B) e(alpha, beta) e(vk_x, gamma) e(C, delta) == 1, with py_ecc's BN254."""
    vk = json.loads(artifacts.verification_key_path.read_text())

    def g1(p: Sequence[str | int]) -> Any:
        return (bn.FQ(int(p[0])), bn.FQ(int(p[1])), bn.FQ(1))

    def g2(p: Sequence[Sequence[str | int]]) -> Any:
        return (
            bn.FQ2([int(p[0][0]), int(p[0][1])]),
            bn.FQ2([int(p[1][0]), int(p[1][1])]),
            bn.FQ2([1, 0]),
        )

    w = list(proof)
    a, b, c = g1(w[0:2]), g2([[w[3], w[2]], [w[5], w[4]]]), g1(w[6:8])
    if not (bn.is_on_curve(a, bn.b) and bn.is_on_curve(c, bn.b) and bn.is_on_curve(b, bn.b2)):
        return False
    vk_x = g1(vk["IC"][0])
    for value, point in zip(public, vk["IC"][1:], strict=True):
        vk_x = bn.add(vk_x, bn.multiply(g1(point), value % bn.curve_order))
    product = bn.FQ12.one()
    for q, p in (
        (b, bn.neg(a)),
        (g2(vk["vk_beta_2"]), g1(vk["vk_alpha_1"])),
        (g2(vk["vk_gamma_2"]), vk_x),
        (g2(vk["vk_delta_2"]), c),
    ):
        product = product * bn.pairing(q, p, final_exponentiate=False)
    return bool(bn.final_exponentiate(product) == bn.FQ12.one())


class IndependentChecks:
    """`check(artifacts, proof)`: snarkjs (and, on a chain, the EVM verifier) accept the proof."""

    def __init__(self) -> None:
        self.snarkjs = SnarkjsVerifier()
        self.evm = EvmVerifier()
        self.checked = 0

    def check(self, artifacts: PartArtifacts, proof: PartProof, *, evm: bool = False) -> None:
        assert self.snarkjs.verify(artifacts, proof.proof, proof.public_inputs), "snarkjs"
        if evm:
            assert self.evm.verify(artifacts, proof.proof, proof.public_inputs), "EVM verifier"
        self.checked += 1

    def close(self) -> None:
        self.snarkjs.close()

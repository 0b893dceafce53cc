"""The project's exceptions. Every error the project raises on purpose derives from `ZKAIError`.

Core code raises these domain errors; only the edges translate them (the CLI into a message and
an exit code, the API into an HTTP status). Each message says what was wrong and, where there is
one, how to fix it.
"""

from __future__ import annotations


class ZKAIError(Exception):
    """Base class of every error the project raises on purpose."""


class ConfigError(ZKAIError):
    """Settings or the local toolchain are missing or inconsistent."""


class ToolchainError(ConfigError):
    """A required external tool (solc, anvil, redis-server, node) is missing or broken."""


class ChainError(ZKAIError):
    """A chain interaction failed (transaction not mined, unexpected receipt)."""


class RpcUnavailableError(ChainError):
    """The Ethereum JSON-RPC endpoint does not answer (after retries)."""


class DeploymentError(ChainError):
    """Contracts are not compiled or not deployed where the settings point."""


class ContractRevertError(ChainError):
    """A contract call reverted; `error` is the custom error's name, `args` its decoded values."""

    def __init__(self, error: str, args: dict[str, object], data: bytes = b"") -> None:
        self.error = error
        self.args_by_name = args
        self.data = data
        rendered = ", ".join(f"{k}={v!r}" for k, v in args.items())
        super().__init__(f"{error}({rendered})")


class InvalidAmountError(ZKAIError):
    """A token amount given on the command line is not a finite, non-negative ZKAI amount."""


class KeystoreError(ZKAIError):
    """A keystore is missing, malformed, already exists, or the passphrase is wrong."""


class EncodingOverflowError(ZKAIError):
    """A value does not fit the signed range of the BN254 scalar field (or is not finite)."""


class InvalidInputError(ZKAIError):
    """An input vector does not fit the model (wrong number of features, out of range)."""


class InputRangeError(InvalidInputError):
    """An input feature lies outside the range the model declares for it."""


class ShareError(ZKAIError):
    """A secret share, mask, salt or share payload is malformed (wrong length, not in the field)."""


class CommitmentMismatchError(ZKAIError):
    """A share payload does not open the commitment it was posted with."""


class DecryptionError(ZKAIError):
    """A ciphertext failed authentication (tampered, truncated or sealed to another key)."""


class SignatureError(ZKAIError):
    """A signature is malformed, malleable (high s) or from someone else than required."""


class ModelFormatError(ZKAIError):
    """A model manifest or an imported model is malformed or unsupported."""


class CircuitBuildError(ZKAIError):
    """Generating, compiling or setting up a circuit (or its Solidity verifier) failed."""


class ProofError(ZKAIError):
    """A proof could not be produced, or a proof / its public inputs are malformed."""


class BenchmarkError(ZKAIError):
    """A benchmark or baseline run failed (a proving-system stage, its verifier, or its chain)."""


class KeyCheckError(ProofError):
    """A circuit key fails the user's check against the manifest's circuit (a malformed key
    could leak the witness, so nothing is proven with it)."""


class WitnessUnavailableError(ProofError):
    """The fast witness path (the circuit's wasm under Node) cannot be used here."""


class QueryError(ZKAIError):
    """A private query cannot be made as asked; nothing was paid or sent."""


class UnknownModelError(QueryError):
    """No model of that name or id is registered (or known to this client)."""


class ManifestUnavailableError(UnknownModelError):
    """A manifest could not be fetched now (the API did not answer or failed): retry later."""


class ModelInactiveError(QueryError):
    """The model exists but its owner has deactivated it."""


class NotEnoughNodesError(QueryError):
    """Fewer eligible nodes serve the model than the shares it needs."""


class InsufficientFundsError(QueryError):
    """The wallet lacks the tokens for the fee or the ETH for gas."""


class IndexMismatchError(ConfigError):
    """The API's index was built from another chain than the one the RPC serves."""


class NotIndexedError(ZKAIError):
    """The API's event index has no such model, node, query, epoch or account."""


class NodeError(ZKAIError):
    """The node service cannot do what was asked (not registered, model not served, ...)."""


class NodeNotRegisteredError(NodeError):
    """The node's account is not registered in the NodeRegistry."""


class ModelMismatchError(NodeError):
    """A node's local manifest or circuit keys do not match the model version on-chain."""


class TransientNodeError(NodeError):
    """A share could not be processed now but may be later (retried with backoff)."""


class LockLostError(TransientNodeError):
    """A work lock (`zkai.node.locks`) is not, or no longer, held by this process: stop before
    acting (another process may be doing the work), and retry."""


class TrainingError(ZKAIError):
    """An encrypted-training round, update or key cannot be used as asked."""


class UpdateRejectedError(TrainingError):
    """A contributor's encrypted update was refused; `reason` is a short code, the sum unchanged.

    Codes: malformed, wrong-context, wrong-size, full, duplicate, round-closed, unknown-round,
    bad-signature, unknown-contributor, bad-weight.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"update rejected ({reason}): {detail}")


class RoundRefusedError(QueryError):
    """A node refused a round (`reason` is its code); it signed nothing, so nothing is owed."""

    def __init__(self, node: str, reason: str, detail: str) -> None:
        super().__init__(f"node {node} refused the round ({reason}): {detail}")
        self.node = node
        self.reason = reason
        self.detail = detail


class NodeUnreachableError(QueryError):
    """A node's round endpoint did not answer (after retries)."""

"""Private inference, one linear round: the functions the wallet, the node and the API call.

User side (`prepare_query`): quantise x, embed it in F_r, deal k additive shares (k-1 as
32-byte seeds, one explicit; see `zkai.crypto.sharing` for the payload format), commit to each
(share, mask, salt) and seal each payload to its node's X25519 key. What goes on-chain per node
is `NodeRequest(public_key, commitment, ciphertext)`; the user keeps `QuerySecrets` (the sum of
the masks and the commitments).

Node side (`open_request`, `node_respond`): open the sealed payload, check it against the
posted commitment (`CommitmentMismatchError` otherwise), compute out_j = W s_j + m_j (mod r)
and prove it; the public inputs are [c_j, out_j].

User side again (`reconstruct`, `finish_query`): check every proof and that it is bound to the
commitment the user posted for that node, then y = sum_j out_j - sum_j m_j + b (mod r), read
as signed integers at the output scale, and apply the model's post-processing. The bias is
added here, not by a node (it is public: it is part of the manifest).

`run_local` runs the whole round in-process; its result equals `manifest.forward` (the
plaintext quantised model) exactly, which the property tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.prove import ShareProof, WitnessPath, prove_share, verify_share_proof
from zkai.crypto.encryption import generate_keypair, open_sealed, seal
from zkai.crypto.field import BN254_R, decode_signed_vector, encode_signed_vector
from zkai.crypto.sharing import ShareOpening, SharePayload, deal
from zkai.errors import CommitmentMismatchError, ProofError, ShareError
from zkai.models.manifest import Manifest, Prediction

__all__ = [
    "InferenceRun",
    "NodeRequest",
    "PreparedQuery",
    "QuerySecrets",
    "finish_query",
    "node_respond",
    "open_request",
    "prepare_query",
    "prepare_query_quantised",
    "reconstruct",
    "run_local",
]


@dataclass(frozen=True)
class NodeRequest:
    """What the user posts for one node: its key, the commitment and the sealed payload."""

    public_key: bytes
    commitment: int
    ciphertext: bytes


@dataclass(frozen=True)
class QuerySecrets:
    """What the user keeps to reconstruct the answer (never leaves the user)."""

    manifest_hash: bytes
    commitments: tuple[int, ...]
    mask_sum: tuple[int, ...]


@dataclass(frozen=True)
class PreparedQuery:
    """A query ready to post: one request per node, plus the user's secrets."""

    requests: tuple[NodeRequest, ...]
    secrets: QuerySecrets
    quantised_input: tuple[int, ...]


def prepare_query(
    manifest: Manifest,
    x: Sequence[float],
    node_public_keys: Sequence[bytes],
    *,
    check_range: bool = False,
) -> PreparedQuery:
    """Quantise, share, commit and seal a float input for the given nodes (k = len(keys))."""
    return prepare_query_quantised(
        manifest, manifest.quantise_input(x, check_range=check_range), node_public_keys
    )


def prepare_query_quantised(
    manifest: Manifest, x_int: Sequence[int], node_public_keys: Sequence[bytes]
) -> PreparedQuery:
    """`prepare_query` for an input already in fixed-point integers."""
    if not node_public_keys:
        raise ShareError("a query needs at least one node")
    if len(set(node_public_keys)) != len(node_public_keys):
        raise ShareError("the nodes of a query must be distinct")
    manifest.check_input(x_int)
    secret = encode_signed_vector(x_int, what="input")
    payloads = deal(secret, len(node_public_keys), manifest.output_size)
    requests: list[NodeRequest] = []
    mask_sum = [0] * manifest.output_size
    for payload, key in zip(payloads, node_public_keys, strict=True):
        opening = payload.opening()
        mask_sum = [(a + b) % BN254_R for a, b in zip(mask_sum, opening.mask, strict=True)]
        requests.append(NodeRequest(key, opening.commitment, seal(key, payload.to_bytes())))
    secrets = QuerySecrets(
        manifest_hash=manifest.content_hash,
        commitments=tuple(r.commitment for r in requests),
        mask_sum=tuple(mask_sum),
    )
    return PreparedQuery(tuple(requests), secrets, tuple(x_int))


def open_request(
    manifest: Manifest, private_key: bytes, ciphertext: bytes, commitment: int
) -> ShareOpening:
    """Node side: decrypt, parse and check a payload against its posted commitment."""
    payload = SharePayload.from_bytes(
        open_sealed(private_key, ciphertext),
        input_size=manifest.input_size,
        output_size=manifest.output_size,
    )
    opening = payload.opening()
    if opening.commitment != commitment:
        raise CommitmentMismatchError(
            f"the payload opens commitment {opening.commitment:#x}, but {commitment:#x} was posted"
        )
    return opening


def node_respond(
    artifacts: CircuitArtifacts,
    private_key: bytes,
    ciphertext: bytes,
    commitment: int,
    *,
    witness: WitnessPath = "auto",
) -> ShareProof:
    """Node side: open the request, compute W s + m and prove it."""
    opening = open_request(artifacts.manifest, private_key, ciphertext, commitment)
    return prove_share(artifacts, opening, witness=witness)


def reconstruct(
    manifest: Manifest, secrets: QuerySecrets, outputs: Sequence[Sequence[int]]
) -> list[int]:
    """y = sum_j out_j - sum_j m_j + b as signed integers at the output scale.

    `outputs` are the nodes' masked outputs, one per request, all of them. Proofs are not
    checked here (`finish_query` does).
    """
    if manifest.content_hash != secrets.manifest_hash:
        raise ShareError("these query secrets belong to a different model")
    if len(outputs) != len(secrets.commitments):
        raise ShareError(
            f"{len(outputs)} node outputs given, the query has {len(secrets.commitments)} shares"
        )
    total = list(secrets.mask_sum)
    total = [(-v) % BN254_R for v in total]
    for j, out in enumerate(outputs):
        if len(out) != manifest.output_size:
            raise ShareError(
                f"node {j} returned {len(out)} outputs, the model has {manifest.output_size}"
            )
        total = [(a + b) % BN254_R for a, b in zip(total, out, strict=True)]
    signed = decode_signed_vector(total, what="output")
    return [v + b for v, b in zip(signed, manifest.bias, strict=True)]


def finish_query(
    artifacts: CircuitArtifacts, secrets: QuerySecrets, proofs: Sequence[ShareProof]
) -> Prediction:
    """Check every node's proof and commitment, then reconstruct and post-process.

    `ProofError` if a proof does not verify, `CommitmentMismatchError` if a proof is for a
    commitment other than the one posted for that node.
    """
    if len(proofs) != len(secrets.commitments):
        raise ShareError(
            f"{len(proofs)} proofs given, the query has {len(secrets.commitments)} shares"
        )
    for j, (proof, commitment) in enumerate(zip(proofs, secrets.commitments, strict=True)):
        if proof.commitment != commitment:
            raise CommitmentMismatchError(
                f"the proof of node {j} is for commitment {proof.commitment:#x}, "
                f"not the posted {commitment:#x}"
            )
        if not verify_share_proof(artifacts, proof.proof, proof.public_inputs):
            raise ProofError(f"the proof of node {j} does not verify")
    raw = reconstruct(artifacts.manifest, secrets, [p.outputs for p in proofs])
    return artifacts.manifest.predict(raw)


@dataclass(frozen=True)
class InferenceRun:
    """The result of `run_local`: the prediction and everything behind it."""

    prediction: Prediction
    query: PreparedQuery
    proofs: tuple[ShareProof, ...]


def run_local(
    artifacts: CircuitArtifacts,
    x: Sequence[float],
    *,
    k: int = 3,
    witness: WitnessPath = "auto",
) -> InferenceRun:
    """The whole round in one process with k fresh node keys (tests, demos, benchmarks)."""
    if k < 1:
        raise ShareError(f"k must be at least 1, got {k}")
    keys = [generate_keypair() for _ in range(k)]
    query = prepare_query(artifacts.manifest, x, [key.public_key for key in keys])
    proofs = tuple(
        node_respond(artifacts, key.private_key, req.ciphertext, req.commitment, witness=witness)
        for key, req in zip(keys, query.requests, strict=True)
    )
    return InferenceRun(finish_query(artifacts, query.secrets, proofs), query, proofs)

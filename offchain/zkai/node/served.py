"""The models a node serves, checked against the chain and with their circuits loaded once.

A node serves the model ids in its on-chain metadata (`{"name": ..., "models": [ids]}`). At
start-up, for each id: the manifest comes from the model catalogue (`zkai.models.catalog`); its
content hash must equal the current version's weights commitment in `ModelRegistry`; the circuit
artifacts are loaded from the cache (built with the development setup if missing, outside
production); and the generated verifier behind the version's adapter must have exactly the runtime
code compiled from those artifacts, with the adapter's public input count matching. Otherwise the
node would prove with keys the chain does not accept, so it refuses to start, saying why.

Queries snapshot their version's verifier (the adapter), so tasks find the artifacts of a share
by `getQuery(...).verifier`. A version published after start-up is served after a restart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address

from zkai.chain.client import ChainClient, with_retries
from zkai.circuits.build import CircuitArtifacts, build_circuit_dev, load_artifacts
from zkai.config import Settings
from zkai.errors import ModelMismatchError, UnknownModelError
from zkai.models.catalog import ModelCatalog
from zkai.models.manifest import Manifest

__all__ = ["ServedModel", "load_served_models", "metadata_uri", "models_in_metadata"]


def metadata_uri(name: str, model_ids: Sequence[int]) -> str:
    """A node's metadata URI: compact JSON naming the node and the model ids it serves."""
    return json.dumps({"name": name, "models": sorted(set(model_ids))}, separators=(",", ":"))


def models_in_metadata(metadata: str) -> list[int]:
    try:
        return sorted({int(m) for m in json.loads(metadata).get("models", [])})
    except (ValueError, TypeError, AttributeError):
        return []


@dataclass(frozen=True)
class ServedModel:
    model_id: int
    version: int
    verifier: str
    """The version's IInferenceVerifier (the adapter), as queries record it."""
    artifacts: CircuitArtifacts


def _artifacts(manifest: Manifest, settings: Settings, build: bool) -> CircuitArtifacts:
    found = load_artifacts(manifest, artifacts_root=settings.artifacts_path)
    if found is not None:
        return found
    if not build or settings.environment == "production":
        raise ModelMismatchError(
            f"no circuit keys for model {manifest.name!r} under {settings.artifacts_path}; "
            "import the ceremony keys (zkai.circuits.import_ceremony_zkey) first"
        )
    return build_circuit_dev(manifest, artifacts_root=settings.artifacts_path)


def check_version(
    chain: ChainClient, model_id: int, manifest: Manifest, artifacts: CircuitArtifacts
) -> ServedModel:
    """Check `manifest` and `artifacts` against the model's current on-chain version."""
    registry = chain.contract("ModelRegistry")
    model, version = chain.call(registry.functions.getCurrent(model_id))
    _owner, latest, _active = model
    adapter_address, _price, commitment, n_in, n_out, _shares, _published = version
    if int(latest) == 0:
        raise ModelMismatchError(f"model {model_id} is not registered on this chain")
    if bytes(commitment) != manifest.content_hash:
        raise ModelMismatchError(
            f"model {model_id} version {latest} commits to 0x{bytes(commitment).hex()}, but the "
            f"local manifest {manifest.name!r} hashes to 0x{manifest.content_hash.hex()}; "
            "fetch the current manifest"
        )
    if (int(n_in), int(n_out)) != (manifest.input_size, manifest.output_size):
        raise ModelMismatchError(f"model {model_id}: sizes on-chain differ from the manifest's")
    adapter = chain.w3.eth.contract(
        address=to_checksum_address(adapter_address),
        abi=[
            {"type": "function", "name": "groth16Verifier", "stateMutability": "view",
             "inputs": [], "outputs": [{"name": "", "type": "address"}]},
            {"type": "function", "name": "publicInputCount", "stateMutability": "view",
             "inputs": [], "outputs": [{"name": "", "type": "uint256"}]},
        ],
    )
    try:
        inner = chain.call(adapter.functions.groth16Verifier())
        n_public = int(chain.call(adapter.functions.publicInputCount()))
    except Exception as exc:  # not an adapter: a call to a contract without these functions
        raise ModelMismatchError(
            f"model {model_id}'s verifier {adapter_address} is not a Groth16VerifierAdapter "
            f"({exc}); this node cannot check its keys"
        ) from exc
    code = bytes(with_retries(lambda: chain.w3.eth.get_code(to_checksum_address(inner))))
    expected = bytes.fromhex(artifacts.verifier_build["deployed_bytecode"].removeprefix("0x"))
    if code != expected or n_public != artifacts.n_public:
        raise ModelMismatchError(
            f"model {model_id} version {latest}: the verifier on-chain ({inner}) is not the one "
            f"compiled from the local circuit keys ({artifacts.directory}); proofs from these keys "
            "would be rejected. Use the model owner's keys (ceremony .zkey) for this version"
        )
    return ServedModel(model_id, int(latest), to_checksum_address(adapter_address), artifacts)


def load_served_models(
    chain: ChainClient,
    model_ids: Sequence[int],
    settings: Settings,
    *,
    build: bool = True,
    catalog_root: Path | None = None,
) -> dict[str, ServedModel]:
    """verifier (adapter) address, lower case -> the checked model version and its artifacts."""
    catalog = ModelCatalog(chain.deployment.chain_id, root=catalog_root or settings.data_dir)
    served: dict[str, ServedModel] = {}
    for model_id in model_ids:
        try:
            manifest = catalog.get(str(model_id)).manifest()
        except UnknownModelError as exc:
            raise ModelMismatchError(
                f"model {model_id} is in this node's metadata but not in the model catalogue "
                f"({catalog.path}): {exc}"
            ) from exc
        artifacts = _artifacts(manifest, settings, build)
        model = check_version(chain, model_id, manifest, artifacts)
        served[model.verifier.lower()] = model
    return served

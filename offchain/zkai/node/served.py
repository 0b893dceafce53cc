"""The models a node serves, checked against the chain, with their circuits loaded once per version.

A node serves the model ids in its on-chain metadata (`{"name": ..., "models": [ids]}`), every
version of them: queries snapshot their version's verifier (the adapter), model id and version,
so a query made on an older version is proven with that version's keys.

Loading one version (`load_version`; `load_served_models` does it for the current version of
each served model at start-up):

1. the version is read from `ModelRegistry` (`getVersion`, or `getCurrent` at start-up);
2. its manifest is found by the version's weights commitment (`zkai.models.store.resolve_manifest`:
   the node's manifest store `<data_dir>/manifests/`, then the model catalogue's entry
   (`zkai.models.catalog`) if it hashes to the commitment, then the API's
   `GET /api/manifests/0x<hash>` at ZKAI_API_URL, always checked against the hash);
3. the circuit artifacts are loaded from the cache (built with the development setup if missing,
   outside production);
4. the generated verifier behind the version's adapter must have exactly the runtime code compiled
   from those artifacts, with the adapter's public input count matching (`check_version`).

Otherwise the node would prove with keys the chain does not accept. At start-up that means the
node refuses to start, saying why. For a version met later (a query on a version published after
start-up, or an older one), the worker loads it when its first share arrives (`zkai.node.tasks`),
and the listener warms the cache when a new version is published (`zkai.node.listener`); there,
`ModelMismatchError` means "cannot serve this version" and `TransientNodeError` (the API or the
RPC did not answer) means "try again later".
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address

from zkai.chain.client import ChainClient, with_retries
from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import build_circuit_dev, load_artifacts
from zkai.config import Settings
from zkai.errors import (
    ContractRevertError,
    ManifestUnavailableError,
    ModelFormatError,
    ModelMismatchError,
    RpcUnavailableError,
    TransientNodeError,
    UnknownModelError,
)
from zkai.models.catalog import ModelCatalog
from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore, resolve_manifest

__all__ = [
    "OnChainVersion",
    "ServedModel",
    "check_version",
    "load_served_models",
    "load_version",
    "metadata_uri",
    "models_in_metadata",
    "read_version",
]

_ADAPTER_ABI = [
    {
        "type": "function",
        "name": "groth16Verifier",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "address"}],
    },
    {
        "type": "function",
        "name": "publicInputCount",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint256"}],
    },
]


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


@dataclass(frozen=True)
class OnChainVersion:
    """One published version of a model, as `ModelRegistry` records it."""

    model_id: int
    version: int
    verifier: str
    commitment: bytes
    input_size: int
    output_size: int


def read_version(chain: ChainClient, model_id: int, version: int | None = None) -> OnChainVersion:
    """Version `version` of a model (its current one when None); `ModelMismatchError` if the
    chain has no such model or version."""
    registry = chain.contract("ModelRegistry")
    if version is None:
        model, entry = chain.call(registry.functions.getCurrent(model_id))
        number = int(model[1])
        if number == 0:
            raise ModelMismatchError(f"model {model_id} is not registered on this chain")
    else:
        try:
            entry = chain.call(registry.functions.getVersion(model_id, version))
        except ContractRevertError as exc:
            raise ModelMismatchError(
                f"model {model_id} has no version {version} on this chain ({exc})"
            ) from exc
        number = version
    adapter, _price, commitment, n_in, n_out, _shares, _published = entry
    return OnChainVersion(
        model_id, number, to_checksum_address(adapter), bytes(commitment), int(n_in), int(n_out)
    )


def _check(
    chain: ChainClient, on_chain: OnChainVersion, manifest: Manifest, artifacts: CircuitArtifacts
) -> ServedModel:
    """The manifest hashes to the version's commitment, and the verifier is the artifacts'."""
    model_id, number = on_chain.model_id, on_chain.version
    if on_chain.commitment != manifest.content_hash:
        raise ModelMismatchError(
            f"model {model_id} version {number} commits to 0x{on_chain.commitment.hex()}, but "
            f"the local manifest {manifest.name!r} hashes to 0x{manifest.content_hash.hex()}; "
            "fetch the current manifest"
        )
    if (on_chain.input_size, on_chain.output_size) != (manifest.input_size, manifest.output_size):
        raise ModelMismatchError(
            f"model {model_id} version {number}: sizes on-chain differ from the manifest's"
        )
    adapter = chain.w3.eth.contract(
        address=to_checksum_address(on_chain.verifier), abi=_ADAPTER_ABI
    )
    try:
        inner = chain.call(adapter.functions.groth16Verifier())
        n_public = int(chain.call(adapter.functions.publicInputCount()))
    except RpcUnavailableError:
        raise
    except Exception as exc:  # not an adapter: a call to a contract without these functions
        raise ModelMismatchError(
            f"model {model_id} version {number}'s verifier {on_chain.verifier} is not a "
            f"Groth16VerifierAdapter ({exc}); this node cannot check its keys"
        ) from exc
    code = bytes(with_retries(lambda: chain.w3.eth.get_code(to_checksum_address(inner))))
    expected = bytes.fromhex(artifacts.verifier_build["deployed_bytecode"].removeprefix("0x"))
    if code != expected or n_public != artifacts.n_public:
        raise ModelMismatchError(
            f"model {model_id} version {number}: the verifier on-chain ({inner}) is not the one "
            f"compiled from the local circuit keys ({artifacts.directory}); proofs from these keys "
            "would be rejected. Use the model owner's keys (ceremony .zkey) for this version"
        )
    return ServedModel(model_id, number, on_chain.verifier, artifacts)


def check_version(
    chain: ChainClient,
    model_id: int,
    manifest: Manifest,
    artifacts: CircuitArtifacts,
    *,
    version: int | None = None,
) -> ServedModel:
    """Check `manifest` and `artifacts` against version `version` of the model on-chain (the
    current version when None)."""
    return _check(chain, read_version(chain, model_id, version), manifest, artifacts)


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


def _catalog_candidates(catalog: ModelCatalog, model_id: int) -> list[Manifest]:
    """The catalogue entry's manifest, if the model has an entry (see `manifest_candidates`)."""
    try:
        entry = catalog.get(str(model_id))
    except UnknownModelError:
        return []
    return entry.manifest_candidates()


def _manifest(on_chain: OnChainVersion, settings: Settings, catalog: ModelCatalog) -> Manifest:
    """The manifest of a version, found by its commitment (see the module docstring)."""
    store = ManifestStore(settings.manifests_path)
    what = (
        f"the manifest of model {on_chain.model_id} version {on_chain.version} "
        f"(0x{on_chain.commitment.hex()})"
    )
    fix = (
        f"put it into {store.root}/ as {on_chain.commitment.hex()}.json, point the catalogue "
        f"({catalog.path}) at it, or set ZKAI_API_URL to an API that serves it"
    )
    try:
        return resolve_manifest(
            on_chain.commitment,
            candidates=_catalog_candidates(catalog, on_chain.model_id),
            store=store,
            api_url=settings.api_base_url,
        )
    except ManifestUnavailableError as exc:
        raise TransientNodeError(
            f"{what} is neither in the node's manifest store nor in its catalogue, and the "
            f"API did not answer ({exc}); retrying. To fix: {fix}"
        ) from exc
    except UnknownModelError as exc:
        raise ModelMismatchError(f"{what} is not found ({exc}). To fix: {fix}") from exc
    except ModelFormatError as exc:  # the API served something that is not a manifest
        raise ModelMismatchError(f"{what}: the API served a malformed manifest ({exc})") from exc


def _load(
    chain: ChainClient,
    on_chain: OnChainVersion,
    settings: Settings,
    build: bool,
    catalog: ModelCatalog,
) -> ServedModel:
    manifest = _manifest(on_chain, settings, catalog)
    artifacts = _artifacts(manifest, settings, build)
    return _check(chain, on_chain, manifest, artifacts)


def _catalog(chain: ChainClient, settings: Settings, root: Path | None) -> ModelCatalog:
    return ModelCatalog(chain.deployment.chain_id, root=root or settings.data_dir)


def load_version(
    chain: ChainClient,
    model_id: int,
    version: int,
    settings: Settings,
    *,
    node_models: Collection[int],
    build: bool = True,
    catalog_root: Path | None = None,
) -> ServedModel:
    """Version `version` of model `model_id`, checked, with its artifacts (built if missing).

    `node_models` are the model ids in the node's on-chain metadata: any other model is refused.
    `ModelMismatchError` when the node cannot serve that version (model not served, manifest not
    found, keys not the chain's); `TransientNodeError` / `RpcUnavailableError` when the API or
    the RPC did not answer.
    """
    if model_id not in node_models:
        raise ModelMismatchError(
            f"model {model_id} is not in this node's on-chain metadata (it serves "
            f"{sorted(node_models) or 'none'}); add it with `zkai node register <name> -m ...`"
        )
    catalog = _catalog(chain, settings, catalog_root)
    return _load(chain, read_version(chain, model_id, version), settings, build, catalog)


def load_served_models(
    chain: ChainClient,
    model_ids: Sequence[int],
    settings: Settings,
    *,
    build: bool = True,
    catalog_root: Path | None = None,
) -> dict[str, ServedModel]:
    """verifier (adapter) address, lower case -> the current version of each model and its
    artifacts. Raises (`ModelMismatchError`, ...) if one of them cannot be served."""
    catalog = _catalog(chain, settings, catalog_root)
    served: dict[str, ServedModel] = {}
    for model_id in model_ids:
        model = _load(chain, read_version(chain, model_id), settings, build, catalog)
        served[model.verifier.lower()] = model
    return served

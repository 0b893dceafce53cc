"""Share circuits: circom source from a manifest, cached Groth16 builds, proving, verifying.

- `source`: the circuit of a manifest (commitment chain + W share + mask).
- `artifacts`: a built circuit's files and the keys loaded from them (`CircuitArtifacts`).
- `build`: keys and Solidity verifier, cached by content hash; `build_circuit_dev` (single-party
  setup, DEVELOPMENT ONLY) and `import_ceremony_zkey` (production keys).
- `prove`: `prove_share`, `verify_share_proof` and the snarkjs proof format.
- `witness`: the fast witness path (the circuit's wasm under Node).
"""

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import (
    build_circuit_dev,
    circuit_info,
    import_ceremony_zkey,
    load_artifacts,
)
from zkai.circuits.prove import (
    ShareProof,
    proof_to_snarkjs,
    prove_share,
    share_public_inputs,
    verify_share_proof,
)

__all__ = [
    "CircuitArtifacts",
    "ShareProof",
    "build_circuit_dev",
    "circuit_info",
    "import_ceremony_zkey",
    "load_artifacts",
    "proof_to_snarkjs",
    "prove_share",
    "share_public_inputs",
    "verify_share_proof",
]

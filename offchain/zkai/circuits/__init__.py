"""Part circuits (protocol version 2): circom source from a manifest, cached Groth16 builds,
proving an assignment's rounds in one proof, verifying.

- `part_source`: the circuit of one part with R_max slots, proving one chunk of an assignment
  (public tag, n0, T_n0|0, O_n0|0, n, T_n, O_{n-1}, O_n).
- `statement`: its public and private inputs computed in Python; `round_outputs` for nodes.
- `artifacts`: a built circuit's files, keys, `vk_words()`, `circuit_hash`, `key_hash`.
- `build`: keys cached by content hash; `build_part_dev` (single-party setup, DEVELOPMENT ONLY)
  and `import_ceremony_zkey` (production keys).
- `prove`: low-level proving of inputs, verification, proof formats (words, snarkjs).
- `part`: the API: `part_artifacts`, `prove_part`, `verify_part`, `round_outputs`.
- `witness`: the fast witness path (the circuit's wasm under Node).
- `measure`: constraints and proving times (`python -m zkai.circuits.measure`).
"""

from zkai.circuits.artifacts import PartArtifacts
from zkai.circuits.build import import_ceremony_zkey, load_part_artifacts
from zkai.circuits.part import PartProof, part_artifacts, prove_part, round_outputs, verify_part
from zkai.circuits.statement import ChunkStart, Opening, check_openings, public_inputs

__all__ = [
    "ChunkStart",
    "Opening",
    "PartArtifacts",
    "PartProof",
    "check_openings",
    "import_ceremony_zkey",
    "load_part_artifacts",
    "part_artifacts",
    "prove_part",
    "public_inputs",
    "round_outputs",
    "verify_part",
]

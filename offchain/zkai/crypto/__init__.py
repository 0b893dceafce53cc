"""Cryptographic building blocks: field encoding, sharing, Poseidon and sealed boxes.

- `field`: BN254 scalar field, signed fixed-point encoding with overflow checks.
- `sharing`: additive shares, masks, salts, commitments and the versioned share payload.
- `poseidon`: circomlib-compatible Poseidon and the project's vector hash.
- `encryption`: X25519 sealed boxes to node keys.
"""

__all__: list[str] = []

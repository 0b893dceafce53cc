"""The "decoder" section of a manifest: what a language model's user-side program reads.

A decoder manifest (`zkai.models.manifest`) is a normal "zkai-model/2" manifest whose five linear
blocks are a transformer block's projections and its LM head (`DECODER_ROLES`, in block order),
plus this object: the vocabulary, context, sizes, quantised token and position embeddings,
layer-norm parameters and the role of each block. `zkai.models.decoder` runs the program.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zkai.crypto.field import MAX_SCALE_BITS
from zkai.errors import ModelFormatError

__all__ = [
    "DECODER_ACTIVATIONS",
    "DECODER_ROLES",
    "MAX_CONTEXT",
    "MAX_VOCAB",
    "DecoderSpec",
    "LayerNorm",
]

DECODER_ROLES = ("qkv", "attention_out", "mlp_up", "mlp_down", "lm_head")
"""The decoder's linear blocks in block order (block b has role DECODER_ROLES[b])."""
DECODER_ACTIVATIONS = ("relu",)
_DECODER_FIELDS = frozenset(
    {
        "vocab",
        "context",
        "d_model",
        "heads",
        "mlp_hidden",
        "activation",
        "param_scale_bits",
        "token_embedding",
        "position_embedding",
        "layer_norms",
        "blocks",
    }
)
_OPTIONAL_DECODER_FIELDS = frozenset({"forbidden"})
_LAYER_NORMS = ("ln1", "ln2", "ln_final")
MAX_CONTEXT = 4096
MAX_VOCAB = 4096


def _int_rows(value: object, what: str, rows: int, cols: int) -> tuple[tuple[int, ...], ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != rows:
        raise ModelFormatError(f"decoder {what} must be {rows} rows of {cols} integers")
    return tuple(_ints(row, f"{what}[{i}]", cols) for i, row in enumerate(value))


def _ints(value: object, what: str, size: int) -> tuple[int, ...]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != size
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ModelFormatError(f"decoder {what} must be a list of {size} integers")
    return tuple(value)


@dataclass(frozen=True)
class LayerNorm:
    """A layer norm's gain and shift, quantised at the decoder's param scale."""

    gamma: tuple[int, ...]
    beta: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"gamma": list(self.gamma), "beta": list(self.beta)}


@dataclass(frozen=True)
class DecoderSpec:
    """The "decoder" object: what the user-side program (`zkai.models.decoder`) needs.

    `vocab`: the characters a prompt may use, token i = vocab[i] (no duplicates). `context`:
    the most tokens (prompt + generated) one generation holds. Embedding tables and layer-norm
    parameters are integers at 2**param_scale_bits; layer norms are "ln1" (before qkv), "ln2"
    (before mlp-up) and "ln_final" (before the LM head), epsilon 1e-5. `blocks` maps each role
    in DECODER_ROLES to its block index, which must be the role's position.
    """

    vocab: str
    context: int
    d_model: int
    heads: int
    mlp_hidden: int
    activation: str
    param_scale_bits: int
    token_embedding: tuple[tuple[int, ...], ...]
    position_embedding: tuple[tuple[int, ...], ...]
    layer_norms: tuple[tuple[str, LayerNorm], ...]
    blocks: tuple[tuple[str, int], ...]
    forbidden: tuple[int, ...] = ()
    """The model owner's usage policy: token ids that must not occur in a prompt (sorted,
    distinct; empty for none). Part of the manifest, so of its hash and its validity rule
    (`zkai.models.rule`), which proves the rule on-chain."""

    def __post_init__(self) -> None:
        for what in ("context", "d_model", "heads", "mlp_hidden", "param_scale_bits"):
            value = getattr(self, what)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ModelFormatError(f"decoder {what} must be a non-negative integer")
        if not isinstance(self.vocab, str) or not 2 <= len(self.vocab) <= MAX_VOCAB:
            raise ModelFormatError(f"decoder vocab must be a string of 2..{MAX_VOCAB} characters")
        if len(set(self.vocab)) != len(self.vocab):
            doubled = sorted({c for c in self.vocab if self.vocab.count(c) > 1})
            raise ModelFormatError(f"decoder vocab repeats characters {doubled!r}")
        if not 2 <= self.context <= MAX_CONTEXT:
            raise ModelFormatError(f"decoder context must be in 2..{MAX_CONTEXT}")
        if self.heads < 1 or self.d_model < 1 or self.d_model % self.heads != 0:
            raise ModelFormatError("decoder d_model must be a positive multiple of heads")
        if self.mlp_hidden < 1:
            raise ModelFormatError("decoder mlp_hidden must be positive")
        if self.param_scale_bits > MAX_SCALE_BITS:
            raise ModelFormatError(f"decoder param_scale_bits must be in 0..{MAX_SCALE_BITS}")
        if self.activation not in DECODER_ACTIVATIONS:
            raise ModelFormatError(
                f"decoder activation {self.activation!r} is not one of {DECODER_ACTIVATIONS}"
            )
        d = self.d_model
        object.__setattr__(
            self,
            "token_embedding",
            _int_rows(self.token_embedding, "token_embedding", len(self.vocab), d),
        )
        object.__setattr__(
            self,
            "position_embedding",
            _int_rows(self.position_embedding, "position_embedding", self.context, d),
        )
        norms = dict(self.layer_norms)
        if sorted(norms) != sorted(_LAYER_NORMS) or len(self.layer_norms) != len(_LAYER_NORMS):
            raise ModelFormatError(f"decoder layer_norms must be exactly {list(_LAYER_NORMS)}")
        checked = []
        for name in _LAYER_NORMS:
            norm = norms[name]
            if not isinstance(norm, LayerNorm):
                raise ModelFormatError(f"decoder layer norm {name} must be a LayerNorm")
            checked.append(
                (
                    name,
                    LayerNorm(
                        _ints(norm.gamma, f"{name} gamma", d), _ints(norm.beta, f"{name} beta", d)
                    ),
                )
            )
        object.__setattr__(self, "layer_norms", tuple(checked))
        if dict(self.blocks) != {role: b for b, role in enumerate(DECODER_ROLES)} or len(
            self.blocks
        ) != len(DECODER_ROLES):
            raise ModelFormatError(
                "decoder blocks must map "
                + ", ".join(f"{role} -> {b}" for b, role in enumerate(DECODER_ROLES))
            )
        object.__setattr__(self, "blocks", tuple((role, b) for b, role in enumerate(DECODER_ROLES)))
        forbidden = self.forbidden
        if (
            not isinstance(forbidden, Sequence)
            or isinstance(forbidden, str)
            or not all(isinstance(t, int) and not isinstance(t, bool) for t in forbidden)
            or list(forbidden) != sorted(set(forbidden))
            or not all(0 <= t < len(self.vocab) for t in forbidden)
        ):
            raise ModelFormatError(
                f"decoder forbidden (the usage policy) must be distinct token ids in "
                f"0..{len(self.vocab) - 1}, in increasing order"
            )
        if len(forbidden) >= len(self.vocab):
            raise ModelFormatError("decoder forbidden (the usage policy) forbids every token")
        object.__setattr__(self, "forbidden", tuple(forbidden))

    def layer_norm(self, name: str) -> LayerNorm:
        return dict(self.layer_norms)[name]

    @property
    def block_sizes(self) -> tuple[tuple[int, int], ...]:
        """(input size, output size) each block must have, in block order."""
        d, h, v = self.d_model, self.mlp_hidden, len(self.vocab)
        return ((d, 3 * d), (d, d), (d, h), (h, d), (d, v))

    def to_dict(self) -> dict[str, Any]:
        return {
            "vocab": self.vocab,
            "context": self.context,
            "d_model": self.d_model,
            "heads": self.heads,
            "mlp_hidden": self.mlp_hidden,
            "activation": self.activation,
            "param_scale_bits": self.param_scale_bits,
            "token_embedding": [list(r) for r in self.token_embedding],
            "position_embedding": [list(r) for r in self.position_embedding],
            "layer_norms": {name: norm.to_dict() for name, norm in self.layer_norms},
            "blocks": dict(self.blocks),
            # only with a policy, so manifests without one keep their hashes
            **({"forbidden": list(self.forbidden)} if self.forbidden else {}),
        }

    @classmethod
    def from_dict(cls, data: object) -> DecoderSpec:
        if not isinstance(data, Mapping):
            raise ModelFormatError("decoder must be a JSON object")
        missing = _DECODER_FIELDS - set(data)
        unknown = set(data) - _DECODER_FIELDS - _OPTIONAL_DECODER_FIELDS
        if missing or unknown:
            raise ModelFormatError(
                f"decoder fields: missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        norms = data["layer_norms"]
        if not isinstance(norms, Mapping):
            raise ModelFormatError("decoder layer_norms must be an object")
        parsed = []
        for name, norm in norms.items():
            if not isinstance(norm, Mapping) or set(norm) != {"gamma", "beta"}:
                raise ModelFormatError(f"decoder layer norm {name!r} must have gamma and beta")
            parsed.append((str(name), LayerNorm(norm["gamma"], norm["beta"])))
        blocks = data["blocks"]
        if not isinstance(blocks, Mapping):
            raise ModelFormatError("decoder blocks must be an object (role -> block index)")
        return cls(
            vocab=data["vocab"],
            context=data["context"],
            d_model=data["d_model"],
            heads=data["heads"],
            mlp_hidden=data["mlp_hidden"],
            activation=data["activation"],
            param_scale_bits=data["param_scale_bits"],
            token_embedding=data["token_embedding"],
            position_embedding=data["position_embedding"],
            layer_norms=tuple(parsed),
            blocks=tuple(blocks.items()),
            forbidden=data.get("forbidden", ()),
        )

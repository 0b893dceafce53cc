"""The user's validity proof on a real chain (anvil), with the digits and breast-cancer rules as
`zkai up` registers them: a valid query is escrowed; every kind of invalid request is refused by
QueryMarket.requestQuery with InvalidValidityProof and escrows nothing (PROTOCOL.md, "User
validity proof"; issue #17)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3.logs import DISCARD

from tests.offchain.bench.lm_fixture import VOCAB, small_decoder
from zkai.circuits.validity import ValidityArtifacts, load_validity_artifacts, prove_validity
from zkai.client.session import PreparedRound, QuerySession
from zkai.client.validity import prove_prompt, validity_proof
from zkai.crypto.field import BN254_R, encode_signed_vector
from zkai.errors import ContractRevertError, ProofError
from zkai.localnet_state import anvil_account
from zkai.models.decoder import token_inputs
from zkai.models.demo import load_demo_manifest
from zkai.models.manifest import Manifest
from zkai.models.rule import rule_for
from zkai.models.store import ManifestStore
from zkai.node.chainview import ChainView
from zkai.node.keys import UnlockedNode
from zkai.node.rounds import RoundRefusedError, RoundService
from zkai.protocol.market import ValidityTerms, read_model, read_node, read_query
from zkai.protocol.payload import RoundOpening
from zkai.protocol.prompt import first_round_salt
from zkai.protocol.wire import RoundAnswer
from zkai.registration import (
    PartPricing,
    deploy_part_verifier,
    part_terms,
    register_model,
    validity_mismatch,
)

from .conftest import PRICE, Network
from .localchain import SentRound, UserQuery

SHARES = 2


@dataclass(frozen=True)
class Model:
    model_id: int
    manifest: Manifest
    validity: ValidityArtifacts
    nodes: tuple[UnlockedNode, UnlockedNode]

    @property
    def later_parts(self) -> list[list[str]]:
        """The same nodes for the parts after part 0 (a request names nodes for every part)."""
        return [[n.address for n in self.nodes] for _ in self.manifest.parts[1:]]


def _register(network: Network, name: str | Manifest) -> Model:
    manifest = load_demo_manifest(name) if isinstance(name, str) else name
    model_id, _ = register_model(
        network.chain,
        anvil_account(0),
        manifest,
        [PartPricing(PRICE, SHARES)] * len(manifest.parts),
    )
    ManifestStore(network.data_dir / "manifests").put(manifest)
    artifacts = load_validity_artifacts(rule_for(manifest, SHARES))
    assert artifacts is not None
    terms = read_model(network.chain, model_id)
    assert terms.validity.required
    assert terms.validity.rule_hash == artifacts.rule.hash
    assert terms.validity.key_hash == artifacts.key_hash
    parts = tuple(range(len(manifest.parts)))
    nodes = (
        network.new_node(model_id=model_id, parts=parts),
        network.new_node(model_id=model_id, parts=parts),
    )
    return Model(model_id, manifest, artifacts, nodes)


@pytest.fixture(scope="module")
def digits(network: Network) -> Model:
    return _register(network, "digits")


@pytest.fixture(scope="module")
def breast_cancer(network: Network) -> Model:
    return _register(network, "breast-cancer")


LM_FORBIDDEN = "h."


@pytest.fixture(scope="module")
def micro_lm(network: Network) -> Model:
    """A language model whose owner forbids "h" and "." in prompts (its usage policy)."""
    return _register(
        network,
        small_decoder(
            d=4, heads=1, hidden=8, context=6, forbidden=LM_FORBIDDEN, name="micro-lm-policy"
        ),
    )


def _query(network: Network, model: Model) -> UserQuery:
    return network.user_query(list(model.nodes), 1, model=(model.model_id, model.manifest))


def _keys(network: Network, model: Model) -> dict[str, bytes]:
    registry = network.chain.contract("NodeRegistry")
    return {n.address: bytes(registry.functions.getNode(n.address).call()[0]) for n in model.nodes}


def _valid_input(manifest: Manifest) -> list[int]:
    return [
        random.randint(lo, hi)
        for lo, hi in zip(manifest.input_min, manifest.input_max, strict=True)
    ]


def _proof(model: Model, user: UserQuery, sent: Sequence[SentRound]) -> list[int]:
    """Round 1's proof for `sent` (a language model's with salts Poseidon(D, rho_a), as its
    round 1 has, for some digest D)."""
    tags = [user.tag(n.address) for n in model.nodes]
    openings = [s.payload.opening() for s in sent]
    prompt = None
    if model.validity.rule.kind == "tokens":
        digest = random.randrange(BN254_R)
        prompt = (digest, [o.salt for o in openings])
        openings = [dataclasses.replace(o, salt=first_round_salt(digest, o.salt)) for o in openings]
    return list(prove_validity(model.validity, tags, openings, prompt=prompt).proof)


def _balances(network: Network, user: UserQuery) -> tuple[int, int]:
    token = network.chain.contract("ZKAIToken")
    market = network.chain.deployment.address("QueryMarket")
    return (
        int(network.chain.call(token.functions.balanceOf(user.user.address))),
        int(network.chain.call(token.functions.balanceOf(market))),
    )


def _refused(network: Network, user: UserQuery, **request: object) -> None:
    before = _balances(network, user)
    with pytest.raises(ContractRevertError, match="InvalidValidityProof"):
        user.request(**request)  # type: ignore[arg-type]
    assert _balances(network, user) == before  # nothing escrowed
    assert not read_query(network.chain, user.query).exists  # nothing recorded


def test_a_valid_query_is_escrowed(network: Network, digits: Model) -> None:
    user = _query(network, digits)
    sent = user.deal(1, encode_signed_vector(_valid_input(digits.manifest)), _keys(network, digits))
    before = _balances(network, user)
    receipt = user.request(proof=_proof(digits, user, sent))
    assert receipt["status"] == 1
    escrow = SHARES * PRICE
    assert _balances(network, user) == (before[0] - escrow, before[1] + escrow)


def test_a_request_without_a_proof_is_refused(network: Network, digits: Model) -> None:
    user = _query(network, digits)
    user.deal(1, encode_signed_vector(_valid_input(digits.manifest)), _keys(network, digits))
    _refused(network, user)  # the zero proof


def test_out_of_range_features_cannot_be_proven_nor_posted(network: Network, digits: Model) -> None:
    """The nodes would get shares of x with a feature of 17 (digits' pixels are 0..16): the
    client's prover refuses it, and a proof of a valid x' posted beside x's commitments is
    refused on-chain."""
    x = _valid_input(digits.manifest)
    x[5] = 17
    user = _query(network, digits)
    sent = user.deal(1, encode_signed_vector(x), _keys(network, digits))
    with pytest.raises(ProofError, match="does not satisfy the validity rule"):
        _proof(digits, user, sent)
    valid = user.deal(
        1, encode_signed_vector(_valid_input(digits.manifest)), _keys(network, digits)
    )
    proof = _proof(digits, user, valid)
    _refused(network, user, proof=proof, first=[s.commitment for s in sent])


def test_shares_that_do_not_sum_to_the_proven_input_are_refused(
    network: Network, digits: Model
) -> None:
    user = _query(network, digits)
    sent = user.deal(1, encode_signed_vector(_valid_input(digits.manifest)), _keys(network, digits))
    proof = _proof(digits, user, sent)
    # node 1 is sent a share shifted by one: its commitment is not the proven one
    opening = sent[1].payload.opening()
    shifted = RoundOpening((opening.share[0] + 1, *opening.share[1:]), opening.mask, opening.salt)
    first = [
        sent[0].commitment,
        shifted.commitment(user.tag(digits.nodes[1].address), sent[1].header),
    ]
    _refused(network, user, proof=proof, first=first)


def test_a_commitment_that_opens_to_something_else_is_refused(
    network: Network, digits: Model
) -> None:
    user = _query(network, digits)
    sent = user.deal(1, encode_signed_vector(_valid_input(digits.manifest)), _keys(network, digits))
    proof = _proof(digits, user, sent)
    _refused(network, user, proof=proof, first=[sent[0].commitment, sent[0].commitment])
    _refused(network, user, proof=proof, first=[sent[1].commitment, sent[0].commitment])


def test_a_proof_from_another_query_is_refused(network: Network, digits: Model) -> None:
    first = _query(network, digits)
    sent = first.deal(
        1, encode_signed_vector(_valid_input(digits.manifest)), _keys(network, digits)
    )
    proof = _proof(digits, first, sent)
    first.request(proof=proof)
    # the same proof and commitments in a new request (another salt: other tags)
    again = _query(network, digits)
    again.deal(1, [0] * 64, _keys(network, digits))
    _refused(network, again, proof=proof, first=[s.commitment for s in sent])


def test_a_proof_for_another_models_rule_is_refused(
    network: Network, digits: Model, breast_cancer: Model
) -> None:
    user = _query(network, breast_cancer)
    sent = user.deal(
        1, encode_signed_vector(_valid_input(breast_cancer.manifest)), _keys(network, breast_cancer)
    )
    proof = _proof(breast_cancer, user, sent)
    # the breast-cancer proof on a digits request with the same nodes' tags is refused
    target = network.user_query(list(digits.nodes), 1, model=(digits.model_id, digits.manifest))
    target.deal(1, encode_signed_vector(_valid_input(digits.manifest)), _keys(network, digits))
    _refused(network, target, proof=proof)
    # and it holds where it belongs
    assert user.request(proof=proof)["status"] == 1


def test_a_rule_its_manifest_does_not_give_is_refused_by_nodes_and_clients(
    network: Network, digits: Model, breast_cancer: Model, tmp_path: Path
) -> None:
    """An owner registers digits with breast-cancer's validity verifier (5 inputs, its own key:
    the registry accepts it) under digits' rule hash: that circuit checks other ranges, so the
    digits rule would not be enforced. Clients refuse before paying; nodes refuse round 1."""
    manifest = digits.manifest
    owner = anvil_account(0)
    terms = part_terms(network.chain, owner, manifest, [PartPricing(PRICE, SHARES)])
    other = breast_cancer.validity
    forged = ValidityTerms(
        verifier=deploy_part_verifier(network.chain, owner, other),
        rule_hash=digits.validity.rule.hash,
        circuit_hash=other.circuit_hash,
        key_hash=other.key_hash,
    )
    registry = network.chain.contract("ModelRegistry")
    receipt = network.chain.transact(
        owner,
        registry.functions.registerModel(
            manifest.hash, "test:forged-rule", [t.as_tuple() for t in terms], forged.as_tuple()
        ),
    )
    (event,) = registry.events.ModelRegistered().process_receipt(receipt, errors=DISCARD)
    model_id = int(event["args"]["modelId"])
    version_terms = read_model(network.chain, model_id)
    reason = validity_mismatch(manifest, version_terms)
    assert reason is not None
    assert "validity circuit is not" in reason
    assert validity_mismatch(manifest, read_model(network.chain, digits.model_id)) is None
    node = network.new_node(model_id=model_id)
    service = network.service(node, tmp_path / "rounds.sqlite3")
    served = service.parts.get(model_id, 1, 0)
    assert served.limits_mismatch is not None
    assert "input rule" in served.limits_mismatch


def _token(manifest: Manifest, character: str) -> list[int]:
    """Round 1's input for `character` as the first token (position 0)."""
    return encode_signed_vector(token_inputs(manifest)[0][VOCAB.index(character)])


def test_a_language_models_first_token_is_proven_and_escrowed(
    network: Network, micro_lm: Model, tmp_path: Path
) -> None:
    """A one-token prompt: round 1's salt is the digest of no later commitments, and the
    request's proof of that token is accepted and the fee escrowed."""
    assert micro_lm.validity.rule.kind == "tokens"
    market = network.chain.deployment.address("QueryMarket")
    token = network.chain.contract("ZKAIToken")
    before = int(network.chain.call(token.functions.balanceOf(market)))
    q = _prompt_query(network, micro_lm, tmp_path, "a")
    assert q.session.prompt is not None
    assert q.session.prompt.rows == ((), ())
    assert int(network.chain.call(token.functions.balanceOf(market))) > before
    q.run(q.first)


@pytest.mark.parametrize("case", ["forbidden", "no_token"])
def test_a_forbidden_or_non_token_first_position_is_refused(
    network: Network, micro_lm: Model, case: str
) -> None:
    """The nodes would get shares of a forbidden token's embedding (or of a vector that is no
    token's): the client cannot prove it, and an allowed token's proof posted beside its
    commitments is refused on-chain with nothing escrowed."""
    x = _token(micro_lm.manifest, "h")
    if case == "no_token":
        x = _token(micro_lm.manifest, "a")
        x[0] += 1
    user = _query(network, micro_lm)
    keys = _keys(network, micro_lm)
    sent = user.deal(1, x, keys)
    with pytest.raises(ProofError, match="does not satisfy the validity rule"):
        _proof(micro_lm, user, sent)
    proof = _proof(micro_lm, user, user.deal(1, _token(micro_lm.manifest, "b"), keys))
    first = [s.commitment for s in sent]
    _refused(network, user, proof=proof, first=first, later_parts=micro_lm.later_parts)


def test_a_usage_policy_without_a_registered_rule_is_refused(
    network: Network, micro_lm: Model, tmp_path: Path
) -> None:
    """An owner publishes a manifest with a policy but registers no input rule: the policy
    would be shown and never proven, so nodes and clients refuse the version."""
    manifest = micro_lm.manifest
    pricing = [PartPricing(PRICE, SHARES)] * len(manifest.parts)
    model_id, _ = register_model(network.chain, anvil_account(0), manifest, pricing, validity=False)
    terms = read_model(network.chain, model_id)
    assert terms.validity == ValidityTerms.NONE
    reason = validity_mismatch(manifest, terms)
    assert reason is not None
    assert "usage policy" in reason
    node = network.new_node(model_id=model_id)
    served = network.service(node, tmp_path / "rounds.sqlite3").parts.get(model_id, 1, 0)
    assert served.limits_mismatch is not None
    assert "usage policy" in served.limits_mismatch
    # a language model without a policy may go without a rule (nothing is claimed for it)
    plain = small_decoder(d=4, heads=1, hidden=8, context=6, name="micro-lm-plain")
    plain_id, _ = register_model(network.chain, anvil_account(0), plain, pricing, validity=False)
    assert validity_mismatch(plain, read_model(network.chain, plain_id)) is None


# -- the prompt's later tokens (zkai.protocol.prompt): each proven, checked by part 0's nodes ----


@dataclass
class PromptQuery:
    """A paid generation's part 0 driven by the real client session against two in-process
    round services (the nodes' round logic, their stores, the chain)."""

    model: Model
    user: UserQuery
    session: QuerySession
    services: dict[str, RoundService]
    first: list[PreparedRound] = dataclasses.field(default_factory=list)

    def block(self, i: int) -> int:
        return self.model.manifest.part(0).block_for_round(i)

    def prepare(self, i: int, x: Sequence[int] | None = None) -> list[PreparedRound]:
        """Round i for both nodes: `x` (signed) or, inside a pass, any input of the block."""
        block = self.model.manifest.block(self.block(i))
        values = encode_signed_vector(
            list(x) if x is not None else [random.randint(-9, 9)] * block.input_size
        )
        return self.session.prepare_block(0, block.index, values, block.output_size)

    def serve(self, prepared: PreparedRound) -> RoundAnswer:
        return self.services[prepared.node].serve(prepared.request)

    def run(self, pending: Sequence[PreparedRound]) -> None:
        for p in pending:
            self.session.accept(p, self.serve(p))

    def refused(self, prepared: PreparedRound, reason: str, **changes: object) -> None:
        request = dataclasses.replace(prepared.request, **changes)
        with pytest.raises(RoundRefusedError) as refused:
            self.services[prepared.node].serve(request)
        assert refused.value.reason == reason, refused.value


def _token_at(manifest: Manifest, t: int, character: str) -> tuple[int, ...]:
    return token_inputs(manifest)[t][VOCAB.index(character)]


def _prompt_query(network: Network, model: Model, tmp_path: Path, prompt: str) -> PromptQuery:
    """A query whose prompt's later tokens are dealt and proven (`prove_prompt`), its request
    posted with round 1's proof; nothing served yet."""
    user = network.user_query(
        list(model.nodes), 2 * len(prompt) + 2, model=(model.model_id, model.manifest)
    )
    view = ChainView(network.chain, 0)
    session = QuerySession(
        view.chain_id, view.market, user.user.address, salt=user.salt, session_key=user.session
    )
    for n in model.nodes:
        info = read_node(network.chain, n.address)
        session.add_assignment(
            0,
            n.address,
            encryption_key=info.encryption_key,
            ack_signer=info.ack_signer,
            endpoint="",
            budget=user.budget,
        )
    tokens = [VOCAB.index(c) for c in prompt]
    if all(c not in LM_FORBIDDEN for c in prompt):
        prove_prompt(model.validity, session, model.manifest, tokens)
    else:  # what a client that skips the policy deals: the circuit cannot prove it
        rule = model.validity.rule
        secrets = [
            encode_signed_vector(_token_at(model.manifest, t, c)) for t, c in enumerate(prompt)
        ]
        block = model.manifest.block(rule.block)
        session.deal_prompt(rule.block, rule.round_stride, secrets[1:], block.output_size)
    services = {
        n.address: network.service(n, tmp_path / f"{n.address}.sqlite3") for n in model.nodes
    }
    query = PromptQuery(model, user, session, services)
    first = query.prepare(1, _token_at(model.manifest, 0, prompt[0]))
    nodes = [n.address for n in model.nodes]
    proof = validity_proof(model.validity, nodes, session, first)
    receipt = user.request(
        proof=proof, first=[p.commitment for p in first], later_parts=model.later_parts
    )
    assert receipt["status"] == 1
    query.first = first
    return query


def test_every_prompt_token_is_proven_and_checked_by_part_0s_nodes(
    network: Network, micro_lm: Model, tmp_path: Path
) -> None:
    """A three-token prompt: round 1 (proven on-chain) carries the later rounds' commitments,
    whose digest is its salt; rounds 3 and 5 each carry their token's proof, which both nodes
    check (eth_call to the registered verifier) before they compute. Every way of breaking
    that is refused with nothing signed, and the honest round is served after the refusals."""
    q = _prompt_query(network, micro_lm, tmp_path, "abc")
    first = q.first
    rows = q.session.prompt.rows if q.session.prompt else ()
    assert len(rows) == 2
    assert all(len(r) == 2 for r in rows)
    # round 1: the rows are needed, and must be the ones whose digest is the salt
    q.refused(first[0], "prompt-missing", prompt=None)
    q.refused(first[0], "prompt-malformed", prompt=rows[:1])
    context = micro_lm.manifest.decoder.context if micro_lm.manifest.decoder else 0
    q.refused(first[0], "prompt-malformed", prompt=((1,) * context, (2,) * context))
    swapped = (rows[0][::-1], rows[1][::-1])
    q.refused(first[0], "commitment-mismatch", prompt=swapped)
    q.run(first)
    q.run(q.prepare(2))
    third = q.prepare(3, _token_at(micro_lm.manifest, 1, "b"))
    assert all(p.request.validity is not None for p in third)
    # the token's proof is required, and must be this column's (round 1's is another's)
    q.refused(third[0], "validity-missing", validity=None)
    round_one_proof = tuple(validity_proof(micro_lm.validity, list(q.services), q.session, first))
    q.refused(third[0], "invalid-validity-proof", validity=round_one_proof)
    q.refused(third[1], "invalid-validity-proof", validity=(1, 2) * 4)
    q.run(third)
    q.run(q.prepare(4))
    # round 5 dealt afresh (not the committed payload) does not match the row
    assert q.session.prompt is not None
    committed = dict(q.session.prompt.secrets)
    del q.session.prompt.secrets[5]
    fresh = q.prepare(5, _token_at(micro_lm.manifest, 2, "c"))
    q.refused(fresh[0], "prompt-commitment-mismatch", validity=q.session.prompt.proofs[5])
    q.session.prompt.secrets.update(committed)
    q.run(q.prepare(5, _token_at(micro_lm.manifest, 2, "c")))
    # a generated token's round (position 3, after the prompt) carries no proof
    q.run(q.prepare(6))
    generated = q.prepare(7, _token_at(micro_lm.manifest, 3, "d"))
    assert all(p.request.validity is None for p in generated)
    q.run(generated)


def test_a_forbidden_later_prompt_token_is_refused_by_the_nodes(
    network: Network, micro_lm: Model, tmp_path: Path
) -> None:
    """A client that skips the policy deals "ah": the first token is proven and paid for, but
    "h" at position 1 cannot be proven, and neither node computes on its shares without a
    proof of that column."""
    q = _prompt_query(network, micro_lm, tmp_path, "ah")
    assert q.session.prompt is not None
    states = [q.session.assignment(0, n) for n in q.session.nodes_of(0)]
    openings = [q.session.prompt.opening(s.node, 3) for s in states]
    with pytest.raises(ProofError, match="does not satisfy the validity rule"):
        prove_validity(micro_lm.validity, [s.tag for s in states], openings, position=1)
    q.run(q.first)
    q.run(q.prepare(2))
    third = q.prepare(3, _token_at(micro_lm.manifest, 1, "h"))
    for p in third:
        q.refused(p, "validity-missing")
    # an allowed token's proof from another query does not open this column
    other = _prompt_query(network, micro_lm, tmp_path / "other", "ab")
    stolen = other.session.prompt.proofs[3] if other.session.prompt else ()
    for p in third:
        q.refused(p, "invalid-validity-proof", validity=stolen)

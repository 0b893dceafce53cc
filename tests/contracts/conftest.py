"""Fixtures of the contract tests: roles, the deployed v2 system, the toy circuits, and `proto`, a
helper that requests queries (with the user's validity proof when the version has an input rule),
proves and signs claims, and signs Acks exactly as nodes and users do.

Session-scoped fixtures deploy once per run; ape's isolation reverts every test's changes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from tests.contracts.zk import (
    FIELD,
    OTHER_RULE_VALIDITY_CIRCUIT,
    OTHER_VALIDITY_RULE,
    VALIDITY_CIRCUIT,
    VALIDITY_RULE,
    Circuit,
    Statement,
    load_circuit,
    load_validity_circuit,
    prove_validity,
    vk_hash,
)
from zkai.protocol.ids import assignment_tag, query_id
from zkai.protocol.messages import AckMessage, Domain, RoundMessage

ETHER = 10**18
SUPPLY_CAP = 10**9 * ETHER
INITIAL_SUPPLY = 10**8 * ETHER
MIN_STAKE = 1_000 * ETHER
UNBONDING_PERIOD = 7 * 24 * 3600
SLASH_AMOUNT = 100 * ETHER
PROTOCOL_FEE_BPS = 500
CONTRIBUTOR_FEE_BPS = 1_000
MIN_PROOF_WINDOW_FLOOR = 60
CHALLENGE_WINDOW = 3600
UNBONDING_MARGIN = 3600
CLAIM_WINDOW = 30 * 24 * 3600
USER_FUNDS = 10_000 * ETHER
NODE_FUNDS = 10_000 * ETHER

# The two-part model: part 0 has k = 2 nodes, part 1 has k = 1. Odd prices make the cuts round.
PART0 = {"price": ETHER + 7, "maxRounds": 4, "maxBudget": 4, "minProofWindow": 120, "shares": 2}
PART1 = {"price": 2 * ETHER + 3, "maxRounds": 3, "maxBudget": 3, "minProofWindow": 600, "shares": 1}
# The chunked model: one part, k = 2, claimed in chunks of at most R_max = 3 up to a budget of 8.
# The price makes every floor differ: cut(3p) != 3 cut(p), and the chunks' cuts
# 2 cut(3p) + cut(2p) != cut(8p) (at 500 and 1000 bps), so only per-chunk cuts conserve tokens.
CHUNKED = {"price": ETHER + 19, "maxRounds": 3, "maxBudget": 8, "minProofWindow": 120, "shares": 2}
ZERO_PERMIT = (0, 0, 0, b"\x00" * 32, b"\x00" * 32)
ZERO_ADDRESS = "0x" + "00" * 20
# ValidityTerms (verifier, ruleHash, circuitHash, keyHash) of a version without an input rule.
NO_VALIDITY = (ZERO_ADDRESS, 0, b"\x00" * 32, b"\x00" * 32)
# The requestQuery validity proof argument where the version has no rule (ignored there).
ZERO_PROOF = [0] * 8
VALIDITY_CIRCUIT_HASH = b"\xd1" * 32


def ack_signer_of(index: int) -> LocalAccount:
    """Node `index`'s ack signer (a key distinct from the node's own account)."""
    return Account.from_key((0xACC0 + index).to_bytes(32, "big"))


# ------------------------------------------------------------------ roles


@pytest.fixture(scope="session")
def owner(accounts):
    """Deployer and owner of every contract."""
    return accounts[0]


@pytest.fixture(scope="session")
def treasury(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def node_accounts(accounts):
    return [accounts[2], accounts[3], accounts[4]]


@pytest.fixture(scope="session")
def user(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def contributor(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def aggregator(accounts):
    return accounts[7]


@pytest.fixture(scope="session")
def model_owner(accounts):
    return accounts[8]


@pytest.fixture(scope="session")
def stranger(accounts):
    """An account with no role (and a spare node that did not register)."""
    return accounts[9]


# ------------------------------------------------------------------ contracts


@pytest.fixture(scope="session")
def token(project, owner):
    return project.ZKAIToken.deploy(owner, SUPPLY_CAP, owner, INITIAL_SUPPLY, sender=owner)


@pytest.fixture(scope="session")
def node_registry(project, owner, token, treasury):
    return project.NodeRegistry.deploy(
        owner, token, MIN_STAKE, UNBONDING_PERIOD, treasury, sender=owner
    )


@pytest.fixture(scope="session")
def factory(project, owner):
    return project.VerifierFactory.deploy(sender=owner)


@pytest.fixture(scope="session")
def model_registry(project, owner, factory):
    return project.ModelRegistry.deploy(factory, sender=owner)


@pytest.fixture(scope="session")
def rewards(project, owner, token, aggregator):
    contract = project.ContributorRewards.deploy(owner, token, CLAIM_WINDOW, sender=owner)
    contract.setAggregator(aggregator, True, sender=owner)
    return contract


MARKET_DEFAULTS: dict[str, Any] = {
    "protocolBps": PROTOCOL_FEE_BPS,
    "contributorBps": CONTRIBUTOR_FEE_BPS,
    "slashAmount": SLASH_AMOUNT,
    "minProofWindowFloor": MIN_PROOF_WINDOW_FLOOR,
    "challengeWindow": CHALLENGE_WINDOW,
    "unbondingMargin": UNBONDING_MARGIN,
}


@pytest.fixture(scope="session")
def deploy_market(project, owner, token, node_registry, model_registry, treasury, rewards):
    """Factory: a market with the default configuration, `overrides` applied by name."""

    def deploy(**overrides):
        assert set(overrides) <= set(MARKET_DEFAULTS), overrides
        config = {**MARKET_DEFAULTS, **overrides}
        return project.QueryMarket.deploy(
            token, node_registry, model_registry, treasury, rewards, *config.values(), sender=owner
        )

    return deploy


@pytest.fixture(scope="session")
def market(deploy_market, node_registry, owner, chain):
    contract = deploy_market()
    set_slasher(chain, node_registry, owner, contract, True)
    return contract


# ------------------------------------------------------------------ circuit, verifier, models


@pytest.fixture(scope="session")
def circuit() -> Circuit:
    return load_circuit()


@pytest.fixture(scope="session")
def verifier(project, factory, circuit, owner):
    factory.deploy(circuit.vk_words, sender=owner)
    address = factory.verifierOf(_vk_hash(circuit))
    return project.Groth16Verifier.at(address)


def _vk_hash(circuit: Circuit) -> bytes:
    return vk_hash(circuit.vk_words)


def part_terms(verifier, **terms) -> tuple[Any, ...]:
    """A PartTerms tuple: verifier, price, maxRounds, maxBudget, minProofWindow, shares,
    circuit/key hash. maxBudget defaults to maxRounds (never chunked)."""
    # The key hash a part declares must be its verifier's own (ModelRegistry checks it).
    key = bytes(verifier.vkHash()) if hasattr(verifier, "vkHash") else b"\xc2" * 32
    t = {**PART0, "circuitHash": b"\xc1" * 32, "keyHash": key, **terms}
    if "maxRounds" in terms and "maxBudget" not in terms:
        t["maxBudget"] = t["maxRounds"]
    return (
        verifier.address if hasattr(verifier, "address") else verifier,
        t["price"],
        t["maxRounds"],
        t["maxBudget"],
        t["minProofWindow"],
        t["shares"],
        t["circuitHash"],
        t["keyHash"],
    )


@pytest.fixture(scope="session")
def model2(model_registry, verifier, model_owner, nodes, node_registry):
    """Id of the two-part model; nodes 0, 1, 2 host part 0, node 2 also hosts part 1."""
    receipt = model_registry.registerModel(
        b"\x42" * 32,
        "ipfs://model2",
        [part_terms(verifier, **PART0), part_terms(verifier, **PART1)],
        NO_VALIDITY,
        sender=model_owner,
    )
    model_id = receipt.events.filter(model_registry.ModelRegistered)[0].modelId
    for node in nodes:
        node_registry.setParts(model_id, [0], True, sender=node)
    node_registry.setParts(model_id, [1], True, sender=nodes[2])
    return model_id


@pytest.fixture(scope="session")
def model1(model_registry, verifier, model_owner, nodes, node_registry):
    """Id of a one-part model with k = 1 (a one-layer model), hosted by node 0."""
    receipt = model_registry.registerModel(
        b"\x43" * 32,
        "ipfs://model1",
        [part_terms(verifier, price=3 * ETHER, maxRounds=1, minProofWindow=60, shares=1)],
        NO_VALIDITY,
        sender=model_owner,
    )
    model_id = receipt.events.filter(model_registry.ModelRegistered)[0].modelId
    node_registry.setParts(model_id, [0], True, sender=nodes[0])
    return model_id


@pytest.fixture(scope="session")
def model_chunked(model_registry, verifier, model_owner, nodes, node_registry):
    """Id of the one-part chunked model (CHUNKED: R_max 3, maxBudget 8, k = 2), nodes 0 and 1."""
    receipt = model_registry.registerModel(
        b"\x44" * 32,
        "ipfs://chunked",
        [part_terms(verifier, **CHUNKED)],
        NO_VALIDITY,
        sender=model_owner,
    )
    model_id = receipt.events.filter(model_registry.ModelRegistered)[0].modelId
    for node in nodes[:2]:
        node_registry.setParts(model_id, [0], True, sender=node)
    return model_id


def validity_terms(verifier, rule_hash: int = VALIDITY_RULE, **fields) -> tuple[Any, ...]:
    """A ValidityTerms tuple (verifier, ruleHash, circuitHash, keyHash) for a factory verifier
    (its own key hash unless `keyHash` is given)."""
    address = verifier.address if hasattr(verifier, "address") else verifier
    key = bytes(verifier.vkHash()) if hasattr(verifier, "vkHash") else b"\xd2" * 32
    t = {"circuitHash": VALIDITY_CIRCUIT_HASH, "keyHash": key, **fields}
    return (address, rule_hash, t["circuitHash"], t["keyHash"])


@pytest.fixture(scope="session")
def validity_circuit() -> Circuit:
    """The toy validity circuit (k = 2) of the rule VALIDITY_RULE."""
    return load_validity_circuit(VALIDITY_CIRCUIT)


@pytest.fixture(scope="session")
def other_rule_circuit() -> Circuit:
    """The toy validity circuit (k = 2) of another rule, OTHER_VALIDITY_RULE."""
    return load_validity_circuit(OTHER_RULE_VALIDITY_CIRCUIT)


def _factory_verifier(project, factory, circuit: Circuit, owner) -> Any:
    factory.deploy(circuit.vk_words, sender=owner)
    return project.Groth16Verifier.at(factory.verifierOf(vk_hash(circuit.vk_words)))


@pytest.fixture(scope="session")
def validity_verifier(project, factory, validity_circuit, owner):
    return _factory_verifier(project, factory, validity_circuit, owner)


@pytest.fixture(scope="session")
def other_rule_verifier(project, factory, other_rule_circuit, owner):
    return _factory_verifier(project, factory, other_rule_circuit, owner)


@pytest.fixture(scope="session")
def validity_circuits(validity_verifier, validity_circuit, other_rule_verifier, other_rule_circuit):
    """The toy validity circuits by their verifier's address (what `proto` proves with)."""
    return {
        validity_verifier.address: validity_circuit,
        other_rule_verifier.address: other_rule_circuit,
    }


def _register_validity_model(
    model_registry, verifier, validity, model_owner, nodes, node_registry, uri: str
) -> int:
    receipt = model_registry.registerModel(
        b"\x45" * 32, uri, [part_terms(verifier, **CHUNKED)], validity, sender=model_owner
    )
    model_id = receipt.events.filter(model_registry.ModelRegistered)[0].modelId
    for node in nodes[:2]:
        node_registry.setParts(model_id, [0], True, sender=node)
    return model_id


@pytest.fixture(scope="session")
def model_validity(
    model_registry, verifier, validity_verifier, model_owner, nodes, node_registry
) -> int:
    """Id of a one-part model (CHUNKED terms, k = 2, nodes 0 and 1) whose version 1 has the input
    rule VALIDITY_RULE, checked by the toy validity circuit's verifier."""
    return _register_validity_model(
        model_registry,
        verifier,
        validity_terms(validity_verifier, VALIDITY_RULE),
        model_owner,
        nodes,
        node_registry,
        "ipfs://validity",
    )


@pytest.fixture(scope="session")
def model_other_rule(
    model_registry, verifier, other_rule_verifier, model_owner, nodes, node_registry
) -> int:
    """model_validity's twin with another rule, OTHER_VALIDITY_RULE (its own toy circuit)."""
    return _register_validity_model(
        model_registry,
        verifier,
        validity_terms(other_rule_verifier, OTHER_VALIDITY_RULE),
        model_owner,
        nodes,
        node_registry,
        "ipfs://other-rule",
    )


@pytest.fixture(scope="session")
def nodes(token, node_registry, node_accounts, owner):
    """Three registered nodes staked at twice the minimum, each with its own ack signer."""
    for i, node in enumerate(node_accounts):
        token.transfer(node, NODE_FUNDS, sender=owner)
        token.approve(node_registry, 2**256 - 1, sender=node)
        node_registry.register(
            bytes([i + 1]) * 32,
            ack_signer_of(i).address,
            f"https://node{i}.example",
            f"ipfs://node{i}",
            2 * MIN_STAKE,
            sender=node,
        )
    return node_accounts


@pytest.fixture(scope="session")
def funded_user(token, user, owner, market):
    token.transfer(user, USER_FUNDS, sender=owner)
    token.approve(market, 2**256 - 1, sender=user)
    return user


# ------------------------------------------------------------------ the protocol helper


@dataclass
class Placed:
    """A requested query, as the user knows it."""

    query_id: bytes
    session: LocalAccount
    model_id: int
    nodes: list[list[Any]]
    budgets: list[int]
    round_deadline: int
    proof_deadline: int
    challenge_deadline: int
    escrow: int
    receipt: Any
    validity_proof: list[int] = field(default_factory=lambda: list(ZERO_PROOF))


@dataclass
class Claim:
    """What a node submits: the statement, its proof and the session key's Round signature."""

    statement: Statement
    commitment: int
    signature: bytes
    proof: list[int]

    def args(self, query: bytes, part: int) -> tuple[Any, ...]:
        s = self.statement
        return (
            query,
            part,
            s.rounds,
            self.commitment,
            s.input_transcript,
            s.prev_output_transcript,
            s.output_transcript,
            s.start_input_transcript,
            s.start_output_transcript,
            self.signature,
            self.proof,
        )


@dataclass
class Proto:
    market: Any
    circuit: Circuit
    chain: Any
    user: Any
    nodes: list[Any]
    model2: int
    model_chunked: int
    model_registry: Any = None
    validity_circuits: dict[str, Circuit] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(20261202))

    @property
    def domain(self) -> Domain:
        return Domain(self.chain.chain_id, self.market.address)

    def now(self) -> int:
        return int(self.chain.pending_timestamp)

    def request(
        self,
        *,
        model_id: int | None = None,
        nodes: list[list[Any]] | None = None,
        budgets: list[int] | None = None,
        version: int = 1,
        fee_cap: int = 10**30,
        round_in: int = 600,
        proof_window: int = 600,
        round_deadline: int | None = None,
        proof_deadline: int | None = None,
        session: LocalAccount | None = None,
        session_address: str | None = None,
        first_commitments: list[int] | None = None,
        salt: bytes | None = None,
        sender: Any = None,
        permit: tuple[Any, ...] = ZERO_PERMIT,
        validity_proof: list[int] | None = None,
        validity_secrets: list[int] | None = None,
    ) -> Placed:
        """Request a query. `validity_proof` None: zeros for a version without an input rule, and
        for one with a rule (the toy circuits) a proof made here for this query's tags and fresh
        (or `validity_secrets`) secrets, whose commitments become the first commitments (so
        `first_commitments` must then be None). A given `validity_proof` is sent as is."""
        model_id = self.model2 if model_id is None else model_id
        nodes = nodes if nodes is not None else [[self.nodes[0], self.nodes[1]], [self.nodes[2]]]
        budgets = budgets if budgets is not None else [2, 3][: len(nodes)]
        session = session or Account.from_key(self.rng.randbytes(32))
        salt = salt or self.rng.randbytes(32)
        t_r = round_deadline if round_deadline is not None else self.now() + round_in
        t_p = proof_deadline if proof_deadline is not None else t_r + proof_window
        sender = sender or self.user
        qid = query_id(self.chain.chain_id, self.market.address, sender.address, salt)
        firsts = first_commitments
        proof = validity_proof
        if proof is None:
            rule = self.validity_rule(model_id, version)
            if rule is None:
                proof = list(ZERO_PROOF)
            else:
                assert first_commitments is None, "the proof makes the commitments"
                proof, firsts = self.validity_proof(qid, nodes[0], rule, validity_secrets)
        if firsts is None:
            firsts = [self.rng.randrange(FIELD) for _ in nodes[0]]
        request = (
            salt,
            model_id,
            version,
            fee_cap,
            [[n.address if hasattr(n, "address") else n for n in part] for part in nodes],
            budgets,
            t_r,
            t_p,
            session_address or session.address,
            firsts,
        )
        receipt = self.market.requestQuery(request, permit, proof, sender=sender)
        [event] = receipt.events.filter(self.market.QueryRequested)
        assert bytes(event.queryId) == qid
        return Placed(
            qid,
            session,
            model_id,
            nodes,
            budgets,
            t_r,
            t_p,
            event.challengeDeadline,
            event.escrow,
            receipt,
            proof,
        )

    def validity_rule(self, model_id: int, version: int) -> tuple[Circuit, int] | None:
        """(toy circuit, rule hash) of the version's input rule; None without one (or for an
        unknown model or version, which the market refuses before any proof is checked)."""
        if self.model_registry is None or model_id == 0:
            return None
        model = self.model_registry.getModel(model_id)
        if not (0 < version <= model.currentVersion):
            return None
        terms = self.model_registry.getValidity(model_id, version)
        if int(terms.verifier, 16) == 0:
            return None
        return self.validity_circuits[terms.verifier], terms.ruleHash

    def validity_proof(
        self,
        query: bytes,
        first_nodes: list[Any],
        rule: tuple[Circuit, int],
        secrets: list[int] | None = None,
    ) -> tuple[list[int], list[int]]:
        """(proof, first commitments) of the user's validity proof for `query`'s part-0 nodes."""
        circuit, rule_hash = rule
        tags = [
            assignment_tag(
                self.chain.chain_id,
                self.market.address,
                query,
                0,
                n.address if hasattr(n, "address") else n,
            )
            for n in first_nodes
        ]
        secrets = secrets if secrets is not None else [self.rng.randrange(FIELD) for _ in tags]
        return prove_validity(circuit, rule_hash, tags, secrets)

    def tag(self, query: bytes, part: int, node: Any) -> int:
        return assignment_tag(self.chain.chain_id, self.market.address, query, part, node.address)

    def prove(
        self,
        placed: Placed,
        part: int,
        node: Any,
        rounds: int,
        *,
        tag: int | None = None,
        session: LocalAccount | None = None,
        sign_rounds: int | None = None,
        domain: Domain | None = None,
        after: Claim | None = None,
        start_rounds: int | None = None,
        start_transcripts: tuple[int, int] | None = None,
    ) -> Claim:
        """A claim of rounds n0+1..`rounds`: a real proof and the session key's Round for the last.

        n0 and the start transcripts are `after`'s (rounds, T_n, O_n) when given (the previous
        chunk), else (0, 0, 0); `start_rounds` / `start_transcripts` override them (attacks).
        """
        tag = self.tag(placed.query_id, part, node) if tag is None else tag
        n0, t0, o0 = 0, 0, 0
        if after is not None:
            a = after.statement
            n0, t0, o0 = a.rounds, a.input_transcript, a.output_transcript
        if start_rounds is not None:
            n0 = start_rounds
        if start_transcripts is not None:
            t0, o0 = start_transcripts
        statement = Statement.make(
            tag,
            rounds,
            self.rng.randrange(FIELD),
            self.rng.randrange(1, FIELD),
            start_rounds=n0,
            start_input_transcript=t0,
            start_output_transcript=o0,
        )
        commitment = self.rng.randrange(FIELD)
        message = RoundMessage(
            placed.query_id,
            part,
            node.address,
            rounds if sign_rounds is None else sign_rounds,
            commitment,
            statement.input_transcript,
            statement.prev_output_transcript,
        )
        signature = message.sign(domain or self.domain, session or placed.session)
        return Claim(statement, commitment, signature, self.circuit.prove(statement))

    def claim(
        self, placed: Placed, part: int, node: Any, rounds: int, *, after: Claim | None = None
    ) -> tuple[Any, Claim]:
        """Prove and submit a claim (a chunk continuing `after`); the receipt and what was sent."""
        claim = self.prove(placed, part, node, rounds, after=after)
        receipt = self.market.claim(*claim.args(placed.query_id, part), sender=node)
        return receipt, claim

    def ack(
        self,
        placed: Placed,
        part: int,
        node: Any,
        round_: int,
        t: int,
        o: int,
        *,
        signer: LocalAccount | None = None,
        domain: Domain | None = None,
    ) -> bytes:
        """The node's Ack(queryId, part, node, round, T, O), signed by its ack signer."""
        index = self.nodes.index(node)
        message = AckMessage(placed.query_id, part, node.address, round_, t, o)
        return message.sign(domain or self.domain, signer or ack_signer_of(index))


@pytest.fixture
def proto(
    market,
    circuit,
    chain,
    funded_user,
    nodes,
    model2,
    model_chunked,
    model_registry,
    validity_circuits,
    model_validity,
    model_other_rule,
) -> Proto:
    # Every session-scoped chain fixture is set up here, with the first `proto`: one made later,
    # inside another test, would be set up under that test's isolation snapshot (ape's isolation
    # then reverted state other session fixtures had set, e.g. the user's allowance).
    del model_validity, model_other_rule
    return Proto(
        market,
        circuit,
        chain,
        funded_user,
        nodes,
        model2,
        model_chunked,
        model_registry,
        validity_circuits,
    )


def set_slasher(chain, node_registry, owner, account, allowed: bool) -> None:
    """setSlasher, and once nodes exist (when it is only proposed) wait out its delay and apply."""
    node_registry.setSlasher(account, allowed, sender=owner)
    _allowed, executable_at = node_registry.pendingSlasherChange(account)
    if executable_at:
        warp_to(chain, executable_at)
        node_registry.applySlasherChange(account, sender=owner)


def warp_to(chain, timestamp: int) -> None:
    """Mine a block at `timestamp` (or just after the head) so later transactions run after it."""
    chain.mine(timestamp=max(timestamp, chain.blocks.head.timestamp + 1))

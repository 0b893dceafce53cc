"""The round endpoint (PROTOCOL.md v2 step 2): an honest round is answered with outputs and an
Ack the user can check; every refusal has its reason, a sentence and no signature. Real anvil
with the v2 contracts, real sealed boxes and EIP-712 signatures, the real FastAPI app."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from zkai.crypto.encryption import seal
from zkai.crypto.field import BN254_R
from zkai.crypto.transcript import output_transcript_step
from zkai.node.endpoint import create_endpoint
from zkai.node.keys import UnlockedNode, unlock
from zkai.node.operator import rotate_keys
from zkai.node.rounds import RoundService
from zkai.protocol.messages import AckMessage, RoundMessage
from zkai.protocol.payload import RoundPayload

from .conftest import Network
from .localchain import PASSPHRASE, SentRound, UserQuery, increase_time

X = [10, 20, 30]


def _client(service: RoundService) -> TestClient:
    return TestClient(create_endpoint(service, ["1:0"]))


def _keys(network: Network, node: UnlockedNode) -> dict[str, bytes]:
    record = network.chain.contract("NodeRegistry").functions.getNode(node.address).call()
    return {node.address: bytes(record[0])}


@pytest.fixture
def node(network: Network) -> UnlockedNode:
    return network.new_node()


@pytest.fixture
def service(network: Network, node: UnlockedNode, tmp_path: Path) -> RoundService:
    return network.service(node, tmp_path / "rounds.sqlite3")


def _post(client: TestClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post("/v2/rounds", content=json.dumps(body))
    return response.status_code, response.json()


def _requested(
    network: Network, node: UnlockedNode, budget: int = 3
) -> tuple[UserQuery, SentRound]:
    user = network.user_query([node], budget)
    (sent,) = user.deal(1, X, _keys(network, node))
    user.request()
    return user, sent


def _refused(client: TestClient, body: dict[str, Any], reason: str) -> dict[str, Any]:
    status, answer = _post(client, body)
    assert status >= 400, answer
    assert answer["reason"] == reason, answer
    assert answer["detail"]
    assert set(answer) == {"reason", "detail"}
    return answer


def test_round_honest_answer_checks_out(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    status, answer = _post(_client(service), sent.body)
    assert status == 200, answer
    outputs = [int(v, 16) for v in answer["outputs"]]
    opening = sent.payload.opening()
    assert outputs == network.manifest.block(0).apply(list(opening.share), list(opening.mask))
    o_1 = output_transcript_step(sent.message.prev_output_transcript, 1, outputs)
    assert int(answer["output_transcript"], 16) == o_1
    ack = AckMessage(user.query, 0, node.address, 1, sent.message.input_transcript, o_1)
    recorded = (
        network.chain.contract("QueryMarket")
        .functions.getAssignment(user.query, 0, node.address)
        .call()
    )
    assert ack.signer(user.domain, bytes.fromhex(answer["ack"][2:])) == recorded[0]


def test_round_identical_again_returns_the_stored_answer(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    _, sent = _requested(network, node)
    client = _client(service)
    first = _post(client, sent.body)
    assert first[0] == 200
    assert _post(client, sent.body) == first


def test_round_restart_keeps_the_store(
    network: Network, node: UnlockedNode, tmp_path: Path
) -> None:
    path = tmp_path / "restart.sqlite3"
    user, sent = _requested(network, node)
    first = _post(_client(network.service(node, path)), sent.body)
    assert first[0] == 200
    restarted = _client(network.service(node, path))
    assert _post(restarted, sent.body) == first
    outputs = [int(v, 16) for v in first[1]["outputs"]]
    user.accept(node.address, sent, outputs)
    # The same commitment under a new round number: refused after the restart too.
    replay = RoundMessage(
        user.query,
        0,
        node.address,
        2,
        sent.commitment,
        user.states[node.address].next_input(0, sent.commitment),
        user.states[node.address].output_transcript,
    )
    header = dataclasses.replace(sent.header, round=2)
    payload = RoundPayload(header, sent.payload.seed, sent.payload.explicit_share)
    _refused(
        restarted,
        user.body(replay, seal(_keys(network, node)[node.address], payload.to_bytes())),
        "commitment-mismatch",
    )


def test_round_second_round_follows_the_transcript(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    client = _client(service)
    status, answer = _post(client, sent.body)
    assert status == 200
    user.accept(node.address, sent, [int(v, 16) for v in answer["outputs"]])
    (second,) = user.deal(2, [1, 2, 3], _keys(network, node))
    status, answer = _post(client, second.body)
    assert status == 200, answer


# -- refusals -----------------------------------------------------------------------------------


def _resigned(user: UserQuery, sent: SentRound, key: bytes, **changes: Any) -> dict[str, Any]:
    message = dataclasses.replace(sent.message, **changes)
    return user.body(message, seal(key, sent.payload.to_bytes()))


def test_round_unknown_query_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user = network.user_query([node])
    (sent,) = user.deal(1, X, _keys(network, node))
    _refused(_client(service), sent.body, "query-unknown")


def test_round_not_final_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    _, sent = _requested(network, node)
    service.view.confirmations = 50
    _refused(_client(service), sent.body, "not-final")


def test_round_other_node_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    other = network.new_node()
    user = network.user_query([other])
    (sent,) = user.deal(1, X, _keys(network, other))
    user.request()
    _refused(_client(service), sent.body, "not-assigned")
    body = _resigned(user, sent, _keys(network, other)[other.address], node=node.address)
    _refused(_client(service), body, "not-assigned")


def test_round_wrong_session_key_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    user.session = Account.create()
    _refused(_client(service), user.body(sent.message, b"\0" * 64), "session-mismatch")


def test_round_malformed_signature_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    _, sent = _requested(network, node)
    _refused(_client(service), {**sent.body, "signature": "0x" + "11" * 10}, "bad-signature")


def test_round_malformed_body_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    _, sent = _requested(network, node)
    _refused(_client(service), {**sent.body, "round": "one"}, "malformed")
    _refused(_client(service), {**sent.body, "payload": "%%%"}, "malformed")
    response = _client(service).post("/v2/rounds", content=b"{")
    assert response.status_code == 400
    assert response.json()["reason"] == "malformed"


def test_round_value_not_in_field_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    _, sent = _requested(network, node)
    _refused(_client(service), {**sent.body, "commitment": f"0x{BN254_R:064x}"}, "not-in-field")


def test_round_deadline_passed_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user = network.user_query([node])
    (sent,) = user.deal(1, X, _keys(network, node))
    user.request(round_s=60)
    increase_time(network.chain, 59)
    _refused(_client(service), sent.body, "deadline")


def test_round_out_of_order_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, _ = _requested(network, node)
    keys = _keys(network, node)
    user.pending.clear()
    (second,) = user.deal(2, X, keys)
    _refused(_client(service), second.body, "round-out-of-order")


def test_round_other_round_for_served_i_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    client = _client(service)
    assert _post(client, sent.body)[0] == 200
    user.states.clear()
    (again,) = user.deal(1, [7, 7, 7], _keys(network, node))
    _refused(client, again.body, "round-out-of-order")


def test_round_beyond_budget_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node, budget=1)
    client = _client(service)
    status, answer = _post(client, sent.body)
    assert status == 200
    user.accept(node.address, sent, [int(v, 16) for v in answer["outputs"]])
    (second,) = user.deal(2, X, _keys(network, node))
    _refused(client, second.body, "budget")


def test_round_transcript_mismatch_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    key = _keys(network, node)[node.address]
    client = _client(service)
    _refused(client, _resigned(user, sent, key, prev_output_transcript=5), "transcript-mismatch")
    _refused(client, _resigned(user, sent, key, input_transcript=5), "transcript-mismatch")


def test_round_undecryptable_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    other_key = _keys(network, network.new_node())
    body = user.body(sent.message, seal(next(iter(other_key.values())), sent.payload.to_bytes()))
    _refused(_client(service), body, "undecryptable")
    _refused(
        _client(service),
        {**sent.body, "payload": base64.b64encode(b"x" * 60).decode()},
        "undecryptable",
    )


def _sealed_with(
    user: UserQuery, sent: SentRound, key: bytes, payload: RoundPayload
) -> dict[str, Any]:
    return user.body(sent.message, seal(key, payload.to_bytes()))


def test_round_header_mismatch_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    key = _keys(network, node)[node.address]
    for change in ({"round": 2}, {"part": 1}, {"chain_id": 1}, {"query_id": b"\1" * 32}):
        header = dataclasses.replace(sent.header, **change)
        payload = RoundPayload(header, sent.payload.seed, sent.payload.explicit_share)
        _refused(_client(service), _sealed_with(user, sent, key, payload), "header-mismatch")


def test_round_wrong_size_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    key = _keys(network, node)[node.address]
    header = dataclasses.replace(sent.header, output_size=3)
    payload = RoundPayload(header, sent.payload.seed, sent.payload.explicit_share)
    _refused(_client(service), _sealed_with(user, sent, key, payload), "wrong-size")
    raw = sent.payload.to_bytes()
    _refused(_client(service), user.body(sent.message, seal(key, raw[:-5])), "wrong-size")


def test_round_share_not_in_field_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    key = _keys(network, node)[node.address]
    raw = bytearray(sent.payload.to_bytes())
    raw[-32:] = BN254_R.to_bytes(32, "big")
    _refused(_client(service), user.body(sent.message, seal(key, bytes(raw))), "not-in-field")


def test_round_commitment_mismatch_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    key = _keys(network, node)[node.address]
    payload = RoundPayload(sent.header, b"\7" * 32, sent.payload.explicit_share)
    _refused(_client(service), _sealed_with(user, sent, key, payload), "commitment-mismatch")


def test_round_replayed_payload_of_another_query_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    _, sent = _requested(network, node)
    client = _client(service)
    assert _post(client, sent.body)[0] == 200
    second, _ = _requested(network, node)
    # The first query's sealed payload under the second query's signed Round.
    message = dataclasses.replace(
        sent.message,
        query_id=second.query,
        input_transcript=second.states[node.address].next_input(0, sent.commitment),
        prev_output_transcript=second.states[node.address].output_transcript,
    )
    body = {**second.body(message, b""), "payload": sent.body["payload"]}
    _refused(client, body, "header-mismatch")


def test_round_first_commitment_mismatch_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user = network.user_query([node])
    keys = _keys(network, node)
    (posted,) = user.deal(1, X, keys)
    user.request()
    user.states.clear()
    (other,) = user.deal(1, [1, 1, 1], keys)
    assert other.commitment != posted.commitment
    _refused(_client(service), other.body, "first-commitment-mismatch")


def test_round_part_not_served_refused(
    network: Network, node: UnlockedNode, service: RoundService, tmp_path: Path
) -> None:
    _, sent = _requested(network, node)
    service.parts.manifests.root = tmp_path / "empty"
    _refused(_client(service), sent.body, "part-not-served")


def test_round_no_capacity_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    _, sent = _requested(network, node)
    service.settings = service.settings.model_copy(update={"prove_estimate_s": 10_000.0})
    _refused(_client(service), sent.body, "no-capacity")


def test_round_claimed_assignment_refused(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    user, sent = _requested(network, node)
    assert _post(_client(service), sent.body)[0] == 200
    service.store.set_state(user.query, 0, node.address, "claiming")
    user.accept(node.address, sent, [0, 0])
    (second,) = user.deal(2, X, _keys(network, node))
    _refused(_client(service), second.body, "claimed")


def test_health_names_node_and_market(
    network: Network, node: UnlockedNode, service: RoundService
) -> None:
    answer = _client(service).get("/v2/health").json()
    assert answer == {
        "node": node.address,
        "parts": ["1:0"],
        "chain_id": network.chain.deployment.chain_id,
        "market": network.chain.deployment.address("QueryMarket"),
    }


def test_round_after_key_rotation_uses_the_recorded_keys(
    network: Network, node: UnlockedNode, tmp_path: Path
) -> None:
    user, sent = _requested(network, node)  # recorded with generation 0
    rotate_keys(network.chain, network.keystore, node.name, PASSPHRASE)
    rotated = unlock(network.keystore, node.name, PASSPHRASE)
    assert len(rotated.generations) == 2
    client = _client(network.service(rotated, tmp_path / "rotated.sqlite3"))
    status, answer = _post(client, sent.body)
    assert status == 200, answer
    ack = AckMessage(
        user.query,
        0,
        node.address,
        1,
        sent.message.input_transcript,
        int(answer["output_transcript"], 16),
    )
    signer = ack.signer(user.domain, bytes.fromhex(answer["ack"][2:]))
    assert signer == node.current.ack_signer != rotated.current.ack_signer
    fresh, fresh_sent = _requested(network, rotated)  # recorded with generation 1
    assert _keys(network, rotated)[node.address] == rotated.current.encryption_key
    status, answer = _post(client, fresh_sent.body)
    assert status == 200, answer
    ack = AckMessage(
        fresh.query,
        0,
        node.address,
        1,
        fresh_sent.message.input_transcript,
        int(answer["output_transcript"], 16),
    )
    assert ack.signer(fresh.domain, bytes.fromhex(answer["ack"][2:])) == rotated.current.ack_signer


def test_round_keys_rotated_away_refused(
    network: Network, node: UnlockedNode, tmp_path: Path
) -> None:
    _, sent = _requested(network, node)
    rotate_keys(network.chain, network.keystore, node.name, PASSPHRASE)
    rotated = unlock(network.keystore, node.name, PASSPHRASE)
    only_new = dataclasses.replace(rotated, generations=rotated.generations[1:])
    client = _client(network.service(only_new, tmp_path / "new-only.sqlite3"))
    _refused(client, sent.body, "key-unavailable")

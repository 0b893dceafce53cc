"""Nodes serve new model versions without a restart, and keep serving queries on older ones.

One fresh chain, two real `zkai node run` processes (Celery workers, Redis, anvil):

- a query made on version 1 before the nodes start, then version 2 published (the node's manifest
  store has its manifest; the catalogue still points at version 1) and a query made on it: the
  nodes start on version 2 and prove both queries, each with its own version's keys;
- version 3 published while the nodes run: the listener logs it and warms its circuit, and a query
  on it is proven by the same processes (no restart);
- version 4 published without its manifest anywhere the node looks (no store file, the API
  unreachable): its shares are neither proven nor rejected, the log says why and how to fix it,
  and once the manifest is put into the store the shares are served, still without a restart.

And, in-process, which versions `load_version` refuses for good (model not served, no such
version, manifest unknown to the API, no keys in production) and which failures are transient.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from zkai.circuits.artifacts import CircuitArtifacts
from zkai.circuits.build import build_circuit_dev
from zkai.client.query import ACCEPTED_STATUSES, PendingQuery, QueryClient
from zkai.config import get_settings
from zkai.errors import ModelMismatchError, TransientNodeError
from zkai.localnet_state import anvil_account
from zkai.models.importers import from_linear
from zkai.models.manifest import Manifest
from zkai.models.store import ManifestStore
from zkai.node.operator import SHARE_PENDING
from zkai.node.served import load_version
from zkai.node.state import NodeState
from zkai.registration import publish_version
from zkai.wallet.keystore import Keystore, NodeIdentity

from .conftest import PRICE, SHARES, Network, make_network
from .localchain import NodeProcess, new_user, share_status, wait_for

pytestmark = pytest.mark.slow

X = [0.5, -0.25, 0.75]
UNREACHABLE_API = "http://127.0.0.1:9"


def tiny_version(version: int) -> Manifest:
    """Another 3-input, 2-output model (other weights): a different manifest and circuit."""
    w = 0.125 * version
    return from_linear(
        [[w, 0.5, -0.75], [0.25, -w, 0.5]],
        [0.05 * version, -0.1],
        name="tiny",
        version=version,
        input_scale_bits=8,
        weight_scale_bits=8,
        postprocess="argmax",
        input_min=[-1, -1, -1],
        input_max=[1, 1, 1],
    )


def test_new_versions_are_served_without_a_restart_and_old_ones_still_are(
    tmp_path: Path,
    tiny_artifacts: CircuitArtifacts,
    redis_url: str,
    nodes_running: Callable[..., NodeProcess],
) -> None:
    (tmp_path / "chain").mkdir()
    network = make_network(tmp_path / "chain", tiny_artifacts, redis_url)
    procs: list[NodeProcess] = []
    try:
        _scenario(network, nodes_running, procs)
    finally:
        for proc in procs:
            proc.stop()
        network.anvil.stop()


def _scenario(
    network: Network, nodes_running: Callable[..., NodeProcess], procs: list[NodeProcess]
) -> None:
    started = time.monotonic()
    chain, owner = network.chain, anvil_account(0)
    store = ManifestStore(network.data_dir / "manifests")
    artifacts_root = network.artifacts.directory.parent  # the nodes' ZKAI_ARTIFACTS_DIR
    nodes = [network.new_node(), network.new_node()]
    client = QueryClient(chain, new_user(chain))

    def publish(manifest: Manifest) -> int:
        artifacts = build_circuit_dev(manifest, artifacts_root=artifacts_root)
        return publish_version(
            chain,
            owner,
            network.model_id,
            manifest,
            price=PRICE,
            shares=SHARES,
            artifacts=artifacts,
        )

    def ask(manifest: Manifest) -> PendingQuery:
        return client.submit(
            "tiny", manifest, network.model_id, X, nodes=[n.account.address for n in nodes]
        )

    def accepted(pending: PendingQuery) -> bool:
        return all(
            share_status(chain, pending.query_id, i) in ACCEPTED_STATUSES for i in range(SHARES)
        )

    def answer(pending: PendingQuery, manifest: Manifest, version: int, timeout: float) -> None:
        """Both shares proven and credited on-chain; the answer is `manifest`'s, exactly."""
        wait_for(
            lambda: _alive(procs) and accepted(pending),
            timeout,
            f"both shares of query {pending.query_id} (version {version}) proven",
        )
        outcome = client.wait(pending, manifest)
        assert outcome.version == version
        assert outcome.verified
        assert outcome.outputs == manifest.forward(manifest.quantise_input(X))

    # Query A on version 1, made before any node runs; then version 2 and query B on it.
    v1 = network.manifest
    query_a = ask(v1)
    v2 = tiny_version(2)
    store.put(v2)  # the catalogue still names version 1's manifest
    assert publish(v2) == 2
    query_b = ask(v2)

    procs.extend(nodes_running(node, net=network, ZKAI_API_URL=UNREACHABLE_API) for node in nodes)
    ready = [proc.wait_event("service.models_ready", timeout=60) for proc in procs]
    assert all([m["version"] for m in r["models"]] == [2] for r in ready)
    pids = [_pids(proc) for proc in procs]
    answer(query_a, v1, 1, timeout=40)  # the old version, loaded on demand
    answer(query_b, v2, 2, timeout=20)
    for proc in procs:
        assert proc.find("share.version_loaded", query_id=query_a.query_id, version=1)

    # Version 3 while the nodes run: warmed by the listener, then served by the same processes.
    v3 = tiny_version(3)
    store.put(v3)
    assert publish(v3) == 3
    for proc in procs:
        proc.wait_event("node.model_version_published", timeout=20, version=3)
        proc.wait_event("node.model_version_ready", timeout=30, version=3)
    query_c = ask(v3)
    answer(query_c, v3, 3, timeout=20)

    # Version 4 whose manifest no node can find: not proven, not rejected, the log says why.
    v4 = tiny_version(4)
    assert publish(v4) == 4
    query_d = ask(v4)
    for proc in procs:
        event = proc.wait_event("share.version_unavailable", timeout=20, query_id=query_d.query_id)
        assert v4.content_hash.hex() in event["why"]
        assert str(store.root) in event["why"]  # where to put it
        assert "ZKAI_API_URL" in event["why"]  # or where to fetch it from
        proc.wait_event("node.model_version_warm_failed", timeout=20, version=4)
    time.sleep(2)  # a few reconciliation rounds
    for index, (node, proc) in enumerate(zip(nodes, procs, strict=True)):
        assert share_status(chain, query_d.query_id, index) == SHARE_PENDING
        assert _state(network, node).rejection(query_d.query_id, index) is None
        assert not proc.find("share.rejected", query_id=query_d.query_id)
        assert not proc.find("share.submitted", query_id=query_d.query_id)
    store.put(v4)  # the fix: the manifest where the node looks first
    answer(query_d, v4, 4, timeout=30)

    assert [_pids(proc) for proc in procs] == pids, "no node restarted"
    for proc in procs:
        assert len(proc.find("service.worker_started")) == 1
        assert not proc.find("share.rejected")
    print(f"versions scenario: {time.monotonic() - started:.1f} s")


def _alive(procs: list[NodeProcess]) -> bool:
    for proc in procs:
        assert proc.process is not None
        if proc.process.poll() is not None:
            raise AssertionError(f"node {proc.name} exited:\n{proc.tail()}")
    return True


def _pids(proc: NodeProcess) -> tuple[int, int]:
    """The node service's pid and its (one) Celery worker's."""
    assert proc.process is not None
    assert proc.process.poll() is None
    (worker,) = proc.find("service.worker_started")
    return proc.process.pid, int(worker["worker_pid"])


def _state(network: Network, node: NodeIdentity) -> NodeState:
    return NodeState.for_chain(Keystore(network.data_dir).node_dir(node.name), network.chain)


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api_without_manifests() -> Iterator[str]:
    """An API that answers 404 to every manifest."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_load_version_tells_permanent_from_transient(
    network: Network, tmp_path: Path, api_without_manifests: str
) -> None:
    chain, model_id = network.chain, network.model_id
    settings = get_settings().model_copy(
        update={
            "data_dir": tmp_path / "node",  # an empty manifest store
            "artifacts_dir": network.artifacts.directory.parent,
            "api_url": api_without_manifests,
        }
    )
    catalogue = network.data_dir  # names version 1's manifest
    served = [model_id]

    with pytest.raises(ModelMismatchError, match="not in this node's on-chain metadata"):
        load_version(chain, model_id, 1, settings, node_models=[], catalog_root=catalogue)
    with pytest.raises(ModelMismatchError, match="has no version 99"):
        load_version(chain, model_id, 99, settings, node_models=served, catalog_root=catalogue)
    # No catalogue entry, nothing stored, the API has no such manifest: not found, for good.
    with pytest.raises(ModelMismatchError, match=r"HTTP 404.*To fix: put it into"):
        load_version(chain, model_id, 1, settings, node_models=served, catalog_root=tmp_path)
    # The API does not answer: transient.
    offline = settings.model_copy(update={"api_url": UNREACHABLE_API})
    with pytest.raises(TransientNodeError, match="did not answer"):
        load_version(chain, model_id, 1, offline, node_models=served, catalog_root=tmp_path)
    # In production, keys are never built on the fly.
    production = settings.model_copy(
        update={"environment": "production", "artifacts_dir": tmp_path / "no-keys"}
    )
    with pytest.raises(ModelMismatchError, match="no circuit keys"):
        load_version(chain, model_id, 1, production, node_models=served, catalog_root=catalogue)

    # Through the catalogue: checked against the chain, and stored by its hash for next time.
    model = load_version(chain, model_id, 1, settings, node_models=served, catalog_root=catalogue)
    assert (model.model_id, model.version) == (model_id, 1)
    assert model.artifacts.key == network.artifacts.key
    assert ManifestStore(settings.manifests_path).get(network.manifest.content_hash) is not None
    again = load_version(chain, model_id, 1, offline, node_models=served, catalog_root=tmp_path)
    assert again.verifier == model.verifier

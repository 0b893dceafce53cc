"""`zkai bench`'s network sections on `zkai up`'s network (4 v2 node services, k = 2, the API):
end-to-end latency to the answer and to every proof for digits and digits-mlp with
`QueryClient.run`, throughput, the API under load and a worker killed mid-claim. Checked for
positive numbers, queries answered exactly and verified, and the e2e target evaluated."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from zkai.bench.cli import bench

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def network_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = typer.Typer()
    app.command()(bench)
    out = tmp_path_factory.mktemp("bench-network") / "results.json"
    result = CliRunner().invoke(
        app, ["--quick", "--skip-gas", "--skip-ezkl", "--queries", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def test_network_bench_has_no_failed_section(network_run: dict[str, Any]) -> None:
    assert network_run["errors"] == {}
    assert network_run["network"]["up_s"] > 0


def test_network_bench_measures_latency_per_model(network_run: dict[str, Any]) -> None:
    models = network_run["e2e"]["models"]
    assert set(models) == {"digits", "digits-mlp"}
    for name, m in models.items():
        assert m["nodes"] == 4
        assert m["queries"] == len(m["answer_s"]) == len(m["proofs_s"]) == 2
        # The answer comes before every proof is accepted on-chain.
        assert 0 < m["answer_s_median"] <= m["proofs_s_median"], name
        assert m["answer_s_median"] <= m["answer_s_p90"]
        assert m["eth_gas_per_query_median"] > 21_000
    assert models["digits-mlp"]["cost_zkai_median"] == 2 * models["digits"]["cost_zkai_median"]
    target = network_run["targets"]["e2e_answer_median_digits_mlp_s"]
    assert target["measured"] == models["digits-mlp"]["answer_s_median"]
    assert target["met"] in (True, False)


def test_network_bench_measures_throughput(network_run: dict[str, Any]) -> None:
    throughput = network_run["e2e"]["throughput"]
    assert throughput["completed"] == throughput["queries"] > 0
    assert throughput["errors"] == []
    assert throughput["throughput_qps"] > 0
    assert sum(n["claims"] for n in throughput["nodes"].values()) >= 2 * throughput["completed"]


def test_network_bench_survives_crowds_and_crashes(network_run: dict[str, Any]) -> None:
    api = network_run["api_load"]
    assert api["indexed_after_load"] is True
    assert api["health_after_load"] == 200
    for level in api["levels"].values():
        assert level["server_errors"] == 0
        assert level["requests_per_s"] > 0
    recovery = network_run["recovery"]
    for key in ("pool_process", "main_process"):
        assert recovery[key]["verified"] is True, key
        assert recovery[key]["recovery_s"] > 0, key

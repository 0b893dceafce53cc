"""The dashboard in headless Chromium (Debian's, driven by Playwright; never a browser download):
its numbers match the chain (nodes with their endpoints and parts, models' parts, queries with
their assignments, rounds and cost), and it updates live after more claims, a settle and a reward
claim. Screenshots (laptop and phone widths) are saved under test-artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zkai.api.app import create_app

from .conftest import ROOT, LiveServer, api_settings

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_binary() -> str:
    """Debian's chromium, installed with apt-get when missing and running as root."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    apt_get = shutil.which("apt-get")
    if apt_get and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt_get, "update", "-qq"], check=True, env=env)
        subprocess.run([apt_get, "install", "-y", "-qq", "chromium"], check=True, env=env)
        if Path("/usr/bin/chromium").exists():
            return "/usr/bin/chromium"
    pytest.fail("chromium is not installed: run `sudo apt-get install chromium` (Debian/Ubuntu)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_binary(), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield instance
        finally:
            instance.close()


def _wei(page: Any, selector: str) -> int:
    return int(page.locator(selector).get_attribute("data-wei"))


NOT_YET = "\u2013"
"""What the dashboard shows for a value not there yet (an en dash)."""


def _payout(network: Any, credit: int) -> int:
    protocol, contributor = network.market.fees()
    return credit - credit * protocol // 10_000 - credit * contributor // 10_000


def _check_against_chain(page: Any, network: Any) -> None:
    stakes = [network.registry.getNode(n).stake for n in network.nodes]
    assert _wei(page, "#total-staked") == sum(stakes)
    assert _wei(page, "#total-supply") == network.token.totalSupply()
    assert _wei(page, "#treasury-balance") == network.token.balanceOf(network.market.treasury())
    claimed = sum(
        amount
        for epoch, tree in enumerate(network.trees, start=1)
        for account, amount in tree.entries
        if network.rewards.isClaimed(epoch, account, amount)
    )
    assert _wei(page, "#rewards-distributed") == claimed
    assert page.locator("#query-count").get_attribute("data-value") == str(len(network.queries))
    credits = sum(network.market.getQuery(q).credits for q in network.queries)
    assert _wei(page, "#paid-for-rounds") == credits
    earnings = {n.address: 0 for n in network.nodes}
    for qid, part, node in network.claim_receipts:
        record = network.market.getAssignment(qid, part, node)
        earnings[node] += _payout(network, record.rounds * record.price)
    for node in network.nodes:
        row = page.locator(f'#nodes tr[data-address="{node.address}"]')
        record = network.registry.getNode(node)
        assert int(row.locator(".stake").get_attribute("data-wei")) == record.stake
        assert int(row.locator(".earnings").get_attribute("data-wei")) == earnings[node.address]
        assert row.locator(".endpoint").inner_text() == record.endpoint
        hosted = [
            f"{network.model_id}/{p}"
            for p in range(2)
            if network.registry.hostsPart(node, network.model_id, p)
        ]
        assert row.locator(".parts").inner_text() == ", ".join(hosted)
    for p in range(2):
        terms = network.models.getPart(network.model_id, 1, p)
        row = page.locator(f'#models tr[data-model="{network.model_id}"][data-part="{p}"]')
        assert int(row.locator("td").nth(2).get_attribute("data-wei")) == terms.price
        assert row.locator(".key").inner_text() == "matches"
    for qid in list(network.queries)[-5:]:
        query_id = "0x" + qid.hex()
        row = page.locator(f'#queries tr[data-query-id="{query_id}"]')
        assert int(row.locator(".cost").get_attribute("data-wei")) == (
            network.market.getQuery(qid).credits
        )
        for a in network.queries[qid]:
            row = page.locator(
                f'#assignments tr[data-query-id="{query_id}"][data-node="{a.node.address}"]'
            )
            record = network.market.getAssignment(qid, a.part, a.node)
            claimed = str(record.rounds) if record.rounds else NOT_YET
            assert row.locator(".rounds").inner_text() == f"{claimed}/{record.budget}"
    for epoch, tree in enumerate(network.trees, start=1):
        for account, amount in tree.entries:
            row = page.locator(f'#contributors tr[data-address="{account}"]')
            is_claimed = network.rewards.isClaimed(epoch, account, amount)
            assert int(row.locator(".claimed").get_attribute("data-wei")) == (
                amount if is_claimed else 0
            )


def _short(text: str) -> str:
    return f"{text[:6]}\u2026{text[-4:]}"


def _check_slash_shows_its_ack(
    page: Any, network: Any, qid: bytes, part: int, index: int, reason: str
) -> None:
    """The slashed row shows the amount and reason, and the Ack that justified the slash: its
    round, its signature shortened (whole in the data attribute; both for an equivocation) and
    its signer, which is the ack signer the market recorded for the assignment."""
    node = network.nodes[index]
    sent = network.sent_acks[(qid, part, node.address)]
    recorded = network.market.getAssignment(qid, part, node).ackSigner
    cell = page.locator(
        f'#assignments tr[data-query-id="0x{qid.hex()}"][data-node="{node.address}"] .slash'
    )
    assert f"({reason})" in cell.locator(".slash-amount").inner_text()
    assert int(cell.get_attribute("data-wei")) == network.market.getQuery(qid).slashAmount
    ack = cell.locator(".ack")
    signatures = ["0x" + a.signature.hex() for a in sent]
    first = ack.first
    assert (
        first.inner_text() == f"Ack r{sent[0].round} {_short(signatures[0])} by {_short(recorded)}"
    )
    assert first.is_visible()
    assert ack.count() == len(sent)
    if len(sent) == 2:
        assert ack.nth(1).inner_text() == f"and {_short(signatures[1])}, same round"
    for i, a in enumerate(sent):
        assert ack.nth(i).get_attribute("data-round") == str(a.round)
        assert ack.nth(i).get_attribute("data-signature") == signatures[i]
        assert ack.nth(i).get_attribute("data-signer") == recorded
    assert recorded == network.ack_signers[index].address


def test_dashboard_matches_chain_and_updates_live(browser, network, chain, tmp_path):
    app = create_app(
        api_settings(network, chain.provider.uri, tmp_path), deployment=network.deployment()
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with LiveServer(app) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url + "/")
        head = chain.blocks.head.number
        page.wait_for_function(f"Number(document.getElementById('status').dataset.block) >= {head}")
        _check_against_chain(page, network)

        # Another query claimed in full, the open one settled, a reward claim: the page follows.
        fourth = network.request(chain)
        network.claim(chain, fourth, 0, network.nodes[0], 2)
        network.claim(chain, fourth, 0, network.nodes[1], 3)
        network.claim(chain, fourth, 1, network.nodes[2], 2)
        # ... and its part-1 node equivocates: two Acks of round 1, slashed at once.
        acks = [network.sign_ack(chain, fourth, 1, 2, 1, 10, output) for output in (11, 12)]
        network.slash_equivocation(chain, fourth, 1, 2, acks)
        second = list(network.queries)[1]
        network.market.settle(second, sender=network.owner)
        network.claim_reward(1, network.trees[0], 1)
        head = chain.blocks.head.number
        page.wait_for_function(
            f"Number(document.getElementById('status').dataset.block) >= {head}", timeout=20_000
        )
        _check_against_chain(page, network)
        statuses = {
            "0x" + q.hex(): page.locator(f'#queries tr[data-query-id="0x{q.hex()}"] .query-status')
            for q in (fourth, second)
        }
        assert [s.inner_text() for s in statuses.values()] == ["complete", "settled"]
        _check_slash_shows_its_ack(page, network, second, 0, 1, "no-claim")
        _check_slash_shows_its_ack(page, network, fourth, 1, 2, "equivocation")
        region = page.locator("#assignments-title ~ .scroll")
        assert region.evaluate("el => el.scrollWidth <= el.clientWidth"), (
            "the assignments table, Ack included, fits the page at laptop width"
        )
        assert page.locator("#chart-gas svg rect.bar").count() >= 1

        page.fill("#lookup-address", network.nodes[0].address.lower())
        page.click("#lookup-form button")
        page.wait_for_selector("#lookup-result li")
        assert "Node (active)" in page.inner_text("#lookup-result")
        page.fill("#lookup-address", "0x123")
        page.click("#lookup-form button")
        page.wait_for_selector("#lookup-result .error")

        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(server.url + "/")
        phone.wait_for_function(
            f"Number(document.getElementById('status').dataset.block) >= {head}"
        )
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
        phone.close()
        page.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000

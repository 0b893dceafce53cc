"""The dashboard in headless Chromium (Debian's, driven by Playwright; never a browser download):
its numbers match the chain, and it updates live after more queries, a payout claim and a reward
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
    queries = network.market.queryCount()
    assert page.locator("#query-count").get_attribute("data-value") == str(queries)
    payout = network.market.shareSplit(1)[0]
    proven = {n.address: 0 for n in network.nodes}
    for query_id, index in network.submit_receipts:
        proven[network.market.getShare(query_id, index).node] += 1
    for node in network.nodes:
        row = page.locator(f'#nodes tr[data-address="{node.address}"]')
        assert int(row.locator(".stake").get_attribute("data-wei")) == (
            network.registry.getNode(node).stake
        )
        assert (
            int(row.locator(".earned").get_attribute("data-wei")) == proven[node.address] * payout
        )
    for epoch, tree in enumerate(network.trees, start=1):
        for account, amount in tree.entries:
            row = page.locator(f'#contributors tr[data-address="{account}"]')
            is_claimed = network.rewards.isClaimed(epoch, account, amount)
            assert int(row.locator(".claimed").get_attribute("data-wei")) == (
                amount if is_claimed else 0
            )


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

        # A few more queries, a payout claim and a reward claim: the page follows by itself.
        third = network.request(chain)
        for index in range(3):
            network.submit(third, index)
        network.market.claimPayouts([1, third], [1, 1], sender=network.nodes[1])
        network.claim_reward(1, network.trees[0], 1)
        head = chain.blocks.head.number
        page.wait_for_function(
            f"Number(document.getElementById('status').dataset.block) >= {head}", timeout=20_000
        )
        _check_against_chain(page, network)
        paid = page.locator(f'#nodes tr[data-address="{network.nodes[1].address}"] .paid')
        assert int(paid.get_attribute("data-wei")) == 2 * network.market.shareSplit(1)[0]
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

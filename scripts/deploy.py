"""Deploy and wire the ZKAI contracts: `ape run deploy --network <ecosystem:network:provider>`.

Deploys ZKAIToken, NodeRegistry, VerifierFactory, ModelRegistry (which accepts only the factory's
verifiers), ContributorRewards and QueryMarket (protocol version 2), wires them
(the market is the registry's slasher and pays the contributor cut into ContributorRewards), and
records addresses, deployment blocks and the chain id in `deployments/<network>.json` (for example
`deployments/local.json` for `ethereum:local:foundry`, which git ignores).

Safe to re-run: a contract recorded for this chain whose code is still there is reused (and said
so), unless a contract it depends on had to be deployed again; wiring steps already done are
skipped. Keys: on a local network the first test account deploys; elsewhere the ape account whose
alias is in ZKAI_DEPLOYER (`ape accounts import <alias>`); no key ever lives in the repository.

(No `from __future__ import annotations` here: `ape run` executes this file as a module that is
not in sys.modules, where dataclasses cannot resolve string annotations.)

Parameters are the constants below; each can be overridden by the environment variable named
next to it (integers, in token wei or seconds).
"""

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from ape import accounts, chain, networks, project
from ape.api import AccountAPI
from ape.contracts import ContractInstance

from zkai.units import ETHER

# ZKAI_DEPLOYMENTS_DIR moves the records (`zkai up` keeps its throw-away chain's record in its data
# folder, so tests and a developer's local network never overwrite each other's).
DEPLOYMENTS_DIR = Path(
    os.environ.get("ZKAI_DEPLOYMENTS_DIR") or Path(__file__).resolve().parents[1] / "deployments"
)

TOKEN_CAP = 10**9 * ETHER  # ZKAI_TOKEN_CAP: hard cap of the token supply
INITIAL_SUPPLY = 10**8 * ETHER  # ZKAI_INITIAL_SUPPLY: minted to the deployer at deployment
MIN_STAKE = 1_000 * ETHER  # ZKAI_MIN_STAKE: stake a node needs to be eligible
UNBONDING_PERIOD = 7 * 24 * 3600  # ZKAI_UNBONDING_PERIOD: lock (and slashability) after unstake
PROTOCOL_FEE_BPS = 500  # ZKAI_PROTOCOL_FEE_BPS: treasury cut of each share's fee (max 1000)
CONTRIBUTOR_FEE_BPS = 1_000  # ZKAI_CONTRIBUTOR_FEE_BPS: contributor-pool cut (max 2000)
SLASH_AMOUNT = 100 * ETHER  # ZKAI_SLASH_AMOUNT: stake a node loses per missed share
MIN_PROOF_WINDOW_FLOOR = 60  # ZKAI_MIN_PROOF_WINDOW_FLOOR: least t_P - t_R of any query (s)
CHALLENGE_WINDOW = 3600  # ZKAI_CHALLENGE_WINDOW: t_C - t_P, how long Acks can slash (s)
UNBONDING_MARGIN = 3600  # ZKAI_UNBONDING_MARGIN: t_C + margin <= request time + unbonding (s)
CLAIM_WINDOW = 30 * 24 * 3600  # ZKAI_CLAIM_WINDOW: how long a reward epoch stays claimable

ORDER = (
    "ZKAIToken",
    "NodeRegistry",
    "VerifierFactory",
    "ModelRegistry",
    "ContributorRewards",
    "QueryMarket",
)
DEPENDS_ON = {
    "ZKAIToken": (),
    "NodeRegistry": ("ZKAIToken",),
    "VerifierFactory": (),
    "ModelRegistry": ("VerifierFactory",),
    "ContributorRewards": ("ZKAIToken",),
    "QueryMarket": ("ZKAIToken", "NodeRegistry", "ModelRegistry", "ContributorRewards"),
}


@dataclass(frozen=True)
class Parameters:
    token_cap: int = TOKEN_CAP
    initial_supply: int = INITIAL_SUPPLY
    min_stake: int = MIN_STAKE
    unbonding_period: int = UNBONDING_PERIOD
    protocol_fee_bps: int = PROTOCOL_FEE_BPS
    contributor_fee_bps: int = CONTRIBUTOR_FEE_BPS
    slash_amount: int = SLASH_AMOUNT
    min_proof_window_floor: int = MIN_PROOF_WINDOW_FLOOR
    challenge_window: int = CHALLENGE_WINDOW
    unbonding_margin: int = UNBONDING_MARGIN
    claim_window: int = CLAIM_WINDOW

    @classmethod
    def from_env(cls) -> "Parameters":
        values = {
            name: int(os.environ[f"ZKAI_{name.upper()}"])
            for name in cls.__dataclass_fields__
            if f"ZKAI_{name.upper()}" in os.environ
        }
        return cls(**values)


def record_path(network_name: str) -> Path:
    return DEPLOYMENTS_DIR / f"{network_name}.json"


def _load_record(path: Path, chain_id: int, network_name: str) -> dict[str, Any]:
    if path.exists():
        record: dict[str, Any] = json.loads(path.read_text())
        if record.get("chain_id") == chain_id:
            return record
        click.echo(
            f"{path.name} is for chain {record.get('chain_id')}, not {chain_id}: starting anew"
        )
    return {"network": network_name, "chain_id": chain_id, "contracts": {}}


def _save(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def deploy(deployer: AccountAPI, path: Path, params: Parameters) -> dict[str, ContractInstance]:
    """Deploy what is missing, wire everything, and keep `path` up to date after each step."""
    chain_id = chain.chain_id
    record = _load_record(path, chain_id, path.stem)
    record["parameters"] = asdict(params)
    contracts: dict[str, ContractInstance] = {}
    deployed_now: set[str] = set()

    constructors: dict[str, Callable[[], tuple[Any, ...]]] = {
        "ZKAIToken": lambda: (deployer, params.token_cap, deployer, params.initial_supply),
        "NodeRegistry": lambda: (
            deployer,
            contracts["ZKAIToken"],
            params.min_stake,
            params.unbonding_period,
            deployer,  # slashed stake goes to the treasury; the deployer until it is handed over
        ),
        "VerifierFactory": lambda: (),
        "ModelRegistry": lambda: (contracts["VerifierFactory"],),
        "ContributorRewards": lambda: (deployer, contracts["ZKAIToken"], params.claim_window),
        # The market's owner is its deployer (Ownable2Step: hand it over with transferOwnership).
        "QueryMarket": lambda: (
            contracts["ZKAIToken"],
            contracts["NodeRegistry"],
            contracts["ModelRegistry"],
            deployer,  # treasury
            contracts["ContributorRewards"],
            params.protocol_fee_bps,
            params.contributor_fee_bps,
            params.slash_amount,
            params.min_proof_window_floor,
            params.challenge_window,
            params.unbonding_margin,
        ),
    }

    for name in ORDER:
        container = getattr(project, name)
        entry = record["contracts"].get(name)
        stale_dependencies = [dep for dep in DEPENDS_ON[name] if dep in deployed_now]
        if entry and not stale_dependencies and chain.provider.get_code(entry["address"]):
            contracts[name] = container.at(entry["address"])
            click.echo(f"reusing   {name:<20} {entry['address']} (block {entry['block']})")
            continue
        if entry:
            why = f"{', '.join(stale_dependencies)} redeployed" if stale_dependencies else "no code"
            click.echo(f"replacing {name:<20} {entry['address']} ({why})")
        instance = deployer.deploy(container, *constructors[name]())
        receipt = chain.get_receipt(instance.txn_hash)
        contracts[name] = instance
        deployed_now.add(name)
        record["contracts"][name] = {
            "address": instance.address,
            "block": receipt.block_number,
            "tx": receipt.txn_hash,
        }
        _save(path, record)
        click.echo(f"deployed  {name:<20} {instance.address} (block {receipt.block_number})")

    _wire(deployer, contracts)
    _save(path, record)
    click.echo(f"recorded  {path}")
    return contracts


def _wire(deployer: AccountAPI, contracts: dict[str, ContractInstance]) -> None:
    market = contracts["QueryMarket"]
    registry = contracts["NodeRegistry"]
    rewards = contracts["ContributorRewards"]
    if registry.isSlasher(market):
        click.echo("wired     QueryMarket is already the NodeRegistry's slasher")
    else:
        registry.setSlasher(market, True, sender=deployer)
        _allowed, executable_at = registry.pendingSlasherChange(market)
        if executable_at:
            # Nodes are registered: a new slasher waits one unbonding period (NodeRegistry).
            click.echo(
                f"proposed  QueryMarket as the NodeRegistry's slasher; anyone applies it from "
                f"{executable_at} (unix time) with applySlasherChange({market.address})"
            )
        else:
            click.echo("wired     QueryMarket may slash in NodeRegistry")
    if market.rewardsPool() == rewards.address:
        click.echo("wired     QueryMarket already pays contributor cuts to ContributorRewards")
    else:
        market.setRewardsPool(rewards, sender=deployer)
        click.echo("wired     QueryMarket pays contributor cuts to ContributorRewards")
    aggregator = os.environ.get("ZKAI_AGGREGATOR")
    if aggregator and not rewards.isAggregator(aggregator):
        rewards.setAggregator(aggregator, True, sender=deployer)
        click.echo(f"wired     {aggregator} may post reward epochs")


def _deployer() -> AccountAPI:
    network = networks.provider.network
    if network.is_local:
        return accounts.test_accounts[0]
    alias = os.environ.get("ZKAI_DEPLOYER")
    if not alias:
        raise click.UsageError(
            f"set ZKAI_DEPLOYER to the alias of an ape account to deploy on {network.name} "
            "(`ape accounts import <alias>`)"
        )
    return accounts.load(alias)


def main() -> None:
    network = networks.provider.network
    deployer = _deployer()
    click.echo(f"deploying to {network.ecosystem.name}:{network.name} (chain {chain.chain_id})")
    click.echo(f"deployer  {deployer.address}")
    deploy(deployer, record_path(network.name), Parameters.from_env())

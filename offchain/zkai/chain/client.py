"""The one chain client used by the node service, the wallet CLI and the API.

- ABIs come from ape's compiled manifest (`.build/__local__.json`, written by `ape compile`).
- Addresses come from `deployments/<network>.json`, written by `ape run deploy`.
- Reverts are decoded against every custom error the project's contracts declare, so a caller sees
  `QueryMarket.DeadlinePassed(queryId=3, deadline=…)` instead of raw revert bytes.
- Transient RPC failures (connection refused, timeouts) are retried with backoff; everything else
  surfaces at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import requests
from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils.abi import event_abi_to_log_topic, function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted
from web3.types import Nonce, TxParams, TxReceipt

from zkai.errors import ChainError, ContractRevertError, DeploymentError, RpcUnavailableError
from zkai.toolchain import REPO_ROOT

T = TypeVar("T")

BUILD_MANIFEST = REPO_ROOT / ".build" / "__local__.json"
DEPLOYMENTS_DIR = REPO_ROOT / "deployments"

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ConnectionError,
    TimeoutError,
)


@lru_cache(maxsize=1)
def _manifest(path: Path = BUILD_MANIFEST) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise DeploymentError(
            f"no compiled contracts at {path}; run `make setup` (it runs `ape compile`)"
        ) from None
    return data


def load_abi(contract_name: str) -> list[dict[str, Any]]:
    """The ABI of a project contract, from ape's build manifest."""
    types = _manifest()["contractTypes"]
    if contract_name not in types:
        raise DeploymentError(
            f"contract {contract_name!r} is not in the build ({', '.join(sorted(types))}); "
            "run `ape compile`"
        )
    abi: list[dict[str, Any]] = types[contract_name]["abi"]
    return abi


def load_bytecode(contract_name: str) -> str:
    """The deployment (init) bytecode of a project contract, from ape's build manifest."""
    load_abi(contract_name)  # the same "not compiled" error
    bytecode: str = _manifest()["contractTypes"][contract_name]["deploymentBytecode"]["bytecode"]
    return bytecode


def _canonical_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


def _error_signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(_canonical_type(p) for p in entry['inputs'])})"


@lru_cache(maxsize=1)
def _error_table() -> dict[bytes, tuple[str, dict[str, Any]]]:
    """selector -> (signature, abi entry) for every custom error of every compiled contract."""
    table: dict[bytes, tuple[str, dict[str, Any]]] = {}
    for contract in _manifest()["contractTypes"].values():
        for entry in contract.get("abi", []):
            if entry.get("type") == "error":
                signature = _error_signature(entry)
                table[function_signature_to_4byte_selector(signature)] = (signature, entry)
    return table


def decode_revert(data: str | bytes | None) -> ContractRevertError:
    """Turn revert data into a `ContractRevertError` naming the custom error and its arguments."""
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else (data or b"")
    if len(raw) < 4:
        return ContractRevertError("Revert", {}, raw)
    selector, payload = raw[:4], raw[4:]
    if selector == bytes.fromhex("08c379a0"):  # Error(string)
        (reason,) = abi_decode(["string"], payload)
        return ContractRevertError("Error", {"reason": reason}, raw)
    known = _error_table().get(selector)
    if known is None:
        return ContractRevertError(f"UnknownError(0x{selector.hex()})", {}, raw)
    _, entry = known
    values = abi_decode([_canonical_type(p) for p in entry["inputs"]], payload)
    args = {
        param["name"] or f"arg{i}": value
        for i, (param, value) in enumerate(zip(entry["inputs"], values, strict=True))
    }
    return ContractRevertError(entry["name"], args, raw)


def with_retries(
    action: Callable[[], T],
    *,
    attempts: int = 8,
    first_delay: float = 0.25,
    max_delay: float = 5.0,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run `action`, retrying transient RPC failures with exponential backoff."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except TRANSIENT_ERRORS as exc:
            if attempt == attempts:
                raise RpcUnavailableError(
                    f"RPC unavailable after {attempts} attempts: {exc}"
                ) from exc
            if on_retry is not None:
                on_retry(attempt, exc)
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Deployment:
    """Addresses of the project's contracts on one network."""

    network: str
    chain_id: int
    contracts: dict[str, str]
    blocks: dict[str, int] = field(default_factory=dict)

    @property
    def start_block(self) -> int:
        """The first block any of the contracts exists in: where event scans begin."""
        return min(self.blocks.values(), default=0)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name]
        except KeyError:
            raise DeploymentError(
                f"{name} is not deployed on {self.network}; run `ape run deploy --network ...`"
            ) from None

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise DeploymentError(
                f"no deployment record at {path}; deploy first (`ape run deploy`) or start a local "
                "network with `zkai up`"
            ) from None
        contracts: dict[str, str] = {}
        blocks: dict[str, int] = {}
        for name, entry in data["contracts"].items():
            contracts[name] = to_checksum_address(entry["address"])
            if "block" in entry:
                blocks[name] = int(entry["block"])
        return cls(str(data.get("network", path.stem)), int(data["chain_id"]), contracts, blocks)

    def save(self, path: Path) -> None:
        """Write the record in the format `load` (and `ape run deploy`) use, atomically."""
        record = {
            "network": self.network,
            "chain_id": self.chain_id,
            "contracts": {
                name: {"address": address}
                | ({"block": self.blocks[name]} if name in self.blocks else {})
                for name, address in self.contracts.items()
            },
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)


def deployment_path(network: str) -> Path:
    """`<deployments>/<network>.json`, `network` being ape's network name (`local` for anvil).

    The folder is ZKAI_DEPLOYMENTS_DIR when set, else the repository's deployments/.
    """
    from zkai.config import get_settings

    return (get_settings().deployments_dir or DEPLOYMENTS_DIR) / f"{network}.json"


def connect(rpc_url: str | None = None, network: str | None = None) -> ChainClient:
    """A client for the configured network (ZKAI_RPC_URL, ZKAI_NETWORK), checked to be live."""
    from zkai.config import get_settings

    settings = get_settings()
    client = ChainClient(
        rpc_url or settings.rpc_url, Deployment.load(deployment_path(network or settings.network))
    )
    client.check_chain()
    return client


class ChainClient:
    """A web3 connection bound to one deployment."""

    def __init__(self, rpc_url: str, deployment: Deployment, request_timeout: float = 30.0) -> None:
        self.rpc_url = rpc_url
        self.deployment = deployment
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout}))
        self._contracts: dict[str, Contract] = {}
        self._identity: str | None = None

    @property
    def identity(self) -> str:
        """`<chain id>:<genesis block hash prefix>`: tells apart chains that share a chain id
        (every local anvil is 31337), for state kept outside the chain, such as Redis keys."""
        if self._identity is None:
            genesis = with_retries(lambda: self.w3.eth.get_block(0))
            self._identity = f"{self.deployment.chain_id}:{bytes(genesis['hash']).hex()[:16]}"
        return self._identity

    def check_chain(self) -> None:
        """Fail clearly when the RPC is down or serves another chain than the deployment's."""
        try:
            chain_id = with_retries(lambda: self.w3.eth.chain_id, attempts=3)
        except RpcUnavailableError as exc:
            raise RpcUnavailableError(
                f"no Ethereum node answers at {self.rpc_url} ({exc}); start one (`zkai up`) or set "
                "ZKAI_RPC_URL"
            ) from exc
        if chain_id != self.deployment.chain_id:
            raise DeploymentError(
                f"{self.rpc_url} serves chain {chain_id} but the deployment record is for chain "
                f"{self.deployment.chain_id} ({self.deployment.network})"
            )

    def contract(self, name: str) -> Contract:
        if name not in self._contracts:
            self._contracts[name] = self.w3.eth.contract(
                address=to_checksum_address(self.deployment.address(name)), abi=load_abi(name)
            )
        return self._contracts[name]

    def deploy(
        self,
        account: LocalAccount,
        contract: str | tuple[list[dict[str, Any]], str],
        args: Iterable[Any] = (),
        *,
        timeout: float = 120.0,
    ) -> tuple[str, TxReceipt]:
        """Deploy a project contract by name, or any contract given as (abi, bytecode).

        Returns the new contract's checksum address and the deployment receipt.
        """
        abi, bytecode = (
            (load_abi(contract), load_bytecode(contract)) if isinstance(contract, str) else contract
        )
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        receipt = self.transact(account, factory.constructor(*args), timeout=timeout)
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deployment {receipt['transactionHash'].hex()} created no contract")
        return to_checksum_address(address), receipt

    def estimate_gas(self, account: LocalAccount, fn: ContractFunction, value: int = 0) -> int:
        """Gas for a call from `account`; a call that would revert raises `ContractRevertError`."""
        params: TxParams = {"from": account.address, "value": value}  # type: ignore[typeddict-item]
        try:
            return int(with_retries(lambda: fn.estimate_gas(params)))
        except (ContractCustomError, ContractLogicError) as exc:
            raise decode_revert(getattr(exc, "data", None)) from exc

    def call(self, fn: ContractFunction) -> Any:
        """A read-only call, retried on transient failures, reverts decoded."""
        try:
            return with_retries(fn.call)
        except (ContractCustomError, ContractLogicError) as exc:
            raise decode_revert(getattr(exc, "data", None)) from exc

    def call_at(self, fn: ContractFunction, block: Any = "latest") -> Any:
        """`call` at a given block (a number, a hash or a tag such as "latest" or "finalized")."""
        try:
            return with_retries(lambda: fn.call(block_identifier=block))
        except (ContractCustomError, ContractLogicError) as exc:
            raise decode_revert(getattr(exc, "data", None)) from exc

    def transact(
        self,
        account: LocalAccount,
        fn: ContractFunction | ContractConstructor,
        *,
        nonce: int | None = None,
        value: int = 0,
        gas: int | None = None,
        timeout: float = 120.0,
        on_signed: Callable[[bytes], None] | None = None,
    ) -> TxReceipt:
        """Sign and send a call and wait for its receipt; a revert raises `ContractRevertError`.

        Gas is estimated first, so a call that would revert fails here with its decoded error and
        costs nothing. `on_signed(tx_hash)` runs after signing and before sending, so a caller can
        record the hash of a transaction that may reach the chain even if this process dies.
        """
        params: TxParams = {"from": account.address, "value": value}  # type: ignore[typeddict-item]
        try:
            estimated = gas or with_retries(lambda: fn.estimate_gas(params))
        except (ContractCustomError, ContractLogicError) as exc:
            raise decode_revert(getattr(exc, "data", None)) from exc
        tx_nonce = (
            nonce
            if nonce is not None
            else with_retries(lambda: self.w3.eth.get_transaction_count(account.address, "pending"))
        )
        params["gas"] = int(estimated * 1.2) + 10_000
        params["nonce"] = Nonce(tx_nonce)
        params["chainId"] = self.deployment.chain_id
        tx = fn.build_transaction(params)
        signed = account.sign_transaction(tx)  # type: ignore[arg-type]
        if on_signed is not None:
            on_signed(bytes(signed.hash))
        tx_hash = with_retries(lambda: self.w3.eth.send_raw_transaction(signed.raw_transaction))
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        except TimeExhausted as exc:
            raise ChainError(
                f"transaction {tx_hash.hex()} not mined within {timeout:.0f} s"
            ) from exc
        if receipt["status"] != 1:
            raise ChainError(f"transaction {tx_hash.hex()} reverted after estimation succeeded")
        return receipt

    def send_ether(
        self, account: LocalAccount, to: str, value: int, timeout: float = 120.0
    ) -> TxReceipt:
        """A plain ETH transfer (legacy gas price), waited for."""
        tx = {
            "to": to_checksum_address(to),
            "value": value,
            "gas": 21_000,
            "gasPrice": with_retries(lambda: self.w3.eth.gas_price),
            "nonce": with_retries(
                lambda: self.w3.eth.get_transaction_count(account.address, "pending")
            ),
            "chainId": self.deployment.chain_id,
        }
        signed = account.sign_transaction(tx)  # type: ignore[arg-type]
        tx_hash = with_retries(lambda: self.w3.eth.send_raw_transaction(signed.raw_transaction))
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        except TimeExhausted as exc:
            raise ChainError(f"transfer {tx_hash.hex()} not mined within {timeout:.0f} s") from exc
        if receipt["status"] != 1:
            raise ChainError(f"transfer {tx_hash.hex()} failed")
        return receipt

    def logs(self, contract_names: Iterable[str], from_block: int, to_block: int) -> list[Any]:
        """Every decodable event of `contract_names` in a block range (inclusive), in chain order.

        One `eth_getLogs` for all the contracts, retried on transient errors; each log is decoded
        with its contract's ABI (the event name is `log["event"]`, the contract's name is
        `log["contract"]`). Logs of events a contract's ABI does not declare are skipped.
        """
        decoders: dict[tuple[str, bytes], tuple[str, Any]] = {}
        for name in contract_names:
            contract = self.contract(name)
            for entry in load_abi(name):
                if entry.get("type") == "event" and not entry.get("anonymous", False):
                    topic = event_abi_to_log_topic(entry)  # type: ignore[arg-type]
                    event = getattr(contract.events, str(entry["name"]))()
                    decoders[(contract.address.lower(), topic)] = (name, event)
        addresses = sorted({address for address, _ in decoders})
        raw = with_retries(
            lambda: self.w3.eth.get_logs(
                {
                    "fromBlock": from_block,
                    "toBlock": to_block,
                    "address": [to_checksum_address(a) for a in addresses],
                }
            )
        )
        decoded: list[Any] = []
        for log in sorted(raw, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
            if not log["topics"]:
                continue
            found = decoders.get((str(log["address"]).lower(), bytes(log["topics"][0])))
            if found is None:
                continue
            name, event = found
            decoded.append({**event.process_log(log), "contract": name})
        return decoded

    def events(
        self,
        contract_name: str,
        event_name: str,
        from_block: int,
        to_block: int,
        argument_filters: dict[str, Any] | None = None,
    ) -> Iterable[Any]:
        """Decoded logs of one event in a block range (inclusive), retried on transient errors."""
        event = getattr(self.contract(contract_name).events, event_name)
        return with_retries(
            lambda: event.get_logs(
                from_block=from_block, to_block=to_block, argument_filters=argument_filters
            )
        )

"""geth-format genesis files: chain id, fork schedule (by block and by time), blob schedule, alloc."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from eth.constants import ZERO_HASH32

from imochain import safejson

from .errors import GenesisError
from .forks import FORKS, vm_class
from .forks.osaka.constants import BlobSchedule

# geth's config keys for block-activated forks, in order; then the time-activated ones
BLOCK_FORKS = [("homesteadBlock", "homestead"), ("eip150Block", "tangerinewhistle"),
               ("eip158Block", "spuriousdragon"), ("byzantiumBlock", "byzantium"),
               ("constantinopleBlock", "constantinople"), ("petersburgBlock", "petersburg"),
               ("istanbulBlock", "istanbul"), ("muirGlacierBlock", "muirglacier"),
               ("berlinBlock", "berlin"), ("londonBlock", "london"),
               ("arrowGlacierBlock", "arrowglacier"), ("grayGlacierBlock", "grayglacier"),
               ("mergeNetsplitBlock", "paris")]
TIME_FORKS = [("shanghaiTime", "shanghai"), ("cancunTime", "cancun"), ("pragueTime", "prague"),
              ("osakaTime", "osaka"), ("bpo1Time", "bpo1"), ("bpo2Time", "bpo2")]
MAX_GENESIS_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ForkActivation:
    fork: str
    block: int | None = None
    time: int | None = None

    def active(self, number: int, timestamp: int) -> bool:
        return (self.block is not None and number >= self.block) or \
               (self.time is not None and timestamp >= self.time)


@dataclass
class GethGenesis:
    chain_id: int
    schedule: list[ForkActivation]  # frontier first, in activation order
    blob_schedules: dict[str, BlobSchedule]
    header: dict  # py-evm genesis header params
    alloc: dict[bytes, dict] = field(default_factory=dict)  # py-evm genesis state
    dao_fork_block: int | None = None  # set only when the chain supports the DAO fork
    deposit_contract: bytes | None = None  # config.depositContractAddress

    def fork_at(self, number: int, timestamp: int) -> str:
        return [a.fork for a in self.schedule if a.active(number, timestamp)][-1]

    def vm_for(self, fork: str):
        """The fork's VM, with this genesis's blob schedule where the file sets one (Osaka on)."""
        vm = vm_class(fork)
        schedule = self.blob_schedules.get(fork)
        if schedule is None or getattr(vm, "blob_schedule", schedule) == schedule:
            return vm
        from .forks.osaka import osaka_with_blobs
        return osaka_with_blobs(fork, schedule)


def _quantity(value, what: str) -> int:
    try:
        n = int(value, 16) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise GenesisError(f"genesis: {what} is not a number: {value!r}") from None
    if isinstance(value, bool) or n < 0:
        raise GenesisError(f"genesis: {what} must be a non-negative number: {value!r}")
    return n


def _hex_bytes(value, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise GenesisError(f"genesis: {what} must be 0x-prefixed hex: {value!r}")
    try:
        data = bytes.fromhex(value[2:] if len(value) % 2 == 0 else "0" + value[2:])
    except ValueError:
        raise GenesisError(f"genesis: {what} is not hex: {value!r}") from None
    if size is not None:
        if len(data) > size:
            raise GenesisError(f"genesis: {what} is longer than {size} bytes")
        data = data.rjust(size, b"\0")
    return data


def parse_genesis(doc: dict) -> GethGenesis:
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise GenesisError("genesis: expected a JSON object with a 'config' object")
    config = doc["config"]
    if "chainId" not in config:
        raise GenesisError("genesis: config.chainId is missing")
    schedule = [ForkActivation("frontier", block=0)]
    for key, fork in BLOCK_FORKS:
        if config.get(key) is not None:
            schedule.append(ForkActivation(fork, block=_quantity(config[key], f"config.{key}")))
    for key, fork in TIME_FORKS:
        if config.get(key) is not None:
            schedule.append(ForkActivation(fork, time=_quantity(config[key], f"config.{key}")))
    for before, after in zip(schedule, schedule[1:]):
        b = before.block if before.block is not None else None
        if (after.block is not None and b is not None and after.block < b) or \
                (after.time is not None and before.time is not None and after.time < before.time):
            raise GenesisError(f"genesis: fork schedule out of order: {after.fork} before {before.fork}")
    known = set(FORKS)
    unknown = [k for k in config if k.endswith(("Block", "Time")) and k not in dict(BLOCK_FORKS)
               and k not in dict(TIME_FORKS) and k not in ("eip155Block", "daoForkBlock")]
    if unknown:
        raise GenesisError(f"genesis: unknown fork in config: {', '.join(unknown)}")
    blobs = {}
    for fork, entry in (config.get("blobSchedule") or {}).items():
        name = fork.lower()
        if name not in known:
            raise GenesisError(f"genesis: blobSchedule names an unknown fork: {fork}")
        try:
            blobs[name] = BlobSchedule(_quantity(entry["target"], f"blobSchedule.{fork}.target"),
                                       _quantity(entry["max"], f"blobSchedule.{fork}.max"),
                                       _quantity(entry["baseFeeUpdateFraction"],
                                                 f"blobSchedule.{fork}.baseFeeUpdateFraction"))
        except (KeyError, TypeError):
            raise GenesisError(f"genesis: blobSchedule.{fork} needs target, max, baseFeeUpdateFraction") from None
    genesis = GethGenesis(_quantity(config["chainId"], "config.chainId"), schedule, blobs, {})
    genesis.header = _header_params(doc, genesis)
    genesis.alloc = _alloc(doc.get("alloc") or {})
    if config.get("depositContractAddress") is not None:
        genesis.deposit_contract = _hex_bytes(config["depositContractAddress"], "config.depositContractAddress", 20)
    if config.get("daoForkSupport") and config.get("daoForkBlock") is not None:
        genesis.dao_fork_block = _quantity(config["daoForkBlock"], "config.daoForkBlock")
    return genesis


def _header_params(doc: dict, genesis: GethGenesis) -> dict:
    timestamp = _quantity(doc.get("timestamp", "0x0"), "timestamp")
    fork = genesis.fork_at(0, timestamp)
    params = dict(
        difficulty=_quantity(doc.get("difficulty", "0x0"), "difficulty"),
        gas_limit=_quantity(doc.get("gasLimit", "0x0"), "gasLimit"),
        timestamp=timestamp,
        extra_data=_hex_bytes(doc.get("extraData", "0x"), "extraData"),
        nonce=_hex_bytes(doc.get("nonce", "0x0"), "nonce", 8),
        mix_hash=_hex_bytes(doc.get("mixHash", "0x0"), "mixHash", 32),
        coinbase=_hex_bytes(doc.get("coinbase", "0x0"), "coinbase", 20),
    )
    order = list(FORKS)
    if order.index(fork) >= order.index("london"):
        params["base_fee_per_gas"] = _quantity(doc.get("baseFeePerGas") or 1_000_000_000, "baseFeePerGas")
    if order.index(fork) >= order.index("cancun"):
        params["excess_blob_gas"] = _quantity(doc.get("excessBlobGas") or 0, "excessBlobGas")
        params["blob_gas_used"] = _quantity(doc.get("blobGasUsed") or 0, "blobGasUsed")
        params["parent_beacon_block_root"] = ZERO_HASH32  # geth's choice; py-evm's default differs
    if len(params["extra_data"]) > 32:
        raise GenesisError("genesis: extraData is longer than 32 bytes")
    return params


def _alloc(alloc: dict) -> dict[bytes, dict]:
    if not isinstance(alloc, dict):
        raise GenesisError("genesis: alloc must be an object of address -> account")
    state = {}
    for address, account in alloc.items():
        addr = _hex_bytes(address if address.startswith("0x") else "0x" + address, f"alloc address {address}", 20)
        if not isinstance(account, dict):
            raise GenesisError(f"genesis: alloc.{address} must be an object")
        storage = account.get("storage") or {}
        if not isinstance(storage, dict):
            raise GenesisError(f"genesis: alloc.{address}.storage must be an object")
        state[addr] = {
            "balance": _quantity(account.get("balance", "0x0"), f"alloc.{address}.balance"),
            "nonce": _quantity(account.get("nonce", "0x0"), f"alloc.{address}.nonce"),
            "code": _hex_bytes(account.get("code", "0x"), f"alloc.{address}.code"),
            "storage": {_quantity(k, f"alloc.{address} storage slot"): int.from_bytes(
                _hex_bytes(v, f"alloc.{address} storage value", 32), "big") for k, v in storage.items()},
        }
    return state


def load_genesis(path: str | Path) -> GethGenesis:
    """Read and check a geth genesis file; GenesisError says what is wrong with it."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_GENESIS_BYTES:
            raise GenesisError(f"genesis: {path} is larger than {MAX_GENESIS_BYTES} bytes")
        doc = safejson.loads(p.read_text())  # a user's file: nesting bounded like any JSON
    except OSError as exc:
        raise GenesisError(f"genesis: cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        raise GenesisError(f"genesis: {path} is not valid JSON: {exc}") from None
    return parse_genesis(doc)

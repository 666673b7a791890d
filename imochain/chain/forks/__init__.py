"""Every fork the chain can run, by name: py-evm's up to Prague, this project's after it."""

from __future__ import annotations

from eth.abc import VirtualMachineAPI
from eth.vm.forks.cancun.constants import MAX_BLOB_GAS_PER_BLOCK
from eth.vm.forks.prague.constants import MAX_BLOB_GAS_PER_BLOCK as PRAGUE_MAX
from eth.vm.forks import (
    ArrowGlacierVM, BerlinVM, ByzantiumVM, CancunVM, ConstantinopleVM, FrontierVM, GrayGlacierVM,
    HomesteadVM, IstanbulVM, LondonVM, MuirGlacierVM, ParisVM, PetersburgVM, ShanghaiVM,
    SpuriousDragonVM, TangerineWhistleVM,
)

from .bpo import Bpo1VM, Bpo2VM
from .osaka import OsakaVM
from .prague import PragueVM

FORKS: dict[str, type[VirtualMachineAPI]] = {
    "frontier": FrontierVM, "homestead": HomesteadVM, "tangerinewhistle": TangerineWhistleVM,
    "spuriousdragon": SpuriousDragonVM, "byzantium": ByzantiumVM, "constantinople": ConstantinopleVM,
    "petersburg": PetersburgVM, "istanbul": IstanbulVM, "muirglacier": MuirGlacierVM,
    "berlin": BerlinVM, "london": LondonVM, "arrowglacier": ArrowGlacierVM,
    "grayglacier": GrayGlacierVM, "paris": ParisVM, "shanghai": ShanghaiVM, "cancun": CancunVM,
    "prague": PragueVM, "osaka": OsakaVM, "bpo1": Bpo1VM, "bpo2": Bpo2VM,
}
LATEST = "bpo2"


def fork_name(name: str) -> str:
    """The canonical name of a fork ("Prague", "muir-glacier", "BPO1" ...); ValueError if unknown."""
    key = name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
    if key not in FORKS:
        raise ValueError(f"unknown hardfork {name!r}; known: {', '.join(FORKS)}")
    return key


def vm_class(name: str) -> type[VirtualMachineAPI]:
    """The VM class for a fork name (case-insensitive); ValueError lists the names it knows."""
    return FORKS[fork_name(name)]


def tx_gas_cap(vm: type[VirtualMachineAPI], block_gas_limit: int) -> int:
    """The most gas one transaction may ask for: the block's limit, or less from Osaka on (EIP-7825)."""
    cap = getattr(vm._state_class, "tx_gas_limit_cap", None)
    return block_gas_limit if cap is None else min(cap, block_gas_limit)


def blob_base_fee(vm: type[VirtualMachineAPI], excess_blob_gas: int) -> int:
    """The blob base fee a block with this excess pays under the fork's schedule (EIP-4844)."""
    from eth.vm.forks.cancun.constants import BLOB_BASE_FEE_UPDATE_FRACTION, MIN_BLOB_BASE_FEE
    from eth.vm.forks.cancun.state import fake_exponential
    from eth.vm.forks.prague.constants import BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE
    schedule = getattr(vm._state_class, "blob_schedule", None)
    fraction = (schedule.base_fee_update_fraction if schedule is not None
                else BLOB_BASE_FEE_UPDATE_FRACTION if vm.fork == "cancun" else BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE)
    return fake_exponential(MIN_BLOB_BASE_FEE, excess_blob_gas, fraction)


def max_blob_gas(vm: type[VirtualMachineAPI]) -> int:
    """The most blob gas one block may use (EIP-4844's limit, raised by Prague and the
    schedules after it); 0 before Cancun."""
    schedule = getattr(vm._state_class, "blob_schedule", None)
    if schedule is not None:
        return schedule.max_gas
    if issubclass(vm, PragueVM):
        return PRAGUE_MAX
    return MAX_BLOB_GAS_PER_BLOCK if issubclass(vm, CancunVM) else 0

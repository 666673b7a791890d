"""py-evm's Prague with one fix: MODEXP's result for an empty base and a zero exponent."""

from eth._utils.address import force_bytes_to_address
from eth.vm.forks.berlin.computation import _compute_modexp_gas_fee_eip_2565
from eth.vm.forks.prague import PragueVM as _PyEvmPragueVM
from eth.vm.forks.prague.computation import PragueComputation as _PyEvmPragueComputation
from eth.vm.forks.prague.state import PragueState as _PyEvmPragueState

from ..osaka.precompiles import exact_modexp

PragueComputation = _PyEvmPragueComputation.configure(
    __name__="PragueComputation",
    _precompiles={**_PyEvmPragueComputation.get_precompiles(),
                  force_bytes_to_address(b"\x05"): exact_modexp(_compute_modexp_gas_fee_eip_2565)},
)
PragueState = _PyEvmPragueState.configure(__name__="PragueState", computation_class=PragueComputation)
PragueVM = _PyEvmPragueVM.configure(__name__="PragueVM", _state_class=PragueState)

"""Osaka's EVM: the CLZ opcode (EIP-7939) and its precompile table (P256VERIFY, new modexp)."""

from __future__ import annotations

import copy

from eth._utils.address import force_bytes_to_address
from eth.abc import ComputationAPI
from ..prague import PragueComputation
from eth.vm.forks.prague.opcodes import PRAGUE_OPCODES
from eth.vm.opcode import Opcode

from .constants import CLZ, CLZ_GAS, P256VERIFY_ADDRESS
from .precompiles import modexp_osaka, p256verify


def count_leading_zeros(computation: ComputationAPI) -> None:
    value = computation.stack_pop1_int()
    computation.stack_push_int(256 - value.bit_length())


OSAKA_OPCODES = {
    **copy.deepcopy(PRAGUE_OPCODES),
    CLZ: Opcode.as_opcode(logic_fn=count_leading_zeros, mnemonic="CLZ", gas_cost=CLZ_GAS),
}

OSAKA_PRECOMPILES = {
    **PragueComputation.get_precompiles(),
    force_bytes_to_address(b"\x05"): modexp_osaka,
    force_bytes_to_address(P256VERIFY_ADDRESS.to_bytes(2, "big")): p256verify,
}


class OsakaComputation(PragueComputation):
    opcodes = OSAKA_OPCODES
    _precompiles = OSAKA_PRECOMPILES

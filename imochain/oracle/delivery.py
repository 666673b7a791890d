"""Packing the worker's answers into transactions: many results per `invokeCallbacks`, chunked by gas.

One transaction per result made every request pay py-evm's whole per-transaction overhead
(validation, receipt, bookkeeping) a second time; a block's results now go out together, in as
few transactions as the block's gas limit and EIP-7825's per-transaction cap allow. A lone
result uses ORA's own `invokeCallback`.
"""

from __future__ import annotations

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

INVOKE_ONE = function_signature_to_4byte_selector("invokeCallback(uint256,bytes)")
INVOKE_MANY = function_signature_to_4byte_selector("invokeCallbacks(uint256[],bytes[])")
TX_GAS_CAP = 2**24 - 1  # EIP-7825 (Osaka on): the most gas one transaction may ask for
BATCH_GAS = 100_000  # the batch transaction around its results: intrinsic gas, loop, first-touch slots
# one result without a consumer: its record, the opML game's, two events (~130 000 measured for
# an MLP answer); unused gas is refunded, so these err on the generous side
RESULT_GAS = 170_000
OUTPUT_BYTE_GAS = 48  # calldata (16), log data (8), memory copies and hashing
CALLBACK_FRAME_GAS = 100_000  # a result with a consumer runs in its own call frame


def result_gas(output: bytes, callback_gas: int) -> int:
    """Gas one result needs inside a batch. A consumer gets exactly `callback_gas`, and the oracle
    insists on 64/63 of it being left inside a frame that itself got 63/64 of what was left
    (EIP-150), hence 66/63 of it."""
    gas = RESULT_GAS + OUTPUT_BYTE_GAS * len(output)
    if callback_gas:
        gas += callback_gas * 66 // 63 + CALLBACK_FRAME_GAS
    return gas


def single_gas(output: bytes, callback_gas: int, data: bytes) -> int:
    """Gas for a lone `invokeCallback`, sized for any ORA-shaped oracle (one that also stores the
    output, ~25 000 gas a word, and opens its game), as the worker always sent it."""
    return 450_000 + callback_gas * 64 // 63 + 25_000 * ((len(output) + 31) // 32 + 2) + 16 * len(data)


def chunks(results: list, gas_of, budget: int, most: int) -> list[list]:
    """`results` split in order into lists whose summed `gas_of` stays within `budget` (a result
    larger than that goes alone) and that hold at most `most` results each."""
    out, chunk, used = [], [], 0
    for item in results:
        gas = gas_of(item)
        if chunk and (used + gas > budget or len(chunk) >= most):
            out.append(chunk)
            chunk, used = [], 0
        chunk.append(item)
        used += gas
    if chunk:
        out.append(chunk)
    return out


def invoke_data(request_ids: list[int], outputs: list[bytes]) -> bytes:
    """Calldata answering these requests: `invokeCallback` for one, `invokeCallbacks` for more."""
    if len(request_ids) == 1:
        return INVOKE_ONE + abi_encode(["uint256", "bytes"], [request_ids[0], outputs[0]])
    return INVOKE_MANY + abi_encode(["uint256[]", "bytes[]"], [request_ids, outputs])

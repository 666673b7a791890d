"""What the EVM calls: 0xA1 inference and 0xA2 quote over the model store, and their gas schedule.

Addresses
---------
``INFERENCE_ADDRESS`` 0x…00A1: call data ``abi.encode(bytes32 modelHash, bytes tensor)``,
returns the encoded output tensor. Gas: ``InferencePrecompile.gas_cost`` (see ``gas``).

``QUOTE_ADDRESS`` 0x…00A2: metadata and gas quotes, nothing runs.
  * call data = ``modelHash`` (exactly 32 bytes) -> ``abi.encode(string name, uint8 mode,
    uint8 inputDtype, uint32[] inputShape, uint8 outputDtype, uint32[] outputShape,
    uint256 macs, uint256 params, uint256 gasBatch1)``
  * call data = ``abi.encode(bytes32 modelHash, bytes tensor)`` -> ``abi.encode(uint256 gas,
    uint256 macs, uint8 outputDtype, uint32[] outputShape)``
  mode 1 = int8, 2 = fp32. Gas: ``InferencePrecompile.quote_gas_cost`` (1000 + 3 per word).

Tensor = ``abi.encode(uint8 dtype, uint32[] shape, bytes data)``, little-endian data, dtype
1 = int8, 2 = int32, 3 = float32. A tensor of shape ``[B, *input]`` is a batch of B samples;
a tensor of exactly the model's input shape is one sample and its output has no batch dim.

Failures raise ``PrecompileError`` (``.reason``). Models, their store and runtimes live in
``imochain.models``.
Importing this package does not import torch; the first inference does.
"""

from imochain.models.errors import PrecompileError

from .precompile import InferencePrecompile

INFERENCE_ADDRESS = bytes.fromhex("00000000000000000000000000000000000000a1")
QUOTE_ADDRESS = bytes.fromhex("00000000000000000000000000000000000000a2")

__all__ = ["INFERENCE_ADDRESS", "QUOTE_ADDRESS", "PrecompileError", "InferencePrecompile"]

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Tensor: build and read imochain tensors, call the inference precompile.
/// @notice Tensor encoding = abi.encode(uint8 dtype, uint32[] shape, bytes data), data little-endian.
///         dtype: 1 = int8, 2 = int32, 3 = float32. A tensor whose shape is [B, ...model input]
///         is a batch of B samples; one of exactly the model's input shape is a single sample and
///         its output has no batch dimension.
///
///         Inference precompile 0x…00A1: input abi.encode(bytes32 modelHash, bytes tensor),
///         output the encoded output tensor; failure (unknown model, malformed tensor, wrong dtype
///         or shape, too large, out of gas) makes the call fail.
///
///         Quote precompile 0x…00A2 (nothing runs):
///           input modelHash (32 bytes) -> abi.encode(string name, uint8 mode, uint8 inputDtype,
///             uint32[] inputShape, uint8 outputDtype, uint32[] outputShape, uint256 macs,
///             uint256 params, uint256 gasBatch1)            mode: 1 = int8, 2 = fp32
///           input abi.encode(bytes32 modelHash, bytes tensor) -> abi.encode(uint256 gas,
///             uint256 macs, uint8 outputDtype, uint32[] outputShape)
library Tensor {
    address internal constant INFERENCE = address(0xA1);
    address internal constant QUOTE = address(0xA2);

    uint8 internal constant INT8 = 1;
    uint8 internal constant INT32 = 2;
    uint8 internal constant FLOAT32 = 3;

    error InferenceFailed(bytes32 modelHash);
    error QuoteFailed(bytes32 modelHash);
    error UnsupportedDtype(uint8 dtype);
    error IndexOutOfRange(uint256 index, uint256 length);

    /// @notice Encode a tensor from its parts.
    function encode(uint8 dtype, uint32[] memory shape, bytes memory data) internal pure returns (bytes memory) {
        return abi.encode(dtype, shape, data);
    }

    /// @notice A 1-D int8 tensor of shape [values.length].
    function int8Vector(int8[] memory values) internal pure returns (bytes memory) {
        bytes memory data = new bytes(values.length);
        for (uint256 i = 0; i < values.length; i++) {
            data[i] = bytes1(uint8(values[i]));
        }
        uint32[] memory shape = new uint32[](1);
        shape[0] = uint32(values.length);
        return abi.encode(INT8, shape, data);
    }

    /// @notice An int8 tensor from raw bytes (each byte one int8, two's complement) and a shape.
    function int8Tensor(bytes memory data, uint32[] memory shape) internal pure returns (bytes memory) {
        return abi.encode(INT8, shape, data);
    }

    /// @notice Split a tensor into dtype, shape and raw little-endian data.
    function decode(bytes memory tensor)
        internal
        pure
        returns (uint8 dtype, uint32[] memory shape, bytes memory data)
    {
        return abi.decode(tensor, (uint8, uint32[], bytes));
    }

    /// @notice Element i of raw int8 data.
    function int8At(bytes memory data, uint256 i) internal pure returns (int8) {
        if (i >= data.length) revert IndexOutOfRange(i, data.length);
        return int8(uint8(data[i]));
    }

    /// @notice Element i of raw int32 data (little-endian).
    function int32At(bytes memory data, uint256 i) internal pure returns (int32) {
        uint256 n = data.length / 4;
        if (i >= n) revert IndexOutOfRange(i, n);
        uint256 p = i * 4;
        uint32 v = uint32(uint8(data[p])) | (uint32(uint8(data[p + 1])) << 8)
            | (uint32(uint8(data[p + 2])) << 16) | (uint32(uint8(data[p + 3])) << 24);
        return int32(v);
    }

    /// @notice Number of elements of a tensor.
    function length(bytes memory tensor) internal pure returns (uint256 n) {
        (, uint32[] memory shape,) = decode(tensor);
        n = 1;
        for (uint256 i = 0; i < shape.length; i++) {
            n *= shape[i];
        }
    }

    /// @notice Index of the largest element (first one on ties) of an int8 or int32 tensor,
    ///         taken over all its elements (use it on a single sample's output, e.g. logits).
    function argmax(bytes memory tensor) internal pure returns (uint256 best) {
        (uint8 dtype,, bytes memory data) = decode(tensor);
        int256 bestValue = type(int256).min;
        if (dtype == INT8) {
            for (uint256 i = 0; i < data.length; i++) {
                int256 v = int8(uint8(data[i]));
                if (v > bestValue) (bestValue, best) = (v, i);
            }
        } else if (dtype == INT32) {
            uint256 n = data.length / 4;
            for (uint256 i = 0; i < n; i++) {
                int256 v = int32At(data, i);
                if (v > bestValue) (bestValue, best) = (v, i);
            }
        } else {
            revert UnsupportedDtype(dtype);
        }
    }

    /// @notice Run a model through the inference precompile; reverts with the precompile's
    ///         return data when it gave any, else with InferenceFailed(modelHash).
    function infer(bytes32 modelHash, bytes memory tensor) internal view returns (bytes memory out) {
        (bool ok, bytes memory ret) = INFERENCE.staticcall(abi.encode(modelHash, tensor));
        if (!ok) {
            if (ret.length > 0) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
            revert InferenceFailed(modelHash);
        }
        return ret;
    }

    /// @notice Gas the inference precompile will charge for this input, and the output's form.
    function quote(bytes32 modelHash, bytes memory tensor)
        internal
        view
        returns (uint256 gas, uint256 macs, uint8 outputDtype, uint32[] memory outputShape)
    {
        (bool ok, bytes memory ret) = QUOTE.staticcall(abi.encode(modelHash, tensor));
        if (!ok) revert QuoteFailed(modelHash);
        return abi.decode(ret, (uint256, uint256, uint8, uint32[]));
    }

    /// @notice Classify with a model whose output is logits: infer, then argmax.
    function classify(bytes32 modelHash, bytes memory tensor) internal view returns (uint256) {
        return argmax(infer(modelHash, tensor));
    }
}

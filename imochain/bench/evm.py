"""Pure-EVM regime: the int8 MLPs of the model store as Solidity, weights in contract code.

``compile_contract()`` compiles ``PureEvmMlp.sol`` with the npm ``solc`` (node, standard JSON,
optimizer on, evmVersion prague) at run time: it is a benchmark fixture, not a genesis
contract. ``pack_model`` turns a validated int8 graph into the byte stream the contract reads
(layout documented in the .sol file); ``deploy_model`` stores it in data contracts of at most
24 576 bytes of code each (EIP-170) and reports the deploy gas from the receipts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imochain.contracts import solc
from imochain.contracts.solc import toolchain_missing  # noqa: F401  (the regime's skip reason)

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "PureEvmMlp.sol"
PAYLOAD = 24544            # stream bytes per data contract; must equal PAYLOAD in the .sol file
MAGIC = int.from_bytes(b"imochain-pure-evm-mlp/1", "big")
SUPPORTED_OPS = {"Linear", "Requantize", "ReLU", "Flatten", "Reshape"}
KIND_LINEAR, KIND_REQUANT, KIND_RELU = 1, 2, 3
DTYPE_CODE = {"int8": 1, "int32": 2}
SOLC_SETTINGS = {
    "optimizer": {"enabled": True, "runs": 1_000_000},   # runtime gas over deploy size: big constants stay PUSH32
    "evmVersion": "prague",
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}


class Unsupported(Exception):
    """This model cannot run in the pure-EVM regime (the message says why)."""


@functools.lru_cache(maxsize=4)
def compile_source(filename: str, text: str, contract: str) -> dict:
    """{'abi', 'bytecode', 'solc'} of one contract of a Solidity source, compiled now."""
    std = {"language": "Solidity", "sources": {filename: {"content": text}}, "settings": SOLC_SETTINGS}
    out = solc.compile_standard_json(std)
    errors = [e["formattedMessage"] for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("solc: " + "\n".join(errors)[:2000])
    c = out["contracts"][filename][contract]
    return {"abi": c["abi"], "bytecode": bytes.fromhex(c["evm"]["bytecode"]["object"]), "solc": solc.solc_version()}


def compile_contract() -> dict:
    """PureEvmMlp, compiled now (once per process)."""
    return compile_source("PureEvmMlp.sol", SOURCE.read_text(), "PureEvmMlp")


def pack_linear(weight: np.ndarray) -> bytes:
    """int8 [N, K] -> the biased, lane-interleaved words the packed loop reads (see .sol)."""
    n, k = weight.shape
    blocks = -(-n // 32)
    u = np.zeros((blocks * 32, k), dtype=np.uint8)
    u[:n] = (weight.astype(np.int16) + 128).astype(np.uint8)
    out = np.zeros((blocks, k, 32), dtype=np.uint8)
    for jj in range(32):
        p = 4 * (jj % 8) + jj // 8          # byte position from the least significant end
        out[:, :, 31 - p] = u[jj::32][:blocks]
    return out.tobytes()


@dataclass
class PackedModel:
    name: str
    ops: list[tuple]              # (kind, a, b, c) records
    stream: bytes                 # weights and biases, split over data contracts
    input_len: int
    max_act: int
    wbuf: int
    out_dtype: int
    out_shape: tuple
    chunk_payloads: list[bytes] = field(default_factory=list)


def pack_model(model) -> PackedModel:
    """Raise Unsupported unless the graph is a chain of MLP ops in int8 mode."""
    g = model.graph
    if g.mode != "int8":
        raise Unsupported("fp32 model: the pure-EVM regime is integer-only")
    bad = sorted({n.op for n in g.nodes} - SUPPORTED_OPS)
    if bad:
        raise Unsupported(f"ops {', '.join(bad)} not written in Solidity (MLP ops only)")
    if any(n.inputs != [n.index] for n in g.nodes):
        raise Unsupported("graph is not a plain chain")
    ops, parts, offset = [], [], 0
    max_act, wbuf = int(np.prod(g.input_shape)), 0
    nodes = g.nodes
    for i, n in enumerate(nodes):
        if n.op == "Linear":
            w = model.weights[n.attrs["weight"]]
            N, K = w.shape
            if K >= 32896:    # the packed loop's 32-bit lanes hold K*128*255 only below this (see .sol)
                raise Unsupported(f"Linear with K={K} inputs overflows the packed loop's 32-bit lanes")
            b = model.weights[n.attrs["bias"]] if "bias" in n.attrs else np.zeros(N, np.int32)
            bias = b.astype(">i4").tobytes()
            packed = pack_linear(w)
            ops.append((KIND_LINEAR, K, N, offset + len(bias), offset))
            parts += [bias, packed]
            offset += len(bias) + len(packed)
            max_act = max(max_act, N)
            wbuf = max(wbuf, -(-4 * N // 32) * 32 + 32 * K)
        elif n.op == "Requantize":
            fused = i + 1 < len(nodes) and nodes[i + 1].op == "ReLU"
            ops.append((KIND_REQUANT, n.attrs["multiplier"], n.attrs["shift"], 0 if fused else -128))
        elif n.op == "ReLU":
            if i > 0 and nodes[i - 1].op == "Requantize":
                continue      # fused into the clamp above
            ops.append((KIND_RELU,))
        # Flatten / Reshape: the contract keeps activations flat, row-major, like torch
    stream = b"".join(parts)
    pm = PackedModel(g.name, ops, stream, int(np.prod(g.input_shape)), max_act, wbuf,
                     DTYPE_CODE[g.output_dtype], tuple(g.output_shape))
    pm.chunk_payloads = [stream[i:i + PAYLOAD] for i in range(0, len(stream), PAYLOAD)] or [b""]
    return pm


def _word(v: int) -> bytes:
    return (v % (1 << 256)).to_bytes(32, "big")


def root_payload(pm: PackedModel, chunk_addresses: list[bytes]) -> bytes:
    words = [MAGIC, len(chunk_addresses), len(pm.ops), pm.input_len, pm.max_act, pm.wbuf,
             pm.out_dtype, len(pm.out_shape), *pm.out_shape]
    words += [int.from_bytes(a, "big") for a in chunk_addresses]
    for rec in pm.ops:
        words += list(rec) + [0] * (6 - len(rec))
    return b"".join(_word(v) for v in words)


def data_initcode(payload: bytes) -> bytes:
    """Initcode that deploys 0x00 ++ payload as the contract's code."""
    runtime = b"\x00" + payload
    if len(runtime) > 24576:
        raise ValueError("data contract over the EIP-170 code size limit")
    n = len(runtime).to_bytes(2, "big")
    # PUSH2 n, DUP1, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 0, RETURN
    return b"\x61" + n + b"\x80\x60\x0c\x60\x00\x39\x60\x00\xf3" + runtime


class EvmHost:
    """Deploys and calls through one in-process Node (py-evm), as account 0."""

    def __init__(self, node, compiled: dict):
        from eth_abi import decode, encode
        from eth_utils import function_signature_to_4byte_selector as sel
        self.node, self.encode, self.decode = node, encode, decode
        self.sender = node.accounts[0].address
        self.sel_infer = sel("infer(address,bytes,bool)")
        self.sel_measure = sel("measure(address,bytes)")
        self.address, self.deploy_gas = self.deploy(compiled["bytecode"])

    def deploy(self, initcode: bytes) -> tuple[bytes, int]:
        # 24 576 bytes of code cost ~5 Mgas: under the 16 777 216 gas one transaction may ask for (EIP-7825)
        h = self.node.send_transaction({"from": self.sender, "data": initcode, "gas": 16_000_000})
        r = self.node.get_receipt(h)
        if r is None or r.status != 1:
            raise RuntimeError("deployment failed")
        return r.contract_address, r.gas_used

    def deploy_model(self, pm: PackedModel) -> tuple[bytes, int, int]:
        """(root address, deploy gas summed over every data contract, number of contracts)."""
        gas, addrs = 0, []
        for payload in pm.chunk_payloads:
            a, g = self.deploy(data_initcode(payload))
            addrs.append(a)
            gas += g
        root = root_payload(pm, addrs)
        if len(root) + 1 > 24576:
            raise Unsupported("model descriptor does not fit one contract")
        a, g = self.deploy(data_initcode(root))
        return a, gas + g, len(addrs) + 1

    def infer_calldata(self, root: bytes, tensor: bytes, scalar: bool = False) -> bytes:
        return self.sel_infer + self.encode(["address", "bytes", "bool"], [root, tensor, scalar])

    def _call(self, data: bytes) -> bytes:
        res = self.node.execute_call({"from": self.sender, "to": self.address, "data": data, "gas": 30_000_000})
        if res.error:
            raise RuntimeError(f"call failed: {res.error}")
        return res.output

    def infer(self, root: bytes, tensor: bytes, scalar: bool = False) -> bytes:
        return self.decode(["bytes"], self._call(self.infer_calldata(root, tensor, scalar)))[0]

    def measure(self, target: bytes, data: bytes) -> tuple[int, bytes]:
        """(gas used by one staticcall to target, its raw return data), inside the EVM."""
        out = self._call(self.sel_measure + self.encode(["address", "bytes"], [target, data]))
        used, ret = self.decode(["uint256", "bytes"], out)
        return used, ret

    def measure_infer(self, root: bytes, tensor: bytes, scalar: bool = False) -> tuple[int, bytes]:
        used, ret = self.measure(self.address, self.infer_calldata(root, tensor, scalar))
        return used, self.decode(["bytes"], ret)[0]

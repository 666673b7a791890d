"""Gas of the IMO contracts' hot paths on a fresh in-process chain: ERC-7641 transfer (against a
plain OpenZeppelin ERC-20 compiled in the same run, when the npm solc is there), tokenURI,
oracle request, fulfilment (invokeCallback) and challenge.

    python -m imochain.bench.contract_gas      # prints one line per path
"""

from __future__ import annotations

from eth_abi import encode

ETHER = 10**18
ZERO = "0x" + "00" * 20


def _send(w3, fn, sender, value=0, gas=10_000_000):
    r = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "value": value, "gas": gas}))
    if r.status != 1:
        raise RuntimeError(f"{fn.fn_name} reverted")
    return r


PLAIN_ERC20 = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
contract PlainERC20 is ERC20 {
    constructor(uint256 supply) ERC20("Plain", "P") { _mint(msg.sender, supply); }
}
"""


def _plain_erc20() -> dict | None:
    """abi and bytecode of a bare OpenZeppelin ERC-20, or None without the compiler."""
    from imochain.contracts import build

    if build.toolchain_missing():
        return None
    out = build._run_solc({
        "language": "Solidity", "sources": {"Plain.sol": {"content": PLAIN_ERC20}},
        "settings": {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "prague",
                     "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}}})
    c = out["contracts"]["Plain.sol"]["PlainERC20"]
    return {"abi": c["abi"], "bytecode": "0x" + c["evm"]["bytecode"]["object"]}


def _transfers(w3, art: dict, args: tuple, accounts) -> dict[str, int]:
    """Automined (each its own block): to a new holder, then twice between the same holders."""
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": accounts[0],
                                                                                 "gas": 8_000_000}))
    token = w3.eth.contract(address=r.contractAddress, abi=art["abi"])
    return {"to a new holder": _send(w3, token.functions.transfer(accounts[1], ETHER), accounts[0]).gasUsed,
            "between holders": _send(w3, token.functions.transfer(accounts[1], ETHER), accounts[0]).gasUsed,
            "back, next block": _send(w3, token.functions.transfer(accounts[0], ETHER // 2), accounts[1]).gasUsed}


def measure() -> dict:
    """Gas used by each path: {"erc7641 transfer, ...": gas, ..., "erc20 transfer, ...": baseline}."""
    from imochain.contracts import GENESIS_ADDRESSES, abi, load_artifact
    from imochain.contracts import genesis as G
    from imochain.testing import in_process_web3

    w3, node = in_process_web3()
    try:
        accounts = w3.eth.accounts
        out: dict[str, int] = {}
        # automine: every transfer is its own block, the case that used to write fresh checkpoints
        args = ("Revenue", "REV", 1000 * ETHER, 80, 3600, accounts[0])
        for name, gas in _transfers(w3, load_artifact("ERC7641"), args, accounts).items():
            out[f"erc7641 transfer {name}"] = gas
        plain = _plain_erc20()
        if plain is not None:
            for name, gas in _transfers(w3, plain, (1000 * ETHER,), accounts).items():
                out[f"erc20 transfer {name}"] = gas

        oracle = w3.eth.contract(address=GENESIS_ADDRESSES["AIOracle"], abi=abi("AIOracle"))
        opml = w3.eth.contract(address=GENESIS_ADDRESSES["OpML"], abi=abi("OpML"))
        model_id = G.MODEL_IDS["digits-classifier"]
        model_hash = oracle.functions.getModel(model_id).call()[0]
        data = encode(["uint8", "uint32[]", "bytes"], [1, [64], bytes(range(64))])
        fee = oracle.functions.estimateFee(model_id, 0).call()
        r = _send(w3, oracle.functions.requestCallback(model_id, data, ZERO, 0, b""), accounts[1], fee)
        out["oracle request (no callback)"] = r.gasUsed
        rid = oracle.functions.nextRequestId().call() - 1
        output = node.inference.execute(encode(["bytes32", "bytes"], [model_hash, data]))
        wrong = bytearray(output)
        wrong[-40] ^= 1
        operator = G.OPERATOR_ADDRESS
        out["invokeCallback, first (opML game opened)"] = _send(
            w3, oracle.functions.invokeCallback(rid, bytes(wrong)), w3.to_checksum_address(operator)).gasUsed
        out["challenge (won, corrected)"] = _send(w3, opml.functions.challenge(rid, data), accounts[3],
                                                  G.CHALLENGE_BOND).gasUsed
        _send(w3, oracle.functions.requestCallback(model_id, data, ZERO, 0, b""), accounts[1], fee * 2)
        out["invokeCallback, later (opML game opened)"] = _send(
            w3, oracle.functions.invokeCallback(rid + 1, output), w3.to_checksum_address(operator)).gasUsed

        nft = w3.eth.contract(address=GENESIS_ADDRESSES["ERC7007Collection"], abi=abi("ERC7007Collection"))
        prompt = encode(["uint8", "uint32[]", "bytes"], [1, [16], bytes([0, 0, 0, 127] + [5] * 12)])
        _send(w3, nft.functions.mint(prompt), accounts[2], nft.functions.mintPrice().call())
        rid = oracle.functions.nextRequestId().call() - 1
        gen_hash = oracle.functions.getModel(G.MODEL_IDS["digits-generator"]).call()[0]
        image = node.inference.execute(encode(["bytes32", "bytes"], [gen_hash, prompt]))
        _send(w3, oracle.functions.invokeCallback(rid, image), w3.to_checksum_address(operator))
        token_id = nft.functions.tokenId(prompt).call()
        out["erc7007 tokenURI (eth_estimateGas)"] = nft.functions.tokenURI(token_id).estimate_gas()
        return out
    finally:
        node.close()


def main() -> None:
    for name, gas in measure().items():
        print(f"{name:40s} {gas:>10,}")


if __name__ == "__main__":
    main()

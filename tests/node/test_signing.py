"""Node-side signing with the dev keys: eth_sign, personal_sign, eth_signTypedData_v4 (each
recovered with eth_account), eth_signTransaction → eth_sendRawTransaction."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from node_support import ACCTS, call, rpc_error

TYPED = {
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"},
                         {"name": "verifyingContract", "type": "address"}],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
                 {"name": "contents", "type": "string"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "version": "1", "chainId": 31337,
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message": {"from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
                "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
                "contents": "Hello, Bob!"},
}


def test_eth_sign_and_personal_sign(node_url):
    a = ACCTS[1].address
    msg = "0x" + b"hello imochain".hex()
    sig = call(node_url, "eth_sign", [a, msg])
    assert len(bytes.fromhex(sig[2:])) == 65
    assert Account.recover_message(encode_defunct(b"hello imochain"), signature=sig) == a
    sig2 = call(node_url, "personal_sign", [msg, a])
    assert sig2 == sig  # same EIP-191 message, same key, deterministic signature
    assert Account.recover_message(encode_defunct(b"hello imochain"), signature=sig2) == a
    # lower-case address works; unknown address is refused
    assert call(node_url, "eth_sign", [a.lower(), msg]) == sig
    err = rpc_error(node_url, "eth_sign", ["0x" + "12" * 20, msg])
    assert err["code"] == -32000
    assert rpc_error(node_url, "eth_sign", [a, "hello"])["code"] == -32602
    assert rpc_error(node_url, "personal_sign", [msg])["code"] == -32602


def test_sign_typed_data_v4(node_url):
    a = ACCTS[0].address
    sig = call(node_url, "eth_signTypedData_v4", [a, TYPED])
    assert Account.recover_message(encode_typed_data(full_message=TYPED), signature=sig) == a
    # MetaMask-style: typed data as a JSON string
    import json
    assert call(node_url, "eth_signTypedData_v4", [a, json.dumps(TYPED)]) == sig
    err = rpc_error(node_url, "eth_signTypedData_v4", [a, {"types": {}}])
    assert err["code"] == -32602 and "typedData" in err["message"]
    assert rpc_error(node_url, "eth_signTypedData_v4", [a, "{nope"])["code"] == -32602


def test_sign_transaction_then_send_raw(w3, node_url, isolated):
    a, b = ACCTS[2].address, ACCTS[0].address
    n = int(call(node_url, "eth_getTransactionCount", [a, "latest"]), 16)
    raw = call(node_url, "eth_signTransaction", [{"from": a, "to": b, "value": "0x2a", "gas": "0x5208"}])
    decoded = Account.recover_transaction(raw)
    assert decoded == a
    number = w3.eth.block_number
    assert w3.eth.block_number == number  # signing sends nothing
    assert int(call(node_url, "eth_getTransactionCount", [a, "latest"]), 16) == n
    tx_hash = call(node_url, "eth_sendRawTransaction", [raw])
    receipt = call(node_url, "eth_getTransactionReceipt", [tx_hash])
    assert receipt["status"] == "0x1" and receipt["from"] == a
    tx = call(node_url, "eth_getTransactionByHash", [tx_hash])
    assert tx["value"] == "0x2a" and tx["nonce"] == hex(n)
    # a legacy request (gasPrice) signs a type-0 transaction
    raw0 = call(node_url, "eth_signTransaction", [{"from": a, "to": b, "gasPrice": hex(3 * 10**9), "gas": "0x5208"}])
    assert int(raw0[2:4], 16) >= 0xc0  # RLP list: legacy
    h0 = call(node_url, "eth_sendRawTransaction", [raw0])
    assert call(node_url, "eth_getTransactionReceipt", [h0])["type"] == "0x0"
    err = rpc_error(node_url, "eth_signTransaction", [{"from": "0x" + "12" * 20, "to": b}])
    assert err["code"] in (-32000, -32602)
    assert rpc_error(node_url, "eth_signTransaction", [{"to": b}])["code"] == -32602


def test_web3_sign_helpers(w3):
    a = w3.eth.accounts[3]
    sig = w3.eth.sign(a, text="web3 says hi")
    assert Account.recover_message(encode_defunct(text="web3 says hi"), signature=sig) == a

"""eth_getProof: proofs checked by an independent Merkle-Patricia verifier written here, against
the state root of the block the proof was asked at."""

import pytest
import rlp
from eth_utils import keccak

from imochain.testing import in_process_web3

EMPTY_TRIE = keccak(rlp.encode(b""))


def _nibbles(key: bytes) -> list[int]:
    return [n for b in key for n in (b >> 4, b & 15)]


def _decode_path(encoded: bytes) -> tuple[list[int], bool]:
    nib = _nibbles(encoded)
    flag = nib[0]
    return (nib[2:] if flag % 2 == 0 else nib[1:]), flag >= 2


def verify(root: bytes, key: bytes, proof: list[bytes]) -> bytes | None:
    """The value under `key` proven by `proof` (None: proven absent); AssertionError if the
    proof does not hash to `root`."""
    if root == EMPTY_TRIE:
        assert proof in ([], [rlp.encode(b"")])
        return None
    path, expected, i = _nibbles(keccak(key)), root, 0
    for raw in proof:
        assert keccak(raw) == expected or raw == expected, "proof node does not match its reference"
        node = rlp.decode(raw)
        if len(node) == 17:
            if i == len(path):
                return node[16] or None
            child = node[path[i]]
            i += 1
        else:
            rest, leaf = _decode_path(node[0])
            if path[i:i + len(rest)] != rest:
                return None  # the path diverges: proven absent
            i += len(rest)
            if leaf:
                return node[1] if i == len(path) else None
            child = node[1]
        if child == b"":
            return None
        expected = child if isinstance(child, bytes) else rlp.encode(child)
    raise AssertionError("proof ended before reaching a value or a proof of absence")


@pytest.fixture(scope="module")
def chain():
    w3, node = in_process_web3()
    return w3, node


def _proof(w3, address, slots, block="latest"):
    return w3.provider.make_request("eth_getProof", [address, slots, block])


def test_account_and_storage_proofs_verify(chain):
    w3, node = chain
    target = "0x00000000000000000000000000000000000C0FFE"
    rpc = w3.provider.make_request
    rpc("anvil_setCode", [target, "0x6001600055"])
    rpc("anvil_setStorageAt", [target, "0x2", "0x" + "07".rjust(64, "0")])
    rpc("evm_mine", [])
    block = w3.eth.get_block("latest")
    result = _proof(w3, target, ["0x2", "0x3"])["result"]
    account = verify(block.stateRoot, bytes.fromhex(target[2:]), [bytes.fromhex(n[2:]) for n in result["accountProof"]])
    nonce, balance, storage_root, code_hash = rlp.decode(account)
    assert code_hash.hex() == result["codeHash"][2:] == keccak(bytes.fromhex("6001600055")).hex()
    assert storage_root.hex() == result["storageHash"][2:]
    present, absent = result["storageProof"]
    assert (present["key"], present["value"], absent["value"]) == ("0x2", "0x7", "0x0")
    value = verify(storage_root, (2).to_bytes(32, "big"), [bytes.fromhex(n[2:]) for n in present["proof"]])
    assert rlp.decode(value) == b"\x07"
    assert verify(storage_root, (3).to_bytes(32, "big"), [bytes.fromhex(n[2:]) for n in absent["proof"]]) is None


def test_proof_of_absence_and_history(chain):
    w3, node = chain
    nobody = "0x000000000000000000000000000000000000dEaD"
    result = _proof(w3, nobody, [])["result"]
    root = w3.eth.get_block("latest").stateRoot
    assert verify(root, bytes.fromhex(nobody[2:]), [bytes.fromhex(n[2:]) for n in result["accountProof"]]) is None
    assert result["balance"] == "0x0" and result["storageHash"] == "0x" + EMPTY_TRIE.hex()
    # an earlier block's proof verifies against that block's root, with that block's balance
    dev = w3.eth.accounts[0]
    before = w3.eth.block_number
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": dev, "to": nobody, "value": 5}))
    old = _proof(w3, nobody, [], hex(before))["result"]
    old_root = w3.eth.get_block(before).stateRoot
    assert verify(old_root, bytes.fromhex(nobody[2:]), [bytes.fromhex(n[2:]) for n in old["accountProof"]]) is None
    new = _proof(w3, nobody, [])["result"]
    assert new["balance"] == "0x5"
    account = verify(w3.eth.get_block("latest").stateRoot, bytes.fromhex(nobody[2:]),
                     [bytes.fromhex(n[2:]) for n in new["accountProof"]])
    assert rlp.decode(account)[1] == b"\x05"


@pytest.mark.parametrize("params, words", [
    ([], "address"),
    (["0x12", []], "address"),
    (["0x000000000000000000000000000000000000dEaD", "0x1"], "storageKeys"),
    (["0x000000000000000000000000000000000000dEaD", ["zz"]], "storageKeys[0]"),
    (["0x000000000000000000000000000000000000dEaD", ["0x1"] * 1025], "at most 1024"),
    (["0x000000000000000000000000000000000000dEaD", [], "0xffffff"], "block"),
])
def test_bad_proof_requests(chain, params, words):
    w3, _ = chain
    err = w3.provider.make_request("eth_getProof", params)["error"]
    assert err["code"] in (-32602, -32000, -32001) and words.split("[")[0] in err["message"], err


def test_the_verifier_rejects_a_tampered_proof(chain):
    w3, _ = chain
    dev = w3.eth.accounts[0]
    result = _proof(w3, dev, [])["result"]
    nodes = [bytes.fromhex(n[2:]) for n in result["accountProof"]]
    root = w3.eth.get_block("latest").stateRoot
    assert rlp.decode(verify(root, bytes.fromhex(dev[2:]), nodes))[1] == w3.eth.get_balance(dev).to_bytes(
        (w3.eth.get_balance(dev).bit_length() + 7) // 8, "big")
    nodes[-1] = nodes[-1][:-1] + bytes([nodes[-1][-1] ^ 1])
    with pytest.raises(AssertionError):
        verify(root, bytes.fromhex(dev[2:]), nodes)

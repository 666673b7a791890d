"""Transactions the node signs: filling requests, dev keys, impersonated senders, signature marks."""

from __future__ import annotations

from typing import Callable

import rlp
from eth.vm.spoof import SpoofTransaction
from eth_utils import to_checksum_address

from .errors import InvalidParams
from .fees import DEFAULT_PRIORITY_FEE, default_max_fee, suggested_gas_price


def fill_request(params: dict, sender: bytes, chain_id: int, nonce: int, base_fee: int,
                 estimate: Callable[[dict], int]) -> dict:
    """eth_sendTransaction fields (python types) completed: type, fees, gas, chain id."""
    to = params.get("to") or b""
    value = params.get("value", 0)
    data = params.get("data", b"")
    gas = params.get("gas")
    access_list = params.get("accessList") or []
    if gas is None:
        # estimated at the sender's mined nonce: a queued nonce (transactions still in the pool,
        # as with --no-mining) would fail the nonce check before anything ran
        gas = estimate({k: v for k, v in params.items() if k != "nonce"})
    if params.get("type") in (0, 1) and params.get("gasPrice") is None \
            and params.get("maxFeePerGas") is None:  # a legacy type asked for: price it
        params = dict(params, gasPrice=suggested_gas_price(base_fee))
    if params.get("gasPrice") is not None and params.get("maxFeePerGas") is None:
        fields = dict(nonce=nonce, gasPrice=params["gasPrice"], gas=gas, to=to, value=value,
                      data=data, chainId=chain_id)
        if access_list:
            fields.update(type=1, accessList=access_list)
        return fields
    tip = params.get("maxPriorityFeePerGas")
    if tip is None:
        tip = min(DEFAULT_PRIORITY_FEE, params.get("maxFeePerGas") or DEFAULT_PRIORITY_FEE)
    max_fee = params.get("maxFeePerGas")
    if max_fee is None:
        max_fee = default_max_fee(base_fee, tip)
    fields = dict(type=2, nonce=nonce, maxFeePerGas=max_fee, maxPriorityFeePerGas=tip,
                  gas=gas, to=to, value=value, data=data, chainId=chain_id, accessList=access_list)
    if params.get("authorizationList"):  # EIP-7702 set-code transaction
        fields.update(type=4, authorizationList=params["authorizationList"])
    return fields


class DevKeys:
    """The private keys of the dev accounts: they sign what the node sends for them."""

    def __init__(self, accounts):
        self._keys = {a.address: a.key for a in accounts}

    def __contains__(self, address) -> bool:
        return address in self._keys

    def _key(self, address: bytes) -> bytes:
        key = self._keys.get(address)
        if key is None:
            raise InvalidParams(f"no private key for 0x{address.hex()}; it is not a dev account")
        return key

    def sign_transaction(self, fields: dict, sender: bytes) -> bytes:
        from eth_account import Account
        key = self._key(sender)
        fields = {k: (to_checksum_address(v) if k == "to" and v else v) for k, v in fields.items()}
        if not fields.get("to"):
            fields.pop("to", None)
        fields["accessList"] = [
            {"address": to_checksum_address(e["address"]), "storageKeys": ["0x" + k.hex() for k in e["storageKeys"]]}
            for e in fields.get("accessList", [])] if fields.get("accessList") else []
        if fields.get("type") is None and not fields["accessList"]:
            fields.pop("accessList")
        if fields.get("authorizationList"):
            fields["authorizationList"] = [
                {"chainId": a["chain_id"], "address": to_checksum_address(a["address"]), "nonce": a["nonce"],
                 "yParity": a["y_parity"], "r": a["r"], "s": a["s"]} for a in fields["authorizationList"]]
        return bytes(Account.sign_transaction(fields, key).raw_transaction)

    def sign_message(self, address: bytes, message) -> bytes:
        """The signature of an eth_account SignableMessage (EIP-191 or EIP-712) by a dev key."""
        from eth_account import Account
        return bytes(Account.sign_message(message, self._key(address)).signature)


def impersonated_transaction(tx_builder, fields: dict, sender: bytes):
    """(transaction, its bytes) for an impersonated sender, with a stand-in signature.

    A stand-in signature that encodes the sender keeps hashes unique per sender; the real
    sender is recorded beside the transaction and used wherever it executes."""
    if fields.get("type") == 4:
        raise InvalidParams("an impersonated account cannot send an EIP-7702 transaction; "
                            "sign it and use eth_sendRawTransaction")
    fake = dict(y_parity=0, r=int.from_bytes(sender, "big"), s=1)
    b = tx_builder
    to = fields.get("to") or b""
    al = py_evm_access_list(fields.get("accessList"))
    if fields.get("type") == 2:
        tx = b.new_dynamic_fee_transaction(
            fields["chainId"], fields["nonce"], fields["maxPriorityFeePerGas"], fields["maxFeePerGas"],
            fields["gas"], to, fields["value"], fields["data"], al, **fake)
        # py-evm's builder returns London's typed class, which a Prague block cannot
        # serialize; decoding the bytes gives this VM's own class.
        tx = b.decode(tx.encode())
    else:
        tx = b.new_transaction(nonce=fields["nonce"], gas_price=fields["gasPrice"], gas=fields["gas"],
                               to=to, value=fields["value"], data=fields["data"], v=27,
                               r=fake["r"], s=fake["s"])
    return tx, (tx.encode() if hasattr(tx, "encode") else rlp.encode(tx))


def executable(tx, sender: bytes, impersonated: bool):
    """The form py-evm executes: impersonated transactions run as their recorded sender."""
    if not impersonated:
        return tx
    # validate() too: a legacy transaction's validate() checks the stand-in signature on
    # the inner object (not through the spoof), which failed and dropped the transaction.
    return SpoofTransaction(tx, sender=sender, get_sender=lambda: sender,
                            check_signature_validity=lambda: None, validate=lambda: None)


def mark_signature_checked(tx) -> None:
    """Mark a transaction whose sender the node recovered: a key recovered from (message,
    signature) verifies that signature by construction, so py-evm's own re-check when it
    executes the transaction (recover + verify again, ~0.2 ms) is skipped for this object."""
    for obj in (tx, getattr(tx, "_inner", None)):
        if obj is not None:
            object.__setattr__(obj, "check_signature_validity", _already_checked)


def _already_checked() -> None:
    return None


def py_evm_access_list(entries) -> list:
    """RPC access-list entries (storage keys as 32-byte strings or ints) → py-evm's (address, ints)."""
    return [(e["address"], tuple(k if isinstance(k, int) else int.from_bytes(k, "big")
                                 for k in e["storageKeys"]))
            for e in entries or []]

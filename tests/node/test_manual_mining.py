"""Manual mining (--no-mining): transactions queue in the pool until a block is asked for."""

from imochain.chain import NodeConfig
from imochain.testing import in_process_web3

B = "0xc100000000000000000000000000000000000000"


def test_queued_transactions_without_gas_are_estimated_under_manual_mining():
    """With --no-mining a second eth_sendTransaction without `gas` was refused ('nonce too high'):
    its estimate ran at the queued nonce against the mined state."""
    w3, _ = in_process_web3(NodeConfig(automine=False, genesis_contracts=False, default_text_model=False))
    sender = w3.eth.accounts[0]
    hashes = [w3.eth.send_transaction({"from": sender, "to": B, "value": 1}) for _ in range(3)]
    w3.provider.make_request("evm_mine", [])
    assert [w3.eth.get_transaction_receipt(h).status for h in hashes] == [1, 1, 1]

"""Machine instructions per automined transfer, in-process, for checkouts side by side (valgrind).

CPU time on this shared 2-core machine swings ±20 % between runs minutes apart; the number of
instructions a process executes hardly moves. Each checkout's own `.venv` runs a node in
process (no HTTP) through `send_raw_transaction` + `get_receipt` for LOW and then HIGH signed
transfers (ETH, and OpenZeppelin ERC-20 transfers of `BenchToken`) under valgrind's cachegrind
(no cache simulation); (count at HIGH − count at LOW) / (HIGH − LOW) is the cost of one transfer,
start-up cancelled out. Needs valgrind; takes ~1 minute per checkout and kind.

Run: .venv/bin/python benchmarks/instructions.py /work/main .   (the first checkout is the baseline)
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LOW, HIGH = 20, 220
K1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # dev account 1: the ETH sender

CHILD = """
import pickle, sys
from imochain.builder import build_node
from imochain.cli import build_parser, node_config
raws = pickle.load(open(sys.argv[1], "rb"))
node = build_node(node_config(build_parser().parse_args(["node", "--quiet"])))
node.set_block_timestamp_interval(1)
assert node.get_receipt(node.send_raw_transaction(raws["deploy"])).status == 1
for raw in raws[sys.argv[2]][:int(sys.argv[3])]:
    assert node.get_receipt(node.send_raw_transaction(raw)).status == 1
"""


def _signed(path: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sidebyside as sb
    from bench_node import _token_creation_code
    from eth_abi import encode
    from eth_account import Account
    from eth_utils import to_checksum_address

    from imochain.chain.accounts import create_address

    def raw(key, nonce, **fields):
        return bytes(Account.sign_transaction(dict(chainId=31337, nonce=nonce, maxPriorityFeePerGas=10**9,
                                                   maxFeePerGas=10**11, type=2, **fields), key).raw_transaction)
    token = to_checksum_address(create_address(bytes.fromhex(sb.ADDR0[2:]), 0))
    raws = {"deploy": raw(sb.KEY0, 0, gas=3_000_000, value=0,
                          data=_token_creation_code() + encode(["uint256"], [10**27])),
            "ERC-20": [raw(sb.KEY0, n, gas=100_000, to=token, value=0, data=sb.erc20_transfer_data())
                       for n in range(1, HIGH + 1)],
            "ETH": [raw(K1, n, gas=21_000, to=sb.SINK, value=1) for n in range(HIGH)]}
    with open(path, "wb") as f:
        pickle.dump(raws, f)


def _instructions(checkout: Path, raws: str, kind: str, count: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         str(checkout / ".venv" / "bin" / "python"), "-c", CHILD, raws, kind, str(count)],
        cwd=checkout, env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, check=True)
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out.stderr).group(1).replace(",", ""))


def main(checkouts: list[str]) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("instructions.py: valgrind is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        raws = os.path.join(tmp, "raws.pkl")
        _signed(raws)
        for kind in ("ETH", "ERC-20"):
            base = None
            for checkout in map(Path, checkouts):
                per = (_instructions(checkout, raws, kind, HIGH) - _instructions(checkout, raws, kind, LOW)) / (HIGH - LOW)
                base = base or per
                print(f"{kind:7s} {checkout.resolve().name:12s} {per / 1e6:6.3f} M instructions per transfer "
                      f"({base / per:.3f}x the first)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["."])

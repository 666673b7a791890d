"""imochain: a local Ethereum development chain for AI."""

import importlib.util as _util
import os as _os

__version__ = "0.1.0"

# py-evm hashes every trie node with keccak; pysha3's C keccak is ~6x faster per call than
# the pycryptodome default and lifts block throughput by about 1.6x. It must be chosen before
# eth_hash is first imported.
if _util.find_spec("sha3") is not None:
    _os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

# The BLS12-381 precompiles' tables are built on their first call, not at every start-up.
from . import lazy_bls as _lazy_bls  # noqa: E402

_lazy_bls.install()

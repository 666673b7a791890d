"""`imochain import CHAIN.rlp --genesis GENESIS.json`: validate a chain's blocks as a full node does."""

from __future__ import annotations

import sys


def run_import(args) -> int:
    from .errors import GenesisError
    from .geth_genesis import load_genesis
    from .importer import ImportFailed, genesis_chain, import_blocks, split_blocks

    try:
        genesis = load_genesis(args.genesis)
        with open(args.file, "rb") as f:
            blocks = list(split_blocks(f.read()))
        chain = genesis_chain(genesis, blocks)
    except (GenesisError, ImportFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"genesis 0x{chain.get_canonical_head().hash.hex()}  chain id {genesis.chain_id}  "
          f"{len(blocks)} blocks", flush=True)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            width = 40
            bar = "#" * (width * done // total)
            print(f"\r[{bar:<{width}}] {done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        result = import_blocks(chain, blocks, progress)
    except ImportFailed as exc:
        print(f"\nerror: import stopped at {exc}", file=sys.stderr)
        return 2
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"imported {result.imported} blocks to #{result.head_number} 0x{result.head_hash.hex()} "
          f"in {result.seconds:.2f} s: {result.blocks_per_second:.1f} blocks/s, "
          f"{result.gas / 1e6 / result.seconds:.2f} Mgas/s")
    return 0


def register(sub) -> None:
    p = sub.add_parser("import", help="validate and apply RLP-encoded blocks (geth's export format)",
                       description="Validate blocks as a full node does: headers, transactions, "
                                   "state roots, receipts roots, blooms, gas. Pre-merge ethash seals "
                                   "are not checked. Stops at the first bad block, naming it.")
    p.add_argument("file", help="RLP file of concatenated blocks (e.g. chain.rlp)")
    p.add_argument("--genesis", required=True, metavar="GENESIS.json", help="geth-format genesis file")
    p.set_defaults(func=run_import)

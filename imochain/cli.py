"""`imochain node | model | demo | bench | chat`."""

from __future__ import annotations

import argparse
import logging
import sys

from imochain import __version__


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError("must be between 1 and 65535")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be between 0 and 1000")
    return value


def _hardfork(text: str) -> str:
    from imochain.chain.forks import FORKS, fork_name
    try:
        name = fork_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if list(FORKS).index(name) < list(FORKS).index("cancun"):
        raise argparse.ArgumentTypeError(f"the dev node runs cancun or later, not {name}")
    return name


def _chain_id(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 < value < 2**53:
        raise argparse.ArgumentTypeError("must be between 1 and 2^53")
    return value


def _block_number(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a block number") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError("must be between 0 and 2^63")
    return value


def _ether(text: str) -> int:
    from decimal import Decimal, InvalidOperation
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of ether") from None
    if value < 0 or value > 10**30:
        raise argparse.ArgumentTypeError("must be between 0 and 1e30 ether")
    return int(value * 10**18)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _max_tokens(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError("must be between 1 and 1024")
    return value


def _alias(text: str) -> tuple[int, str]:
    model_id, sep, name = text.partition("=")
    try:
        value = int(model_id, 0)
    except ValueError:
        value = -1
    if not sep or not name or not 0 <= value < 2**256:
        raise argparse.ArgumentTypeError(f"{text!r} is not ID=NAME (e.g. 11=smollm2)")
    return value, name


def add_node_parser(sub) -> None:
    p = sub.add_parser("node", help="run a local chain with a JSON-RPC server",
                       description="Run imochain: a py-evm chain with the inference precompile and "
                                   "the IMO contracts at genesis, served over JSON-RPC (HTTP + WebSocket).")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", "-p", type=_port, default=8545, help="port (default 8545)")
    p.add_argument("--allow-host", action="append", default=[], metavar="HOST",
                   help="also accept requests whose Host header names HOST (repeatable or comma-separated; "
                        "'*' for any). Default: localhost, 127.0.0.1, [::1] and the --host address")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="also let web pages from ORIGIN call the node (scheme://host[:port], port '*' for any, "
                        "repeatable or comma-separated; '*' for any page, as anvil). Default: local dev servers "
                        "(http(s)://localhost|127.0.0.1|[::1] on any port) and wallet extensions")
    p.add_argument("--db", metavar="PATH", help="keep the chain on disk here (default: in memory)")
    p.add_argument("--chain-id", type=_chain_id, default=31337)
    p.add_argument("--accounts", "-a", type=_count, default=10, help="dev accounts to fund")
    p.add_argument("--balance", type=_ether, default=10_000 * 10**18, metavar="ETH",
                   help="ether per dev account (default 10000)")
    p.add_argument("--mnemonic", "-m", default=None, help="BIP-39 mnemonic for the dev accounts")
    mining = p.add_mutually_exclusive_group()
    mining.add_argument("--block-time", "-b", type=_positive_float, metavar="SECONDS",
                        help="mine a block every SECONDS instead of one per transaction")
    mining.add_argument("--no-mining", action="store_true",
                        help="mine only on evm_mine / anvil_mine")
    p.add_argument("--client-version", help="what web3_clientVersion answers "
                   "(Hardhat's network helpers accept names starting with hardhat or anvil)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the inference precompile runs (auto: CUDA when torch sees a GPU)")
    p.add_argument("--models", metavar="DIR",
                   help="model store folder, shared with `imochain model add` "
                        "(default: $IMOCHAIN_MODEL_STORE or ~/.imochain/models, shared by every node); "
                        "'none' keeps this node's uploads in memory")
    p.add_argument("--model-alias", type=_alias, action="append", default=[], metavar="ID=NAME",
                   help="answer oracle model id ID with local model NAME (e.g. 11=smollm2); repeatable")
    p.add_argument("--text-model", action="append", default=[], metavar="GGUF",
                   help="also serve this Llama-family GGUF file as a text model; repeatable")
    p.add_argument("--hardfork", type=_hardfork, default=None, metavar="NAME",
                   help="EVM rules: cancun, prague, osaka, bpo1 or bpo2 (default: the latest, bpo2; "
                        "on a fork, the remote's)")
    p.add_argument("--init", metavar="GENESIS.json",
                   help="start from a geth-format genesis file (its chain id and fork schedule); "
                        "dev accounts and IMO contracts only with --dev-accounts / --imo")
    p.add_argument("--import", dest="import_chain", metavar="CHAIN.rlp",
                   help="with --init: validate and apply these RLP blocks first (ethash seals of "
                        "pre-merge blocks are not checked; everything else is)")
    p.add_argument("--dev-accounts", action="store_true", help="with --init: fund the dev accounts too")
    p.add_argument("--rpc-shapes", choices=("anvil", "geth"), default=None,
                   help="JSON answers as anvil gives them (checksummed addresses, totalDifficulty, "
                        "blockTimestamp in receipts) or as geth does (default: geth with --init, else anvil)")
    p.add_argument("--gas-limit", type=int, default=30_000_000, help="block gas limit (default 30000000)")
    p.add_argument("--challenge-window", type=_count, default=5, metavar="BLOCKS",
                   help="opML challenge window in blocks (default 5)")
    p.add_argument("--oracle-faults", type=_rate, default=0.0, metavar="RATE",
                   help="fraction of oracle results the worker falsifies on purpose (teaching)")
    p.add_argument("--oracle-max-tokens", type=_max_tokens, default=64, metavar="N",
                   help="cap on an oracle text answer, in tokens (default 64: a sentence or two); the "
                        "answer also ends at its first full sentence or the end-of-turn token")
    p.add_argument("--no-oracle", action="store_true", help="do not run the oracle worker")
    p.add_argument("--oracle-in-block", action="store_true",
                   help="run slow oracle inference (text answers, big batches) inside the block that saw the request, "
                        "holding the node's lock "
                        "(the old behaviour, for comparison; default: off the lock, answered in a later block)")
    p.add_argument("--no-challenger", action="store_true", help="do not run the challenger")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-transaction log lines")
    p.add_argument("--no-ui", action="store_true", help="do not serve the web explorer at GET /")
    p.add_argument("--abi-dir", metavar="DIR", help="decode contracts whose Foundry out/ or Hardhat "
                   "artifacts/ JSON is under DIR (matched by runtime code) in the explorer")
    fork = p.add_argument_group("forking", "start on top of a block of a live network; its state is "
                                "fetched on first touch and cached, every write stays local")
    fork.add_argument("--fork-url", "-f", metavar="URL", help="JSON-RPC endpoint (http:// or https://) to fork")
    fork.add_argument("--fork-block-number", type=_block_number, metavar="N",
                      help="the remote block to fork at (default: its latest, pinned at start)")
    fork.add_argument("--fork-chain-id", type=_chain_id, metavar="ID",
                      help="the remote's chain id (default: asked from the remote)")
    fork.add_argument("--fork-retries", type=_count, default=3, metavar="N",
                      help="retries of a failed remote request, with backoff (default 3)")
    fork.add_argument("--fork-cache", metavar="PATH", help="keep fetched remote state in this folder "
                      "so a restart does not fetch it again")
    p.add_argument("--imo", action=argparse.BooleanOptionalAction, default=None,
                   help="deploy the ORA/IMO contracts at genesis (default: yes, but not on a fork or "
                        "with --init; with --init it adds the dev accounts and the 0xA1/0xA2 precompiles too)")
    p.set_defaults(func=run_node)


def node_config(args):
    import os

    from imochain.chain import NodeConfig
    from imochain.chain.accounts import DEFAULT_MNEMONIC
    store = args.models or os.path.expanduser(os.environ.get("IMOCHAIN_MODEL_STORE", "~/.imochain/models"))
    if args.models == "none":
        store = None  # in memory: nothing read from or written to a shared folder
    if args.import_chain and not args.init:
        raise ValueError("--import needs --init GENESIS.json (the chain it continues)")
    if args.init and args.fork_url:
        raise ValueError("--init and --fork-url both choose the chain to start from: pick one")
    dev = not args.init or args.dev_accounts or bool(args.imo)
    return NodeConfig(
        chain_id=args.chain_id, accounts=args.accounts if dev else 0, balance=args.balance,
        init_genesis=args.init, import_chain=args.import_chain,
        rpc_shapes=args.rpc_shapes or ("geth" if args.init else "anvil"),
        mnemonic=args.mnemonic or DEFAULT_MNEMONIC, db_path=args.db,
        automine=not args.no_mining, block_time=args.block_time,
        device=args.device, model_store=store, challenge_window=args.challenge_window,
        model_aliases=dict(args.model_alias), text_models=args.text_model, gas_limit=args.gas_limit,
        client_version=args.client_version,
        genesis_contracts=args.imo if args.imo is not None else not (args.fork_url or args.init),
        fork_url=args.fork_url, fork_block_number=args.fork_block_number, fork_chain_id=args.fork_chain_id,
        fork_retries=args.fork_retries, fork_cache=args.fork_cache, fork_rules=args.hardfork is None,
        **({"hardfork": args.hardfork} if args.hardfork else {}))


def print_banner(node, host: str, port: int, max_tokens: int | None = None, ui: bool = False) -> None:
    out = [f"imochain v{__version__}  chain id {node.config.chain_id}  hardfork {node.config.hardfork}  (py-evm)", "",
           "Available Accounts", "=================="]
    for i, a in enumerate(node.accounts):
        bal = node.get_balance(a.address) / 10**18
        out.append(f"({i}) {a.checksum} ({bal:.4f} ETH)")
    out += ["", "Private Keys", "=================="]
    out += [f"({i}) 0x{a.key.hex()}" for i, a in enumerate(node.accounts)]
    out += ["", "Wallet", "==================", f"Mnemonic:          {node.config.mnemonic}",
            "Derivation path:   m/44'/60'/0'/0/", ""]
    if node.config.db_path:
        out.append(f"Database: {node.config.db_path} (block #{node.block_number})")
    mode = ("interval " + str(node.config.block_time) + " s" if node.config.block_time
            else "automine" if node.automine else "manual (evm_mine)")
    out.append(f"Mining: {mode}")
    if node.fork is not None:
        out.append(f"Fork: {node.fork.client.url} at block #{node.fork.number} (chain id {node.config.chain_id})")
    if node.models is not None:
        out.append(f"Models: {len(node.models.list())} in the store; inference precompile at 0x…00A1")
        out += [f"  note: {line}" for line in node.models.name_clashes]
    out += _oracle_model_lines(node)
    if max_tokens and node.services:
        out.append(f"Oracle text answers: up to {max_tokens} tokens, ending at the first full sentence")
    out += ["", f"Listening on {host}:{port}"]
    if ui:
        out.append(f"Explorer: http://{host}:{port}/")
    print("\n".join(out), flush=True)


def _split_flags(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _oracle_model_lines(node) -> list[str]:
    """Which oracle model id answers with which local model: genesis ids, then --model-alias."""
    if node.inference is None or not node.config.genesis_contracts:
        return []
    try:
        from imochain.contracts.genesis import model_ids
    except ImportError:
        return []
    rows = node.inference.list()
    ids = model_ids([(m["name"], bytes.fromhex(m["hash"][2:])) for m in rows])
    pairs = sorted(ids.items(), key=lambda kv: kv[1])
    lines = ["Oracle model ids: " + ", ".join(f"{i} {name}" for name, i in pairs)]
    for model_id, name in sorted(node.config.model_aliases.items()):
        lines.append(f"Model alias: oracle model id {model_id} is answered by {name}")
    return lines


def run_node(args) -> int:
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(message)s", stream=sys.stdout)
    import os

    from imochain.rpc.browser import BrowserPolicy, is_loopback
    try:
        policy = BrowserPolicy.for_bind(args.host, _split_flags(args.allow_host), _split_flags(args.allow_origin))
    except ValueError as exc:
        print(f"error: --allow-origin: {exc}", file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        print(f"WARNING: listening on {args.host}, not loopback: anyone who can reach this port can spend "
              "from the unlocked dev accounts and reset the chain. Bind 127.0.0.1 unless you mean it.",
              file=sys.stderr, flush=True)
    from imochain.builder import build_node
    from imochain.chain import ChainError
    fork_only = [flag for flag, value in (("--fork-block-number", args.fork_block_number),
                                          ("--fork-chain-id", args.fork_chain_id),
                                          ("--fork-cache", args.fork_cache)) if value is not None]
    if fork_only and not args.fork_url:
        print(f"error: {fork_only[0]} needs --fork-url", file=sys.stderr)
        return 2
    if args.abi_dir and not os.path.isdir(args.abi_dir):
        print(f"error: --abi-dir {args.abi_dir}: not a directory", file=sys.stderr)
        return 2
    try:
        node = build_node(node_config(args), services=True, oracle=not args.no_oracle,
                          challenger=not args.no_challenger, fault_rate=args.oracle_faults,
                          max_tokens=args.oracle_max_tokens, offlock=not args.oracle_in_block)
    except (ChainError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    services = node.services
    print_banner(node, args.host, args.port, args.oracle_max_tokens, ui=not args.no_ui)
    from imochain.rpc.server import serve
    try:
        serve(node, args.host, args.port, ui=not args.no_ui, abi_dir=args.abi_dir, policy=policy)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    finally:
        for s in services:
            s.stop()
        node.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imochain", description="A local Ethereum chain for AI.")
    parser.add_argument("--version", action="version", version=f"imochain {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_node_parser(sub)
    for module, fn in (("imochain.chain.importcli", "register"),
                       ("imochain.models.modelcli", "register"),
                       ("imochain.models.text.cli", "register_chat"),
                       ("imochain.demo", "register"),
                       ("imochain.bench", "register")):
        try:
            mod = __import__(module, fromlist=[fn])
        except ImportError:
            continue
        if hasattr(mod, fn):  # a subcommand whose package is present registers itself
            getattr(mod, fn)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not in an error at exit
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `imochain model list | head`: the reader left, nothing is wrong
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit flush
        return 0


if __name__ == "__main__":
    sys.exit(main())

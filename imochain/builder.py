"""Assembling a full node: the chain plus the inference precompiles, the genesis plan and services.

`imochain.chain` knows neither models nor contracts; this module hands the chain
`{address: callable}` precompiles and a genesis plan, installs the library speed-ups, and
starts the oracle worker and challenger when asked.

    from imochain.builder import build_node
    node = build_node(NodeConfig(), services=True)
"""

from __future__ import annotations

from imochain.chain import ChainError, Node, NodeConfig
from imochain.chain import speedups
from imochain.chain.vm import wrap_precompile


def build_node(config: NodeConfig | None = None, services: bool = False, **service_options) -> Node:
    """A node with the precompiles (when the models package is present) and the ORA genesis
    contracts (unless `config.genesis_contracts` is off); `services` starts the oracle worker
    and challenger (`service_options` go to `imochain.oracle.start_services`)."""
    config = config or NodeConfig()
    speedups.install()
    store, router = _model_service(config)
    # a chain from a geth genesis file (--init) gets the AI layer only when asked (--imo)
    wanted = router is not None and (config.init_genesis is None or config.genesis_contracts)
    precompiles = _precompiles(router) if wanted else {}
    node = Node(config, precompiles=precompiles, genesis=_genesis_plan(config, router))
    node.models, node.inference = store, router
    if services:
        from imochain.oracle import start_services
        start_services(node, **service_options)
    return node


def _model_service(config: NodeConfig):
    try:
        from imochain.models import ModelStore
        from imochain.precompiles import PrecompileError
        from imochain.precompiles.router import ModelRouter
    except ImportError:  # the precompile package is optional for a bare chain
        return None, None
    store = ModelStore(config.model_store)
    store.load_shipped()
    router = ModelRouter(store, device=config.device)
    for path in _text_model_files(config):
        try:
            router.add_text_file(path)
        except PrecompileError as exc:
            raise ChainError(f"text model {path}: {exc.reason}") from None
    if config.default_text_model and router.text_files:
        _add_default_int8(router)
    return store, router


def _add_default_int8(router) -> None:
    """SmolLM2's int8 mode, under its known hash; the file is built into the cache on first use."""
    from imochain.models.text import locate_default_gguf
    default = locate_default_gguf()
    if default is not None:
        router.add_int8_export(default, "smollm2-int8")


def _precompiles(router) -> dict:
    from imochain.precompiles import INFERENCE_ADDRESS, QUOTE_ADDRESS, PrecompileError
    return {
        INFERENCE_ADDRESS: wrap_precompile(router.gas_cost, router.execute, PrecompileError, "inference"),
        QUOTE_ADDRESS: wrap_precompile(router.quote_gas_cost, router.quote, PrecompileError, "model quote"),
    }


def _text_model_files(config: NodeConfig) -> list[str]:
    files = list(config.text_models)
    if config.default_text_model:
        try:
            from imochain.models.text import locate_default_gguf
        except ImportError:
            return files
        default = locate_default_gguf()
        if default and default not in files:
            files.insert(0, default)
    return files


def _genesis_plan(config: NodeConfig, router):
    """The ORA/IMO contracts at genesis, with the store's models registered (on every reset too,
    so models uploaded since are registered again)."""
    if not config.genesis_contracts:
        return None
    try:
        from imochain.contracts import genesis
    except ImportError:
        return None

    def plan(owner: bytes):
        operator = bytes.fromhex(genesis.OPERATOR_ADDRESS[2:])
        listing = router.list() if router is not None else []
        models = [(m["name"], bytes.fromhex(m["hash"][2:])) for m in listing]
        # fp32 text answers are exact on one machine only: registered outside the opML game
        text = [m["name"] for m in listing if m.get("kind") == "text"]
        predeploys, calls = genesis.genesis_plan(owner, operator, models, config.challenge_window,
                                                 unverifiable=text)
        if config.model_aliases:
            find = router.find if router is not None else (lambda name: None)
            try:
                calls += genesis.alias_calls(config.model_aliases, owner, models, find, router.is_text)
            except ValueError as exc:
                raise ChainError(str(exc)) from None
        return predeploys, calls

    return plan

"""The explorer's routes on the node's FastAPI app: GET pages, static assets, ABI upload, 404s."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from imochain import safejson

from . import chain_pages, imo_pages
from .abis import AbiRegistry
from .chainview import ChainView, RpcFailed
from .markdown import to_html
from .render import HERE, make_env

log = logging.getLogger("imochain.ui")

STATIC = HERE / "static"
BENCH_DIR = Path(__file__).resolve().parents[2] / "docs" / "bench"  # the committed `imochain bench` report
MAX_ABI_UPLOAD = 2 * 1024 * 1024
NotFound = chain_pages.NotFound


def mount(app, ctx, abi_dir: str | None = None, bench_dir: Path | None = None) -> None:
    """Serve the explorer from ``app``: ``ctx`` is the JSON-RPC context the pages read through."""
    registry = AbiRegistry()
    registry.load_genesis()
    if abi_dir:
        log.info("ui: %d ABIs from %s", registry.load_dir(abi_dir), abi_dir)
    view = ChainView(ctx, registry)
    env = make_env()
    facts = imo_pages.ModelFacts()
    bench = bench_dir or BENCH_DIR
    app.state.ui_view = view

    def page(name: str, status: int = 200, **context) -> HTMLResponse:
        context.setdefault("chain_id", ctx.node.config.chain_id)
        return HTMLResponse(env.get_template(name).render(page=name.split(".")[0], **context), status_code=status)

    def guarded(template: str, build):
        try:
            return page(template, **build())
        except NotFound as exc:
            return page("notfound.html", 404, message=str(exc))
        except RpcFailed as exc:  # e.g. a block hash of the wrong length: the node's own words
            return page("notfound.html", 404, message=exc.error.get("message", "not found"))
        except Exception as exc:  # the node answers every request; the log keeps the details
            log.exception("ui: %s failed", template)
            return page("notfound.html", 500, heading="Error", message=f"this page failed: {exc.__class__.__name__}")

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request):
        if "application/json" in request.headers.get("accept", "") and "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"name": "imochain", "chainId": ctx.node.config.chain_id,
                                 "block": view.head()})
        return guarded("home.html", lambda: chain_pages.home(view))

    @app.get("/search")
    async def search(q: str = ""):
        try:
            return RedirectResponse(chain_pages.search(view, q[:200]), status_code=303)
        except NotFound as exc:
            return page("notfound.html", 404, message=str(exc))

    @app.get("/block/{ident}")
    async def block(ident: str):
        return guarded("block.html", lambda: chain_pages.block(view, ident))

    @app.get("/tx/{tx_hash}")
    async def transaction(tx_hash: str):
        return guarded("tx.html", lambda: chain_pages.transaction(view, tx_hash))

    @app.get("/address/{addr}")
    async def address(addr: str):
        return guarded("address.html", lambda: chain_pages.address(view, addr))

    @app.get("/accounts")
    async def accounts():
        return guarded("accounts.html", lambda: chain_pages.accounts(view))

    @app.get("/models")
    async def models():
        return guarded("models.html", lambda: imo_pages.models(view, facts))

    @app.get("/model/{model_hash}")
    async def model(model_hash: str):
        return guarded("model.html", lambda: imo_pages.model(view, facts, model_hash))

    @app.get("/oracle")
    async def oracle():
        return guarded("oracle.html", lambda: imo_pages.oracle(view))

    @app.get("/imo")
    async def imo():
        return guarded("imo.html", lambda: imo_pages.imo(view))

    @app.get("/playground")
    async def playground():
        return guarded("playground.html", lambda: imo_pages.playground(view))

    @app.get("/costs")
    async def costs():
        report = bench / "report.md"
        if not report.is_file():
            return page("costs.html", report=None, where=str(report))
        return page("costs.html", report=to_html(report.read_text(encoding="utf-8"), "/costs/"), where=str(report))

    @app.get("/costs/{name}")
    async def cost_plot(name: str):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.png", name) or not (bench / name).is_file():
            return page("notfound.html", 404, message=f"no plot {name[:80]!r} in the bench report")
        return FileResponse(bench / name, media_type="image/png")

    @app.get("/static/{name}")
    async def static(name: str):
        kinds = {".js": "text/javascript", ".css": "text/css"}
        path = STATIC / name
        if not re.fullmatch(r"[a-z0-9_-]+\.(js|css)", name) or not path.is_file():
            return Response(f"no asset {name[:80]!r}", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type=kinds[path.suffix])

    @app.post("/abi")
    async def upload_abi(request: Request):
        """Attach an ABI to an address (JSON: {address, name, abi}); the explorer decodes with it."""
        body = await request.body()
        if len(body) > MAX_ABI_UPLOAD:
            return JSONResponse({"error": "ABI larger than 2 MiB"}, status_code=413)
        try:
            obj = safejson.loads(body)  # nesting bounded: 2 MiB of '[' would overflow the C stack
            target = chain_pages._hex_arg(str(obj["address"]), 20, "address")
            abi = obj["abi"]
            if isinstance(abi, dict):  # a whole Foundry/Hardhat artifact
                abi = abi.get("abi")
            if not isinstance(abi, list) or not all(isinstance(e, dict) for e in abi):
                raise ValueError("abi must be a JSON array of ABI entries")
            name = str(obj.get("name") or "uploaded")[:80]
            registry.add_address(bytes.fromhex(target[2:]), name, abi)
        except (ValueError, KeyError, TypeError, NotFound) as exc:
            return JSONResponse({"error": f"invalid ABI upload: {exc}"}, status_code=400)
        return JSONResponse({"ok": True, "address": target, "name": name})

    @app.get("/{rest:path}")
    async def unknown(rest: str):
        return page("notfound.html", 404, message=f"no page /{rest[:80]}")

"""The JSON-RPC server: FastAPI app, dispatch, one module per namespace (eth, dev, debug, imo, filters)."""

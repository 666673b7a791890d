"""`imochain model export-text`: a GGUF (default: the shipped SmolLM2) to an int8 text model file."""

from __future__ import annotations

import os
import sys


def cmd_export_text(args) -> int:
    from ... import errors
    from .. import resolve_model_path
    from .export import export_gguf
    from .file import model_bytes

    try:
        gguf = resolve_model_path(args.gguf)
        from .. import gguf_file

        gguf_file.check_magic(gguf)
        model = export_gguf(gguf)
        out = args.out or os.path.basename(gguf).rsplit(".", 1)[0] + ".int8.safetensors"
        data = model_bytes(model)
        gguf_file._atomic_write(os.path.abspath(out), data)
    except errors.PrecompileError as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"0x{model.model_hash.hex()}  {len(data)} bytes written to {out}  (kind text, mode int8)")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "export-text", help="quantise a Llama-family GGUF into a bit-exact int8 text model file",
        description="Quantise a Llama-family GGUF (default: the shipped SmolLM2) into an int8 text model "
                    "file (safetensors + JSON metadata, content-addressed by keccak256). Serve it with "
                    "`imochain node --text-model FILE`.")
    p.add_argument("gguf", nargs="?", default=None, help="GGUF file or 'smollm2' (default)")
    p.add_argument("-o", "--out", help="output file (default: <gguf name>.int8.safetensors here)")
    p.add_argument("--int8", action="store_true", default=True, help="integer mode (the only one; the default)")
    p.set_defaults(func=cmd_export_text)

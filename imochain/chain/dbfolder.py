"""The `--db` folder: which files are the node's, the check before opening it, and a reset that
deletes only those files (never the folder, never anything a user put there)."""

from __future__ import annotations

import os

from .errors import ChainError

# What LMDBStore creates in its folder; anything else there is someone else's.
STORE_FILES = ("data.mdb", "lock.mdb")


def check_db_folder(path: str) -> None:
    """Refuse a path that is a file, or a folder holding anything but an imochain store: the
    node writes there, and `anvil_reset` clears it."""
    if not os.path.exists(path):
        return
    if not os.path.isdir(path):
        raise ChainError(f"--db {path} is a file, not a folder")
    try:
        foreign = sorted(set(os.listdir(path)) - set(STORE_FILES))
    except OSError as exc:
        raise ChainError(f"--db {path}: cannot read the folder: {exc.strerror}") from None
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ChainError(f"--db {path} holds files that are not an imochain store ({shown}); "
                         "use an empty or new folder")


def check_store_content(path: str, store, head_key: bytes) -> None:
    """An LMDB file with data but no imochain head was written by another program."""
    if head_key not in store and not store.is_empty():
        store.close()
        raise ChainError(f"--db {path} holds a database that is not an imochain store; "
                         "use an empty or new folder")


def remove_store_files(path: str) -> None:
    """Delete the store's own files (the folder and anything else in it stay)."""
    for name in STORE_FILES:
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass

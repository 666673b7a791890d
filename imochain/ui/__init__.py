"""The web explorer and classroom served by the node at GET / (see app.py for the routes)."""

from .app import mount

__all__ = ["mount"]

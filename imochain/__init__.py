"""imochain: a local Ethereum development chain for AI."""

__version__ = "0.1.0"

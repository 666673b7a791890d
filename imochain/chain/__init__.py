"""The chain: py-evm, genesis, accounts, mempool, mining, persistence, snapshots."""

from .errors import (BlockNotFound, ChainError, ExecutionFailed, ExecutionReverted,
                     InvalidParams, TransactionRejected)
from .node import BlockInfo, LogInfo, Node, NodeConfig, ReceiptInfo, TxInfo

__all__ = ["Node", "NodeConfig", "BlockInfo", "LogInfo", "ReceiptInfo", "TxInfo", "ChainError",
           "ExecutionReverted", "ExecutionFailed", "InvalidParams", "TransactionRejected",
           "BlockNotFound"]

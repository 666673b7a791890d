"""The chain: a py-evm backend of small services (storage, state, pool, miner, calls, ...) behind `Node`."""

from .errors import (BlockNotFound, ChainError, ExecutionFailed, ExecutionReverted,
                     InvalidParams, TransactionRejected)
from .miner import answer_first
from .node import Node
from .types import BlockInfo, CallResult, LogInfo, NodeConfig, ReceiptInfo, TxInfo

__all__ = ["Node", "answer_first", "NodeConfig", "BlockInfo", "CallResult", "LogInfo", "ReceiptInfo", "TxInfo", "ChainError",
           "ExecutionReverted", "ExecutionFailed", "InvalidParams", "TransactionRejected",
           "BlockNotFound"]

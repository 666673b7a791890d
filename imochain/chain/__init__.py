"""The chain: a py-evm backend of small services (storage, state, pool, miner, calls, ...) behind `Node`."""

from .errors import (BlockNotFound, ChainError, ExecutionFailed, ExecutionReverted,
                     InvalidParams, TransactionRejected)
from .evm_loop import OverTime, limits_enforced, time_limit
from .miner import answer_first
from .node import Node
from .types import BlockInfo, CallResult, LogInfo, NodeConfig, ReceiptInfo, TxInfo

__all__ = ["Node", "answer_first", "time_limit", "limits_enforced", "OverTime", "NodeConfig", "BlockInfo", "CallResult", "LogInfo", "ReceiptInfo", "TxInfo", "ChainError",
           "ExecutionReverted", "ExecutionFailed", "InvalidParams", "TransactionRejected",
           "BlockNotFound"]

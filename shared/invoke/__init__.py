"""The invoke pipeline (shared/invoke/_pipeline.py): a caller's call through a connection, stage by stage."""

from shared.invoke._admit import limit_headers
from shared.invoke._context import IncomingCall, Invocation
from shared.invoke._environment import Environment, ForwardLimits
from shared.invoke._match import MatchedOperation, OperationTable
from shared.invoke._paging import rewrite_next_link
from shared.invoke._pipeline import STAGES, Stage, run
from shared.invoke._polling import next_poll_location
from shared.invoke._runtime import ConnectorRuntime, ConnectorRuntimes, OperationPlan

__all__ = [
    "STAGES",
    "ConnectorRuntime",
    "ConnectorRuntimes",
    "Environment",
    "ForwardLimits",
    "IncomingCall",
    "Invocation",
    "MatchedOperation",
    "OperationPlan",
    "OperationTable",
    "Stage",
    "limit_headers",
    "next_poll_location",
    "rewrite_next_link",
    "run",
]

"""How deep a JSON document the gateway accepts from anyone.

The C parser stops at Python's recursion limit with a RecursionError, and anything that walks a
document recursively afterwards (validation, json.dumps, the Table snapshot) could fail the same
way on a document just under it. One depth limit, checked without recursion, keeps every body and
upload far from both: real connector files nest about 20 levels.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 128


def nested_deeper_than(document: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays in `document` nest more than `limit` levels. Iterative: any depth is safe."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False

"""Tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [list(headers)] + [["-" if value in (None, "") else str(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def show(
    out: TextIO, as_json: bool, value: Any, headers: Sequence[str] = (), rows: Iterable[Sequence[Any]] = ()
) -> None:
    """`value` as JSON with --json; otherwise the table of `rows` (or, without headers, name: value lines)."""
    if as_json:
        print(json.dumps(value, indent=2, ensure_ascii=False), file=out)
    elif headers:
        print(table(headers, rows), file=out)
    elif isinstance(value, Mapping):
        for name, member in value.items():
            text = member if isinstance(member, str) else json.dumps(member, ensure_ascii=False)
            print(f"{name}: {text}", file=out)
    else:
        print(value, file=out)

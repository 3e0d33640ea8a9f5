"""RFC 9457: a problem type's title doesn't change from occurrence to occurrence. Every `Problem(status, type,
title, ...)` written in shared/ gives one type one title."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
_PROBLEM = re.compile(r'Problem\(\s*\d+,\s*"([a-z0-9-]+)",\s*"([^"]+)"')


def test_each_problem_type_has_one_title() -> None:
    titles: dict[str, set[str]] = defaultdict(set)
    for source in SHARED.rglob("*.py"):
        for slug, title in _PROBLEM.findall(source.read_text(encoding="utf-8")):
            titles[slug].add(title)
    assert len(titles) > 20  # the pattern still finds the gateway's problems
    assert {slug: found for slug, found in titles.items() if len(found) > 1} == {}

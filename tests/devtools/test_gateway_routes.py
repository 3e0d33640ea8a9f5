"""The gateway's own routes under the real Functions host's ordering: no request may reach the wrong function."""

from __future__ import annotations

import subprocess
import sys

from devtools.stack import REPO

# In a fresh interpreter: get_functions() may run only once per app.
CHECK = """
from pathlib import Path
from devtools.funchost._app import load_app
from devtools.funchost._routes import find_order_conflicts
app = load_app(Path("."), route_order="function-name")
print(len(app.routes.routes))
print("\\n".join(find_order_conflicts(app.routes.routes)))
"""


def test_no_route_depends_on_precedence_the_real_host_does_not_apply() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, check=True)
    count, *conflicts = result.stdout.strip().split("\n")
    assert int(count) >= 20
    assert [c for c in conflicts if c] == []

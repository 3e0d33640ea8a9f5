"""The three places an app setting's name lives, and how they must agree.

1. `shared/settings.py` SETTINGS: the declared settings (some local-only).
2. The code: every environment variable read in `shared/` and `function_app.py`
   (os.environ / os.getenv / environ.get ..., found with the AST) and every `Setting("NAME"`.
3. `infra/main.bicep`: the app settings the deployment writes.

`settings_problems` compares them and names every disagreement; it is pure so tests can
feed it made-up inputs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.infra.bicep_model import REPO_ROOT

# Settings the platform defines (Functions host, App Service, Azure SDK). Code may read them
# without declaring them in SETTINGS, and Bicep may set them.
PLATFORM_SETTINGS = frozenset({"AZURE_CLIENT_ID"})
# OTEL_: OpenTelemetry SDK configuration, e.g. the resource detectors shared/telemetry defaults.
PLATFORM_PREFIXES = ("AzureWebJobs", "FUNCTIONS_", "APPLICATIONINSIGHTS_", "WEBSITE_", "OTEL_")

# Platform settings the deployment must write for the app to run with its managed identity.
REQUIRED_PLATFORM_SETTINGS = frozenset(
    {
        "AZURE_CLIENT_ID",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    }
)

SETTINGS_MODULE = "shared/settings.py"
_ENVIRON_METHODS = {"get", "pop", "setdefault"}


def is_platform_setting(name: str) -> bool:
    return name in PLATFORM_SETTINGS or name.startswith(PLATFORM_PREFIXES)


@dataclass(frozen=True)
class EnvRead:
    name: str | None  # None: the name is computed, not a string literal
    location: str  # "path:line"


@dataclass(frozen=True)
class SourceScan:
    reads: tuple[EnvRead, ...]
    declared: tuple[str, ...]  # names in Setting("NAME", ...) calls


def _is_environ(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "environ") or (
        isinstance(node, ast.Attribute) and node.attr == "environ"
    )


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def scan_source(source: str, path: str) -> SourceScan:
    """Environment reads and Setting declarations in one Python source file."""
    reads: list[EnvRead] = []
    declared: list[str] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        key: ast.expr | None = None
        if isinstance(node, ast.Call):
            name = _called_name(node)
            first = node.args[0] if node.args else None
            if name == "getenv" or (
                name in _ENVIRON_METHODS and isinstance(node.func, ast.Attribute) and _is_environ(node.func.value)
            ):
                key = first
            elif name == "Setting" and _literal(first):
                declared.append(_literal(first) or "")
                continue
            else:
                continue
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            key = node.left
        else:
            continue
        reads.append(EnvRead(_literal(key), f"{path}:{node.lineno}"))
    return SourceScan(tuple(reads), tuple(declared))


def gateway_sources(root: Path = REPO_ROOT) -> list[Path]:
    """Python files that are deployed and may read settings."""
    files = sorted((root / "shared").rglob("*.py"))
    entry = root / "function_app.py"
    return [entry, *files] if entry.exists() else files


def scan_gateway(root: Path = REPO_ROOT) -> SourceScan:
    reads: list[EnvRead] = []
    declared: list[str] = []
    for path in gateway_sources(root):
        scan = scan_source(path.read_text(encoding="utf-8"), path.relative_to(root).as_posix())
        reads.extend(scan.reads)
        declared.extend(scan.declared)
    return SourceScan(tuple(reads), tuple(declared))


def settings_problems(
    *,
    settings: Mapping[str, bool],
    scan: SourceScan,
    bicep_settings: Iterable[str],
) -> list[str]:
    """Every disagreement between SETTINGS (name -> local_only), the code and the Bicep app settings."""
    problems: list[str] = []
    bicep = set(bicep_settings)
    for read in scan.reads:
        if read.name is None:
            problems.append(
                f"{read.location} reads an environment variable by a computed name; "
                f"read settings through {SETTINGS_MODULE} (Settings.from_env)"
            )
        elif read.name not in settings and not is_platform_setting(read.name):
            problems.append(
                f"{read.location} reads {read.name}, which is not declared in {SETTINGS_MODULE} SETTINGS "
                "(declare it there, or list it as a platform setting in tests/infra/settings_sources.py)"
            )
    for name in sorted(set(scan.declared) - set(settings)):
        problems.append(f"Setting({name!r}) is constructed in the code but is missing from {SETTINGS_MODULE} SETTINGS")
    for name, local_only in sorted(settings.items()):
        if not local_only and name not in bicep:
            problems.append(f"infra/main.bicep does not set {name}, which {SETTINGS_MODULE} SETTINGS declares")
    for name in sorted(bicep):
        if is_platform_setting(name):
            continue
        if settings.get(name):
            problems.append(f"infra/main.bicep sets {name}, which is local-only in {SETTINGS_MODULE} SETTINGS")
        elif name not in settings:
            problems.append(f"infra/main.bicep sets {name}, which the gateway does not declare in {SETTINGS_MODULE}")
    for name in sorted(REQUIRED_PLATFORM_SETTINGS - bicep):
        problems.append(f"infra/main.bicep does not set the platform setting {name}")
    return problems

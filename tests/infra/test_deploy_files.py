"""The files around the templates: azure.yaml, main.parameters.json, .funcignore, the README's deploy section."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.infra import bicep_model as bicep
from tests.infra.bicep_model import REPO_ROOT

# What the deployed package holds; everything else at the top of the repo stays out.
DEPLOYED = {"function_app.py", "host.json", "requirements.txt", "shared"}
# Dev files that must never ship, whether or not they exist in this checkout.
NEVER_DEPLOYED = [
    "tests/infra/test_checkov.py",
    "devtools/run.py",
    "benchmarks/run.py",
    "infra/main.bicep",
    "docs/deploy.md",
    "node_modules/azurite/package.json",
    ".venv/bin/python",
    ".venv-checkov/bin/checkov",
    ".local/keyvault/cert.pem",
    ".ci/run",
    ".git/HEAD",
    ".git",  # in a git worktree .git is a file, not a folder
    ".azure/prod/.env",
    "package.json",
    "package-lock.json",
    "Makefile",
    "requirements-dev.txt",
    "local.settings.json",
    "__azurite_db_table__.json",
    "__blobstorage__/x",
    "shared/__pycache__/settings.cpython-311.pyc",
    ".pytest_cache/v/cache",
    ".hypothesis/constants/x",  # the schemathesis fuzz test's hypothesis database
    "README.md",
    "azure.yaml",
]


def simple_yaml(text: str) -> dict[str, Any]:
    """Nested mappings of scalars, which is all azure.yaml uses (no lists, no flow style)."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key] = value.strip()
        else:
            parent[key] = {}
            stack.append((indent, parent[key]))
    return root


def test_azure_yaml_provisions_infra_and_deploys_the_app_as_a_function() -> None:
    config = simple_yaml((REPO_ROOT / "azure.yaml").read_text())
    assert config["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert config["services"] == {"gateway": {"project": ".", "language": "python", "host": "function"}}
    # azd finds the app by its azd-service-name tag, which main.bicep sets from this name.
    params = bicep.body(bicep.parse(bicep.MAIN_BICEP)["modules"]["functionApp"])["params"]
    assert params["azdServiceName"] in config["services"]
    site = bicep.the_resource(bicep.module_template("functionapp"), "Microsoft.Web/sites")
    assert bicep.render(site["tags"]) == "union(tags, {'azd-service-name': 'azdServiceName'})"


def test_every_file_azure_yaml_points_at_exists() -> None:
    text = (REPO_ROOT / "azure.yaml").read_text()
    mentioned = set(re.findall(r"(?<![\w/:.])((?:[\w-]+/)*[\w-]+\.(?:md|bicep|json))\b", text))
    assert "README.md" in mentioned  # the deploy guide is its "Deploy to Azure" section
    assert not [path for path in mentioned if not (REPO_ROOT / path).is_file()]


def test_simple_yaml_reads_nesting() -> None:
    assert simple_yaml("a:\n  b: 1\n  c:\n    d: x\ne: y\n") == {"a": {"b": "1", "c": {"d": "x"}}, "e": "y"}


def test_parameters_file_names_real_parameters_and_every_required_one() -> None:
    document = json.loads((bicep.INFRA_DIR / "main.parameters.json").read_text())
    given = set(document["parameters"])
    declared = bicep.parameters(bicep.parse(bicep.MAIN_BICEP))
    assert given <= set(declared), f"unknown parameters: {sorted(given - set(declared))}"
    required = {name for name, p in declared.items() if p["default"] is None}
    assert required <= given, f"required parameters missing: {sorted(required - given)}"
    variables = {}
    for name, entry in document["parameters"].items():
        match = re.fullmatch(r"\$\{([A-Z_]+)\}", entry["value"])
        assert match, f"{name} should come from an azd environment value"
        variables[match.group(1)] = name
    # azd stores outputs as environment values: an output named like a parameter's variable
    # would feed the last deployment's result back in as the next deployment's input.
    outputs = set(bicep.parse(bicep.MAIN_BICEP)["outputs"])
    looping = {variables[v] for v in set(variables) & outputs if v not in {"AZURE_LOCATION"}}
    assert not looping, f"parameters fed by an output of the same name: {sorted(looping)}"


# --- .funcignore ---


def funcignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".funcignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert not [p for p in patterns if p.startswith("!")], "negations aren't modelled here; keep .funcignore simple"
    return patterns


def is_excluded(path: str, patterns: list[str], *, is_dir: bool = False) -> bool:
    """gitignore-style: `name/` matches directories only; a pattern without an inner slash matches any level."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        directory = depth < len(parts) or is_dir
        for pattern in patterns:
            if pattern.endswith("/") and not directory:
                continue
            bare = pattern.strip("/")
            if "/" in bare:
                if fnmatchcase("/".join(parts[:depth]), bare):
                    return True
            elif fnmatchcase(parts[depth - 1], bare):
                return True
    return False


def test_matcher_follows_gitignore_rules() -> None:
    patterns = ["tests/", "*.pyc", ".venv-*/", "Makefile"]
    assert is_excluded("tests/unit/test_x.py", patterns)
    assert is_excluded("shared/__pycache__/x.pyc", patterns)
    assert is_excluded(".venv-checkov/bin/checkov", patterns)
    assert not is_excluded("shared/tests.py", patterns)
    assert not is_excluded("tests", patterns)  # a file named tests is not the directory
    assert is_excluded("tests", patterns, is_dir=True)
    assert is_excluded("Makefile", patterns)


@pytest.mark.parametrize("path", NEVER_DEPLOYED)
def test_funcignore_keeps_dev_files_out(path: str) -> None:
    assert is_excluded(path, funcignore_patterns()), f"{path} would be deployed"


def test_funcignore_keeps_the_app_in() -> None:
    patterns = funcignore_patterns()
    app_files = ["function_app.py", "host.json", "requirements.txt", "shared/settings.py"]
    app_files += [p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "shared").rglob("*.py")]
    dropped = [path for path in app_files if is_excluded(path, patterns)]
    assert not dropped, f".funcignore drops app files: {dropped}"


def test_nothing_else_at_the_top_of_the_repo_is_deployed() -> None:
    patterns = funcignore_patterns()
    leaking = [
        entry.name
        for entry in REPO_ROOT.iterdir()
        if entry.name not in DEPLOYED and not is_excluded(entry.name, patterns, is_dir=entry.is_dir())
    ]
    assert not leaking, f"would be deployed: {leaking}; add them to .funcignore (or to DEPLOYED if the app needs them)"


# --- the README's deploy section ---


def test_deploy_doc_covers_every_parameter_and_output() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    doc = readme.split("## Deploy to Azure", 1)[1].split("\n## ", 1)[0]
    main = bicep.parse(bicep.MAIN_BICEP)
    missing = [name for name in [*bicep.parameters(main), *main["outputs"]] if f"`{name}`" not in doc]
    assert not missing, f"the README's deploy section does not describe: {missing}"
    for needle in ("az deployment group create", "azd up", "Connectors.Manage", "/api/oauth/callback"):
        assert needle in doc

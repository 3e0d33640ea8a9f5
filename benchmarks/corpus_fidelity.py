"""How many real connectors run with all their declared behaviour honoured, and what the others name instead.

    .venv/bin/python -m benchmarks.corpus_fidelity [FOLDER]     # default: $CONNECTORS_CORPUS, else tests/fixtures

Each connector is built as an upload builds it (apiDefinition, apiProperties, script.csx when present), with the
https rule as deployed (PROXY_ALLOW_LOOPBACK off), and its runtime planned as the invoke pipeline plans it. It
runs faithfully when the upload accepts it, its auth scheme is supported, and no operation answers 501 (no
template the gateway can't honour, no custom code). Anything else is named: the upload's problem, the auth
reason, or the 501 reasons, which the connector's GET also shows. Pure: no stack, no network. Prints a table.
"""

from __future__ import annotations

import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shared.connectors import Connector, ConnectorError, build_connector, decode_document, https_rule_errors
from shared.invoke import ConnectorRuntime

CATEGORIES = ("certified-connectors", "custom-connectors", "independent-publisher-connectors")
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "connectors"


@dataclass
class Assessment:
    name: str
    auth_kind: str
    templates: frozenset[str]  # lower-cased templateIds it declares
    reasons: list[str] = field(default_factory=list)  # what isn't honoured; empty: runs faithfully
    unsupported_templates: frozenset[str] = frozenset()
    custom_code: bool = False

    @property
    def faithful(self) -> bool:
        return not self.reasons


def auth_kind(connector: Connector) -> str:
    auth = connector.auth
    if auth.kind == "none":
        return "none (parameters)" if connector.parameters else "none"
    detail = auth.location or auth.identity_provider
    return f"{auth.kind} ({detail})" if detail else auth.kind


def _read(directory: Path, name: str) -> bytes | None:
    path = directory / name
    if not path.is_file() and name == "apiDefinition.swagger.json":
        # As the curated set is read: a folder's single *.swagger.json is its definition (De Lijn).
        candidates = sorted(directory.glob("*.swagger.json"))
        path = candidates[0] if len(candidates) == 1 else path
    return path.read_bytes() if path.is_file() else None


def assess(name: str, directory: Path) -> Assessment:
    definition, properties, script = (
        _read(directory, "apiDefinition.swagger.json"),
        _read(directory, "apiProperties.json"),
        _read(directory, "script.csx"),
    )
    try:
        api_properties = decode_document(properties or b"{}", "apiProperties.json")
        instances = api_properties.get("properties", {}).get("policyTemplateInstances") or []
        templates = frozenset(
            str(i.get("templateId", "")).lower() for i in instances if isinstance(i, dict) and i.get("templateId")
        )
    except ConnectorError:
        templates = frozenset()
    try:
        connector = build_connector(
            "corpus",
            decode_document(definition or b"", "apiDefinition.swagger.json"),
            decode_document(properties or b"{}", "apiProperties.json"),
            script.decode("utf-8", "replace") if script is not None else None,
        )
    except ConnectorError as error:
        return Assessment(name, "(not uploaded)", templates, [f"upload refused: {error}"])
    found = Assessment(name, auth_kind(connector), templates, custom_code=connector.custom_code)
    if not connector.auth.supported:
        found.reasons.append(f"auth: {connector.auth.reason}")
    found.reasons += [f"upload refused: {e['detail']}" for e in https_rule_errors(connector, allow_loopback=False)]
    runtime = ConnectorRuntime(connector)
    unsupported = {i.template_id.lower() for i in runtime.instances if i.unsupported}
    found.unsupported_templates = frozenset(unsupported)
    reasons = {reason for operation in runtime.describe() for reason in operation["unsupportedReasons"]}
    found.reasons += sorted(reasons)
    return found


def assess_all(root: Path) -> list[Assessment]:
    return [
        assess(f"{category}/{directory.name}", directory)
        for category in CATEGORIES
        if (root / category).is_dir()
        for directory in sorted(p for p in (root / category).iterdir() if p.is_dir())
    ]


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "0/0"


def table(assessments: Iterable[Assessment]) -> str:
    assessments = list(assessments)
    lines = [f"Runs faithfully: {_share(sum(a.faithful for a in assessments), len(assessments))} connectors", ""]
    lines += ["| templateId | connectors | run faithfully | template honoured |", "|---|---|---|---|"]
    by_template: dict[str, list[Assessment]] = defaultdict(list)
    for a in assessments:
        for template_id in a.templates:
            by_template[template_id].append(a)
    for template_id, users in sorted(by_template.items(), key=lambda item: (-len(item[1]), item[0])):
        honoured = sum(template_id not in a.unsupported_templates for a in users)
        faithful = sum(a.faithful for a in users)
        lines.append(f"| {template_id} | {len(users)} | {_share(faithful, len(users))} | {honoured}/{len(users)} |")
    none = [a for a in assessments if not a.templates]
    lines.append(f"| (no templates) | {len(none)} | {_share(sum(a.faithful for a in none), len(none))} | |")
    script = [a for a in assessments if a.custom_code]
    lines.append(f"| (script.csx) | {len(script)} | {_share(sum(a.faithful for a in script), len(script))} | |")
    lines += ["", "| auth kind | connectors | run faithfully |", "|---|---|---|"]
    kinds = Counter(a.auth_kind for a in assessments)
    for kind, count in kinds.most_common():
        faithful = sum(a.faithful for a in assessments if a.auth_kind == kind)
        lines.append(f"| {kind} | {count} | {_share(faithful, count)} |")
    causes: Counter[str] = Counter()
    for a in assessments:
        for reason in {r.split(":")[0] if r.startswith(("auth", "upload")) else _cause(r) for r in a.reasons}:
            causes[reason] += 1
    lines += ["", "| not honoured, because | connectors |", "|---|---|"]
    lines += [f"| {cause} | {count} |" for cause, count in causes.most_common()]
    return "\n".join(lines)


def _cause(reason: str) -> str:
    if reason.startswith("custom code"):
        return "custom code (script.csx)"
    if reason.startswith("policy template"):
        return reason.split(" can't")[0].split(" (")[0]
    return reason


def main(argv: list[str]) -> None:
    root = Path(argv[0]) if argv else Path(os.environ.get("CONNECTORS_CORPUS") or FIXTURES)
    assessments = assess_all(root.expanduser().resolve())
    print(f"{root}: {len(assessments)} connectors\n")
    print(table(assessments))
    if "-v" in os.environ.get("CORPUS_FIDELITY_FLAGS", ""):
        for a in assessments:
            if not a.faithful:
                print(f"- {a.name}: " + "; ".join(a.reasons))


if __name__ == "__main__":
    main(sys.argv[1:])

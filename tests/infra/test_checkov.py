"""checkov's Bicep checks pass on infra/, and every skip says why.

checkov pins its own dependencies, so it lives in its own virtual environment,
.venv-checkov, which `make test` creates. It runs offline: no download, no update check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep_model import INFRA_DIR, REPO_ROOT

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
OFFLINE_ENV = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}


def run_checkov(directory: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make test`, which creates .venv-checkov and installs checkov")
    command = [str(CHECKOV), "-d", str(directory), "--framework", "bicep", "--compact", "--skip-download", "-o", "json"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, **OFFLINE_ENV}, check=False
    )
    assert result.returncode in (0, 1), f"checkov exited {result.returncode}:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    assert isinstance(report, dict) and report.get("check_type") == "bicep", f"unexpected report: {result.stdout[:500]}"
    return report


@pytest.fixture(scope="module")
def infra_report() -> dict[str, Any]:
    return run_checkov(INFRA_DIR)


def describe(checks: list[dict[str, Any]]) -> str:
    return "\n".join(f"{c['check_id']} {c['file_path']} {c['resource']}: {c['check_name']}" for c in checks)


def test_checkov_reports_no_failed_checks(infra_report: dict[str, Any]) -> None:
    summary = infra_report["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a .bicep file"
    assert summary["failed"] == 0, "failed checks:\n" + describe(infra_report["results"]["failed_checks"])
    assert summary["passed"] >= 30, f"checkov ran suspiciously few checks: {summary}"


def test_every_skip_is_justified_inline(infra_report: dict[str, Any]) -> None:
    skipped = infra_report["results"]["skipped_checks"]
    unjustified = [c for c in skipped if len(c["check_result"].get("suppress_comment", "").strip()) < 20]
    assert not unjustified, "skips without a reason:\n" + describe(unjustified)


def test_checkov_scans_every_bicep_file(infra_report: dict[str, Any]) -> None:
    checked = {c["file_path"].lstrip("/") for c in infra_report["results"]["passed_checks"]}
    checked |= {c["file_path"].lstrip("/") for c in infra_report["results"]["skipped_checks"]}
    # Modules whose resources no checkov check covers (identity, roles, private endpoints) are left out.
    for expected in ("main.bicep", "modules/functionapp.bicep", "modules/storage.bicep", "modules/keyvault.bicep"):
        assert expected in checked


def test_checkov_fails_an_insecure_change(tmp_path: Path) -> None:
    # The gate can fail: turning off httpsOnly must be caught.
    copy = tmp_path / "infra"
    shutil.copytree(INFRA_DIR, copy)
    site = copy / "modules" / "functionapp.bicep"
    text = site.read_text()
    assert "httpsOnly: true" in text
    site.write_text(text.replace("httpsOnly: true", "httpsOnly: false"))
    failed = {c["check_id"] for c in run_checkov(copy)["results"]["failed_checks"]}
    assert "CKV_AZURE_14" in failed


def test_missing_checkov_venv_fails_with_instructions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHECKOV", tmp_path / "no-checkov")
    with pytest.raises(pytest.fail.Exception, match=r"run `make test`"):
        run_checkov(INFRA_DIR)

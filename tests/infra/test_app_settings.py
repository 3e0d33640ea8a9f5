"""The app settings the code reads, the settings it declares and those Bicep writes agree."""

from __future__ import annotations

import pytest

from shared.settings import SETTINGS
from tests.infra import bicep_model as bicep
from tests.infra.settings_sources import (
    REQUIRED_PLATFORM_SETTINGS,
    EnvRead,
    SourceScan,
    scan_gateway,
    scan_source,
    settings_problems,
)


def bicep_app_settings() -> dict[str, object]:
    """The app settings object main.bicep writes to the site's 'appsettings' config."""
    main = bicep.parse(bicep.MAIN_BICEP)
    config = bicep.the_resource(main, "Microsoft.Web/sites/config")
    assert config["name"] == "appsettings"
    assert config["properties"] == "appSettings", "the appsettings config must be written from var appSettings"
    return bicep.render(bicep.variable(main, "appSettings"))


def test_code_settings_and_bicep_agree() -> None:
    problems = settings_problems(
        settings={s.name: s.local_only for s in SETTINGS},
        scan=scan_gateway(),
        bicep_settings=bicep_app_settings(),
    )
    assert not problems, "\n".join(problems)


def test_scan_finds_the_settings_module_declarations() -> None:
    # Guards the scanner itself: it must see every Setting("NAME" in shared/settings.py.
    assert set(scan_gateway().declared) >= {s.name for s in SETTINGS}


def test_required_settings_are_wired_to_the_resources() -> None:
    values = bicep_app_settings()
    assert values["KEY_VAULT_URL"] == "keyVault.outputs.uri"
    assert values["TABLES_ENDPOINT"] == "storage.outputs.tableEndpoint"
    assert values["GATEWAY_PUBLIC_URL"] == "gatewayPublicUrl"
    main = bicep.parse(bicep.MAIN_BICEP)
    assert bicep.render(bicep.variable(main, "gatewayPublicUrl")) == (
        "empty(publicUrl) ? https://${functionApp.outputs.defaultHostName} : publicUrlWithoutSlash"
    )
    assert "gatewayAppClientId" in values["AUTH_OIDC_AUDIENCES"]
    assert "appIdUri" in values["AUTH_OIDC_AUDIENCES"]
    issuers = bicep.render(bicep.variable(main, "defaultIssuers"))
    assert "https://login.microsoftonline.com/${entraTenantId}/v2.0" in issuers


def test_host_storage_and_telemetry_use_the_managed_identity() -> None:
    values = bicep_app_settings()
    assert set(values) >= REQUIRED_PLATFORM_SETTINGS
    assert values["AZURE_CLIENT_ID"] == "identity.outputs.clientId"
    assert values["AzureWebJobsStorage__clientId"] == "identity.outputs.clientId"
    assert values["AzureWebJobsStorage__credential"] == "managedidentity"
    assert values["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identity.outputs.clientId};Authorization=AAD"
    )
    # No connection strings with keys, and no settings Flex Consumption rejects.
    forbidden = {"AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"}
    assert not forbidden & set(values)
    assert not [name for name in values if name.startswith("WEBSITE_")]


# --- the comparison itself: each kind of disagreement is reported by name ---

PLATFORM = dict.fromkeys(REQUIRED_PLATFORM_SETTINGS, "x")
DECLARED = {"KEY_VAULT_URL": False, "LOG_LEVEL": False, "GATEWAY_PORT": True}
FULL_BICEP = {**PLATFORM, "KEY_VAULT_URL": "x", "LOG_LEVEL": "x"}


def problems_for(*, reads: tuple[EnvRead, ...] = (), declared: tuple[str, ...] = (), bicep_names: object = None):
    return settings_problems(
        settings=DECLARED,
        scan=SourceScan(reads, declared),
        bicep_settings=FULL_BICEP if bicep_names is None else bicep_names,
    )


def test_agreeing_sources_have_no_problems() -> None:
    reads = (EnvRead("LOG_LEVEL", "shared/a.py:1"), EnvRead("AZURE_CLIENT_ID", "shared/b.py:2"))
    assert problems_for(reads=reads, declared=("KEY_VAULT_URL",)) == []


def test_undeclared_read_is_reported() -> None:
    problems = problems_for(reads=(EnvRead("NEW_THING", "shared/proxy.py:7"),))
    assert problems == [
        "shared/proxy.py:7 reads NEW_THING, which is not declared in shared/settings.py SETTINGS "
        "(declare it there, or list it as a platform setting in tests/infra/settings_sources.py)"
    ]


def test_computed_read_is_reported() -> None:
    problems = problems_for(reads=(EnvRead(None, "shared/x.py:3"),))
    assert len(problems) == 1
    assert problems[0].startswith("shared/x.py:3 reads an environment variable by a computed name")


def test_setting_outside_the_table_is_reported() -> None:
    assert problems_for(declared=("STRAY",)) == [
        "Setting('STRAY') is constructed in the code but is missing from shared/settings.py SETTINGS"
    ]


def test_declared_setting_missing_in_bicep_is_reported() -> None:
    bicep_names = {**PLATFORM, "KEY_VAULT_URL": "x"}
    assert problems_for(bicep_names=bicep_names) == [
        "infra/main.bicep does not set LOG_LEVEL, which shared/settings.py SETTINGS declares"
    ]


def test_bicep_setting_the_code_does_not_know_is_reported() -> None:
    assert problems_for(bicep_names={**FULL_BICEP, "OLD_SETTING": "x"}) == [
        "infra/main.bicep sets OLD_SETTING, which the gateway does not declare in shared/settings.py"
    ]


def test_bicep_setting_a_local_only_setting_is_reported() -> None:
    assert problems_for(bicep_names={**FULL_BICEP, "GATEWAY_PORT": "x"}) == [
        "infra/main.bicep sets GATEWAY_PORT, which is local-only in shared/settings.py SETTINGS"
    ]


def test_missing_platform_setting_is_reported() -> None:
    bicep_names = {k: v for k, v in FULL_BICEP.items() if k != "AZURE_CLIENT_ID"}
    expected = ["infra/main.bicep does not set the platform setting AZURE_CLIENT_ID"]
    assert problems_for(bicep_names=bicep_names) == expected


# --- the source scanner ---

SAMPLE = """
import os
from os import environ, getenv

a = os.environ["A_SUBSCRIPT"]
b = os.environ.get("B_GET", "x")
c = os.getenv("C_GETENV")
d = environ.get("D_BARE")
e = getenv("E_BARE")
f = "F_IN" in os.environ
g = os.environ.setdefault("G_SETDEFAULT", "1")
h = os.environ.get(name)
i = {}.get("NOT_ENV")
j = Setting(
    "J_DECLARED", None, "multi-line declaration"
)
"""


@pytest.fixture(scope="module")
def sample_scan() -> SourceScan:
    return scan_source(SAMPLE, "shared/sample.py")


def test_scanner_finds_every_kind_of_read(sample_scan: SourceScan) -> None:
    names = [read.name for read in sample_scan.reads]
    assert names.count(None) == 1
    assert {n for n in names if n} == {
        "A_SUBSCRIPT",
        "B_GET",
        "C_GETENV",
        "D_BARE",
        "E_BARE",
        "F_IN",
        "G_SETDEFAULT",
    }


def test_scanner_reports_locations_and_declarations(sample_scan: SourceScan) -> None:
    assert EnvRead("A_SUBSCRIPT", "shared/sample.py:5") in sample_scan.reads
    assert sample_scan.declared == ("J_DECLARED",)

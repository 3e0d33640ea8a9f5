"""Settings: parsing, clear errors, and the README's table kept in step with SETTINGS."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from shared.settings import SETTINGS, Settings, SettingsError

README = Path(__file__).resolve().parents[2] / "README.md"
REQUIRED = {"KEY_VAULT_URL": "https://vault.example/", "TABLES_ENDPOINT": "https://acct.table.core.windows.net"}


def settings_table() -> str:
    rows = ["| Setting | Default | Meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "—"
        if setting.name == "KEY_VAULT_URL":
            default = "*required*"
        elif setting.name in ("TABLES_ENDPOINT", "TABLES_CONNECTION_STRING"):
            default = "one of the two"
        where = " *(local only)*" if setting.local_only else ""
        rows.append(f"| `{setting.name}` | {default} | {setting.description}{where} |")
    return "\n".join(rows)


def test_readme_settings_table_matches_the_code() -> None:
    text = README.read_text()
    table = text.split("<!-- settings-table:start -->\n", 1)[1].split("<!-- settings-table:end -->", 1)[0]
    assert table.strip() == settings_table(), "regenerate the README table from tests/unit/test_settings.py"


def test_defaults() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.port == 7071
    assert settings.maker_role == "Connectors.Manage"
    assert settings.proxy_allowed_addresses == ()
    assert settings.subscription_key_header == "Ocp-Apim-Subscription-Key"


def test_lists_and_networks_are_parsed() -> None:
    settings = Settings.from_env(
        {**REQUIRED, "AUTH_OIDC_ISSUERS": " https://a/ , https://b/ ", "PROXY_ALLOWED_ADDRESSES": "169.254.10.0/24"}
    )
    assert settings.oidc_issuers == ("https://a/", "https://b/")
    assert settings.proxy_allowed_addresses == (ipaddress.ip_network("169.254.10.0/24"),)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"TABLES_ENDPOINT": "x"}, "KEY_VAULT_URL"),
        ({"KEY_VAULT_URL": "x"}, "TABLES_CONNECTION_STRING"),
        ({**REQUIRED, "PROXY_READ_TIMEOUT_SECONDS": "soon"}, "PROXY_READ_TIMEOUT_SECONDS"),
        ({**REQUIRED, "PROXY_MAX_BODY_BYTES": "-1"}, "PROXY_MAX_BODY_BYTES"),
        ({**REQUIRED, "KEY_VAULT_EMULATOR": "maybe"}, "KEY_VAULT_EMULATOR"),
        ({**REQUIRED, "PROXY_ALLOWED_ADDRESSES": "not-a-cidr"}, "PROXY_ALLOWED_ADDRESSES"),
        ({**REQUIRED, "TABLES_PREFIX": "bad-prefix"}, "TABLES_PREFIX"),
    ],
)
def test_bad_values_name_the_setting(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(environ)

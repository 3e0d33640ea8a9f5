"""Settings: parsing, clear errors, and the README's table kept in step with SETTINGS."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from shared.proxy import AddressPolicy
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
    assert settings.proxy_address_policy == AddressPolicy(allow_loopback=False, private_networks=None)
    assert (settings.proxy_total_timeout, settings.proxy_max_response_bytes) == (100.0, 104_857_600)
    assert settings.subscription_key_header == "Ocp-Apim-Subscription-Key"


def test_lists_and_networks_are_parsed() -> None:
    settings = Settings.from_env(
        {**REQUIRED, "AUTH_OIDC_ISSUERS": " https://a/ , https://b/ ", "PROXY_ALLOWED_NETWORKS": "10.20.0.0/16"}
    )
    assert settings.oidc_issuers == ("https://a/", "https://b/")
    assert settings.proxy_address_policy.private_networks == (ipaddress.ip_network("10.20.0.0/16"),)
    assert Settings.from_env({**REQUIRED, "PROXY_ALLOWED_NETWORKS": "none"}).proxy_address_policy.private_networks == ()
    assert Settings.from_env({**REQUIRED, "PROXY_ALLOW_LOOPBACK": "true"}).proxy_address_policy.allow_loopback


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"TABLES_ENDPOINT": "x"}, "KEY_VAULT_URL"),
        ({"KEY_VAULT_URL": "x"}, "TABLES_CONNECTION_STRING"),
        ({**REQUIRED, "PROXY_READ_TIMEOUT_SECONDS": "soon"}, "PROXY_READ_TIMEOUT_SECONDS"),
        ({**REQUIRED, "PROXY_MAX_BODY_BYTES": "-1"}, "PROXY_MAX_BODY_BYTES"),
        ({**REQUIRED, "KEY_VAULT_EMULATOR": "maybe"}, "KEY_VAULT_EMULATOR"),
        ({**REQUIRED, "PROXY_ALLOWED_NETWORKS": "not-a-cidr"}, "PROXY_ALLOWED_NETWORKS"),
        ({**REQUIRED, "PROXY_ALLOWED_NETWORKS": "169.254.0.0/16"}, "PROXY_ALLOWED_NETWORKS"),
        ({**REQUIRED, "PROXY_ALLOWED_NETWORKS": "0.0.0.0/0"}, "PROXY_ALLOWED_NETWORKS"),
        ({**REQUIRED, "PROXY_ALLOWED_NETWORKS": "127.0.0.0/8"}, "PROXY_ALLOWED_NETWORKS"),
        ({**REQUIRED, "PROXY_ALLOW_LOOPBACK": "maybe"}, "PROXY_ALLOW_LOOPBACK"),
        ({**REQUIRED, "PROXY_TOTAL_TIMEOUT": "0"}, "PROXY_TOTAL_TIMEOUT"),
        ({**REQUIRED, "PROXY_MAX_RESPONSE_BYTES": "big"}, "PROXY_MAX_RESPONSE_BYTES"),
        ({**REQUIRED, "TABLES_PREFIX": "bad-prefix"}, "TABLES_PREFIX"),
    ],
)
def test_bad_values_name_the_setting(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(environ)

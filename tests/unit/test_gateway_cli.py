"""The connector-gateway CLI's pure parts: problem lines, the env file, paconn settings, the console script."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import requests

from devtools.stack import REPO
from gateway_cli import main as cli_main
from gateway_cli._client import problem_line
from gateway_cli._envfile import environment_with, read_env_file, write_env_file
from gateway_cli._paconn import PaconnError, connector_files, connector_id_from_title


def _response(status: int, body: bytes, content_type: str = "application/problem+json") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers["Content-Type"] = content_type
    response.reason = "Reason"
    return response


def test_a_problem_is_one_line_with_its_pointers_and_correlation_id() -> None:
    problem = {
        "type": "urn:connector-gateway:problem:invalid-parameters",
        "title": "Invalid parameters",
        "status": 400,
        "detail": "connection parameters are invalid",
        "errors": [{"pointer": "/parameters/a", "detail": "Required."}, {"pointer": "", "detail": "x\\ny"}],
        "correlationId": "abc",
    }
    line = problem_line(_response(400, json.dumps(problem).encode()))
    assert line == (
        "400 invalid-parameters: connection parameters are invalid [/parameters/a: Required.; /: x\\ny] "
        "(correlation id abc)"
    )
    assert "\n" not in problem_line(_response(502, b"<html>\n<b>Bad gateway</b>\n</html>", "text/html"))


def test_env_file_round_trips_awkward_values_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "gateway.env"
    values = {"A": "plain", "B": "with space and 'quote' and $dollar", "C": "x=y;z"}
    write_env_file(path, values, "header\nsecond line")
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_env_file(path) == values
    assert environment_with(path, {"A": "from-env"})["A"] == "from-env"
    assert read_env_file(tmp_path / "absent") == {}


def test_paconn_settings_are_relative_to_their_folder_and_flags_win(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(
        json.dumps({"connectorId": "c1", "apiDefinition": "d.json", "apiProperties": "p.json", "icon": "i.png"})
    )
    files = connector_files(tmp_path / "settings.json", None, None, Path("other.json"))
    assert (files.connector_id, files.api_definition, files.api_properties, files.icon) == (
        "c1",
        tmp_path / "d.json",
        Path("other.json"),
        tmp_path / "i.png",
    )
    with pytest.raises(PaconnError, match=r"settings file .* is not JSON"):
        (tmp_path / "bad.json").write_text("{")
        connector_files(tmp_path / "bad.json", None, None, None)
    assert connector_id_from_title(b'{"info": {"title": "My Echo API (v2)"}}') == "my-echo-api-v2"


def test_the_console_script_is_declared_and_callable() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    module, _, function = project["scripts"]["connector-gateway"].partition(":")
    assert (module, function) == ("gateway_cli.main", "main")
    assert callable(getattr(cli_main, function))


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main.main(["connections", "frobnicate"])
    assert exited.value.code == 2

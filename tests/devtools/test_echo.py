"""`python -m devtools.echo`: the quickstart's backend answers with what it received."""

from __future__ import annotations

import subprocess
import sys

import requests

from devtools.stack import REPO


def test_echo_answers_and_prints_what_it_received() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.echo", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = banner.split()[3]
        assert url.startswith("http://127.0.0.1:")  # loopback only
        response = requests.post(f"{url}/v1/hello?x=1", headers={"X-Api-Key": "s3cret"}, data=b"body", timeout=10)
        assert response.status_code == 200
        seen = response.json()
        assert (seen["method"], seen["path"], seen["query"], seen["body"]) == ("POST", "/v1/hello", {"x": "1"}, "body")
        assert seen["headers"]["X-Api-Key"] == "s3cret"
        assert process.stdout.readline().strip() == "POST /v1/hello?x=1"
    finally:
        process.terminate()
        process.wait(timeout=10)

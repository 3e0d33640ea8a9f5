"""The HTTP edge's readers: bodies that can't hurt (deep nesting, huge numbers, broken or flooding multipart)."""

from __future__ import annotations

import azure.functions as func
import pytest

from shared import problems
from shared.json_limits import MAX_DEPTH
from shared.web import MAX_MULTIPART_PARTS, read_json, read_multipart


def request(body: bytes, content_type: str = "application/json") -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/x", headers={"content-type": content_type}, body=body)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),  # past the limit, under the parser's recursion limit
        b"[" * 100_000 + b"]" * 100_000,  # past the recursion limit
        b'{"n": ' + b"9" * 5000 + b"}",  # past Python's 4300-digit integer limit
    ],
    ids=["past-limit", "past-recursion-limit", "huge-integer"],
)
def test_unreadable_json_bodies_are_400_problems(body: bytes) -> None:
    with pytest.raises(problems.Problem) as caught:
        read_json(request(body))
    assert (caught.value.status, caught.value.slug) == (400, "invalid-json")


def test_json_at_the_depth_limit_is_read() -> None:
    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert read_json(request(body)) is not None


def _parts(count: int) -> bytes:
    chunks = [f'--b\r\nContent-Disposition: form-data; name="p{i}"\r\n\r\nv{i}\r\n'.encode() for i in range(count)]
    return b"".join(chunks) + b"--b--\r\n"


def test_multipart_parts_up_to_the_cap_are_read_and_one_more_is_413() -> None:
    parts = read_multipart(request(_parts(MAX_MULTIPART_PARTS), "multipart/form-data; boundary=b"))
    assert len(parts) == MAX_MULTIPART_PARTS and parts["p0"].data == b"v0"
    with pytest.raises(problems.Problem) as caught:
        read_multipart(request(_parts(MAX_MULTIPART_PARTS + 1), "multipart/form-data; boundary=b"))
    assert (caught.value.status, caught.value.slug) == (413, "too-many-parts")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=b", b"\x00\x01garbage"),
        ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end'),
    ],
    ids=["no-boundary", "garbage", "truncated"],
)
def test_broken_multipart_is_a_400_problem(content_type: str, body: bytes) -> None:
    with pytest.raises(problems.Problem) as caught:
        read_multipart(request(body, content_type))
    assert (caught.value.status, caught.value.slug) == (400, "invalid-multipart")


def test_a_file_part_keeps_its_bytes_and_filename() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="apiDefinition"; filename="def.json"\r\n'
        b'Content-Type: application/json\r\n\r\n{"a": "Caf\xe9"}\r\n--b--\r\n'
    )
    parts = read_multipart(request(body, "multipart/form-data; boundary=b"))
    assert parts["apiDefinition"].data == b'{"a": "Caf\xe9"}'  # cp1252 bytes as sent, decoded later
    assert parts["apiDefinition"].filename == "def.json"

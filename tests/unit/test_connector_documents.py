import codecs
import json
import time

import pytest

from shared.connectors import ConnectorDocumentError, ConnectorError, decode_document
from shared.connectors._documents import JSON5_MAX_CHARS

NAME = "apiDefinition.swagger.json"


def test_plain_utf8():
    assert decode_document(b'{"host": "api.example.com"}', NAME) == {"host": "api.example.com"}


def test_utf8_with_bom():
    data = codecs.BOM_UTF8 + '{"title": "Café"}'.encode()
    assert decode_document(data, NAME) == {"title": "Café"}


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(codec):
    text = '{"title": "Café ☕"}'
    data = text.encode(codec) if codec == "utf-16" else ("\ufeff" + text).encode(codec)
    assert decode_document(data, NAME) == {"title": "Café ☕"}


def test_utf32_with_bom():
    assert decode_document('{"a": "é"}'.encode("utf-32"), NAME) == {"a": "é"}


def test_cp1252_bytes_are_read_as_windows_text():
    # "Café" saved by a Windows editor: é is the single byte 0xE9, and “” are 0x93/0x94 (not Latin-1).
    data = b'{"title": "Caf\xe9", "description": "\x93quoted\x94"}'
    assert decode_document(data, NAME) == {"title": "Café", "description": "\u201cquoted\u201d"}


def test_bytes_undefined_in_cp1252_fall_back_to_latin1():
    assert decode_document(b'{"title": "x\x81y"}', NAME) == {"title": "x\x81y"}


def test_invalid_utf16_after_bom_is_a_document_error():
    with pytest.raises(ConnectorDocumentError, match="UTF-16"):
        decode_document(codecs.BOM_UTF16_LE + b"{\x00\x00", NAME)


def test_trailing_commas_and_comments_are_tolerated():
    data = b'{\n  // the host\n  "host": "api.example.com",\n  "schemes": ["https",],\n}\n'
    assert decode_document(data, NAME) == {"host": "api.example.com", "schemes": ["https"]}


def test_comments_and_odd_spaces_outside_strings_only():
    # ZohoSign indents with U+2003 EM SPACE; "//" and "/*" inside strings are text, not comments.
    data = '{\u2003"url": "https://x/*y*/", /* note, */ "a": [1, 2, /* last */],\n}'.encode()
    assert decode_document(data, NAME) == {"url": "https://x/*y*/", "a": [1, 2]}


def test_escaped_quotes_do_not_confuse_the_clean_up():
    data = b'{"a": "say \\"hi\\", // not a comment", "b": [1,],}'
    assert decode_document(data, NAME) == {"a": 'say "hi", // not a comment', "b": [1]}


def test_other_json5_syntax_in_small_files():
    assert decode_document(b"{unquoted: 'single', hex: 0x10}", NAME) == {"unquoted": "single", "hex": 16}


def test_large_lenient_file_is_fast_and_large_exotic_file_is_refused_quickly():
    items = ", ".join(f'{{"name": "item{i}", "value": {i}}}' for i in range(20_000))
    big = f'{{"items": [{items},],}}'
    assert len(big) > JSON5_MAX_CHARS
    started = time.perf_counter()
    assert len(decode_document(big.encode(), NAME)["items"]) == 20_000
    with pytest.raises(ConnectorDocumentError) as caught:
        decode_document(big.replace('"name"', "name", 1).encode(), NAME)
    assert (caught.value.line, caught.value.column) == (1, 13)
    assert time.perf_counter() - started < 2


def test_broken_file_reports_the_strict_parser_position():
    lines = ["{", '  "a": {', '    "b": 1', '    "c": 2', "  }", "}"]
    with pytest.raises(ConnectorDocumentError) as caught:
        decode_document("\n".join(lines).encode(), NAME)
    error = caught.value
    assert (error.filename, error.line, error.column) == (NAME, 4, 5)
    assert error.message == "Expecting ',' delimiter"
    assert str(error) == "apiDefinition.swagger.json line 4 column 5: Expecting ',' delimiter"
    assert isinstance(error, ConnectorError)


def test_empty_file_is_a_document_error():
    with pytest.raises(ConnectorDocumentError) as caught:
        decode_document(b"", "apiProperties.json")
    assert (caught.value.line, caught.value.column) == (1, 1)
    assert str(caught.value).startswith("apiProperties.json line 1 column 1: ")


@pytest.mark.parametrize("data", [b"[]", b'"text"', b"42", b"null", b"\n\n  [1, 2,]"])
def test_top_level_must_be_an_object(data):
    with pytest.raises(ConnectorDocumentError, match="must be a JSON object"):
        decode_document(data, NAME)


def test_top_level_position_points_at_the_value():
    with pytest.raises(ConnectorDocumentError) as caught:
        decode_document(b"\n\n   [1]", NAME)
    assert (caught.value.line, caught.value.column) == (3, 4)


def test_absurd_nesting_is_a_document_error_not_a_crash():
    with pytest.raises(ConnectorDocumentError):
        decode_document(b"[" * 100_000 + b"]" * 100_000, NAME)


def test_strict_json_result_is_returned_as_is():
    document = {"paths": {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}}, "n": 1.5}
    assert decode_document(json.dumps(document).encode(), NAME) == document

import codecs
import json

import pytest

from shared.connectors import ConnectorDocumentError, ConnectorError, decode_document
from shared.connectors._lenient_json import to_strict_json
from shared.json_limits import MAX_DEPTH

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


def test_large_lenient_and_exotic_files_are_read():
    items = ", ".join(f'{{"name": "item{i}", "value": {i}}}' for i in range(20_000))
    big = f'{{"items": [{items},],}}'
    assert len(decode_document(big.encode(), NAME)["items"]) == 20_000
    exotic = decode_document(big.replace('"name"', "name", 1).encode(), NAME)
    assert exotic["items"][0] == {"name": "item0", "value": 0}


def test_more_json5_forms():
    text = """{
      'single': 'it\\'s "quoted"', $id: +1, half: .5, whole: 5., neg: -0x1F, big: 1e3,
      esc: "\\x41\\u00e9\\
continued", /* block
      comment */ list: [Infinity, -Infinity, true, false, null,],
    }"""
    document = decode_document(text.encode(), NAME)
    assert {k: v for k, v in document.items() if k != "list"} == {
        "single": 'it\'s "quoted"',
        "$id": 1,
        "half": 0.5,
        "whole": 5.0,
        "neg": -31,
        "big": 1000.0,
        "esc": "A\u00e9continued",
    }
    assert document["list"][1:] == [float("-inf"), True, False, None]


@pytest.mark.parametrize(
    "text",
    [
        "{a: b}",  # a bare name is a key, never a value
        "{'a': 1 2}",
        "{a: 0x" + "f" * 40 + "}",
        '{"a": ' + "1" * 5000 + "}",  # past Python's integer-string limit: an error, not a crash
        "{a: 1} trailing",
    ],
)
def test_broken_json5_is_a_document_error(text):
    with pytest.raises(ConnectorDocumentError):
        decode_document(text.encode(), NAME)


@pytest.mark.parametrize(
    "crafted",
    [
        '"\\' * 1_000_000,  # quotes and backslashes: quadratic for a regex clean-up and for json5
        "'\\" * 1_000_000,
        '{"a": "' + '\\"' * 1_000_000,
        "/*" * 1_000_000,
        "{" + "//x\n" * 500_000,
        "[" * 1_000_000,
        "{a:" * 600_000,
    ],
    ids=["dq-backslash", "sq-backslash", "escaped-quotes", "open-comments", "line-comments", "brackets", "keys"],
)
def test_crafted_megabytes_are_refused_in_one_pass(crafted):
    # Each of these took seconds at 40 KB when reading went back over the text; at 2 MB that would be hours.
    with pytest.raises(ConnectorDocumentError):
        decode_document(crafted.encode(), NAME)


def test_nesting_past_the_limit_is_refused_strict_or_lenient():
    at_limit = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert decode_document(f'{{"a": {at_limit}}}'.encode(), NAME)["a"]
    assert decode_document(f"{{a: {at_limit},}}".encode(), NAME)["a"]
    too_deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    for text in (f'{{"a": {too_deep}}}', f"{{a: {too_deep},}}"):
        with pytest.raises(ConnectorDocumentError, match="nested deeper than"):
            decode_document(text.encode(), NAME)


def test_strict_translation_keeps_strings_intact():
    assert json.loads(to_strict_json('{"url": "https://x/*y*/", k: "a,]",}')) == {"url": "https://x/*y*/", "k": "a,]"}


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

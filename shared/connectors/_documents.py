"""Lenient decoding of connector files as makers upload them.

Real files come with or without a UTF-8 BOM, now and then in UTF-16 or a Windows code page,
and with trailing commas or comments that the Power Platform tooling tolerates. We accept all
of that, but report a file that is broken beyond it with the strict parser's line and column,
which is where a maker should look.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

import json5

from shared.connectors._errors import ConnectorDocumentError

# Longest BOM first: the UTF-32-LE BOM begins with the UTF-16-LE one.
_BOM_CODECS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# The json5 package is pure Python (~7 s for 1 MB); above this size only the regex clean-up is tried.
JSON5_MAX_CHARS = 128 * 1024
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_COMMENTS_AND_SPACES = re.compile(
    _STRING + r"|//[^\n]*|/\*.*?\*/|[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]", re.S
)
_TRAILING_COMMAS = re.compile(_STRING + r"|,(?=\s*[\]}])")


def _decode_text(data: bytes, filename: str) -> str:
    for bom, codec in _BOM_CODECS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as error:
                raise ConnectorDocumentError(filename, 1, 1, f"not valid {codec.upper()} text") from error
    # No BOM: UTF-8, else the Windows code page most makers' editors save, else Latin-1 (never fails).
    for codec in ("utf-8", "cp1252"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _first_content_position(text: str) -> tuple[int, int]:
    """1-based line and column of the first non-whitespace character (where a wrong top level starts)."""
    stripped = text.lstrip()
    offset = len(text) - len(stripped)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _without_json5_extras(text: str) -> str:
    """Drop comments and trailing commas and blank out Unicode spaces, outside strings: the JSON5
    features makers' files use, handled at regex speed (the json5 package needs seconds per megabyte)."""
    text = _COMMENTS_AND_SPACES.sub(lambda m: m.group() if m.group().startswith('"') else " ", text)
    return _TRAILING_COMMAS.sub(lambda m: m.group() if m.group().startswith('"') else "", text)


def _parse_leniently(text: str) -> Any:
    """The cleaned text as strict JSON, else (for small files) full JSON5. Raises ValueError."""
    try:
        return json.loads(_without_json5_extras(text))
    except ValueError:
        if len(text) > JSON5_MAX_CHARS:
            raise
    return json5.loads(text)


def decode_document(data: bytes, filename: str) -> dict[str, Any]:
    """Parse one connector file (apiDefinition.swagger.json or apiProperties.json) into a dict.

    Strict JSON first; if that fails, JSON5 (trailing commas, comments, ...). Raises ConnectorDocumentError
    with the strict parser's position when neither parses, or when the top level is not an object.
    """
    text = _decode_text(data, filename)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as strict_error:
        try:
            document = _parse_leniently(text)
        except (ValueError, RecursionError):
            raise ConnectorDocumentError(
                filename, strict_error.lineno, strict_error.colno, strict_error.msg
            ) from strict_error
    except RecursionError as error:
        raise ConnectorDocumentError(filename, 1, 1, "nested too deeply") from error
    if not isinstance(document, dict):
        line, column = _first_content_position(text)
        raise ConnectorDocumentError(filename, line, column, "the top level must be a JSON object")
    return document

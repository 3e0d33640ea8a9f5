"""Lenient decoding of connector files as makers upload them.

Real files come with or without a UTF-8 BOM, now and then in UTF-16 or a Windows code page,
and with trailing commas or comments that the Power Platform tooling tolerates. We accept all
of that, but report a file that is broken beyond it with the strict parser's line and column,
which is where a maker should look.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

import shared.connectors._lenient_json as _lenient_json
from shared.connectors._errors import ConnectorDocumentError
from shared.json_limits import MAX_DEPTH, nested_deeper_than

# Longest BOM first: the UTF-32-LE BOM begins with the UTF-16-LE one.
_BOM_CODECS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


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
            document = _lenient_json.loads(text)
        except _lenient_json.NestedTooDeep as error:
            raise ConnectorDocumentError(filename, 1, 1, str(error)) from error
        except (ValueError, RecursionError):
            raise ConnectorDocumentError(
                filename, strict_error.lineno, strict_error.colno, strict_error.msg
            ) from strict_error
    except RecursionError as error:
        raise ConnectorDocumentError(filename, 1, 1, "nested too deeply") from error
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise ConnectorDocumentError(filename, 1, 1, "a number is too long") from error
    if nested_deeper_than(document, MAX_DEPTH):
        raise ConnectorDocumentError(filename, 1, 1, f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(document, dict):
        line, column = _first_content_position(text)
        raise ConnectorDocumentError(filename, line, column, "the top level must be a JSON object")
    return document

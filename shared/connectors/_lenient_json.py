"""The JSON5 that makers' files use, read in linear time.

One left-to-right pass over tokens turns JSON5 into strict JSON for the C parser: comments and
Unicode spaces dropped, trailing commas dropped, single-quoted strings and unquoted keys quoted,
hex, signed and dotted numbers written the JSON way. Every token is matched once from where the
previous one ended and the first token that doesn't match ends the pass, so no input makes the
reader go back over text (the json5 package and a regex clean-up both took seconds on 40 KB of
crafted backslashes and quotes). Nesting deeper than MAX_DEPTH is refused while reading.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.json_limits import MAX_DEPTH

_MAX_HEX_DIGITS = 32

_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_TOKEN = re.compile(
    rf"""
      (?P<space>[{_SPACE}]+)
    | (?P<comment>//[^\n\r\u2028\u2029]*|/\*.*?\*/)
    | (?P<string>"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*')
    | (?P<punctuation>[{{}}\[\]:,])
    | (?P<number>[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Infinity|NaN)(?![\w$]))
    | (?P<name>[A-Za-z_$][\w$]*)
    """,
    re.X | re.S,
)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|\r\n|.)", re.S)
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "0": "\0"}
_LINE_CONTINUATIONS = {"\n", "\r", "\r\n", "\u2028", "\u2029"}
_LITERALS = {"true", "false", "null"}


class LenientJsonError(ValueError):
    pass


class NestedTooDeep(LenientJsonError):
    pass


def _unescape(match: re.Match[str]) -> str:
    escape = match.group(1)
    if escape[0] in "ux" and len(escape) > 1:
        return chr(int(escape[1:], 16))
    if escape in _LINE_CONTINUATIONS:
        return ""
    return _SIMPLE_ESCAPES.get(escape, escape)


def _string(token: str) -> str:
    """A JSON5 string token as a JSON string token."""
    return json.dumps(_ESCAPE.sub(_unescape, token[1:-1]))


def _number(token: str) -> str:
    sign = "-" if token.startswith("-") else ""
    digits = token.lstrip("+-")
    if digits[:2] in ("0x", "0X"):
        if len(digits) - 2 > _MAX_HEX_DIGITS:
            raise LenientJsonError("hexadecimal number too long")
        return sign + str(int(digits, 16))
    if digits in ("Infinity", "NaN"):
        return sign + digits
    mantissa, e, exponent = digits.partition("e") if "e" in digits else digits.partition("E")
    if mantissa.startswith("."):
        mantissa = "0" + mantissa
    if mantissa.endswith("."):
        mantissa += "0"
    return sign + mantissa + e + exponent


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of every significant token; raises LenientJsonError at the first thing that isn't one."""
    tokens = []
    position, end = 0, len(text)
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None:
            raise LenientJsonError(f"unexpected character at offset {position}")
        kind = match.lastgroup
        assert kind is not None
        if kind not in ("space", "comment"):
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def to_strict_json(text: str) -> str:
    """`text` (JSON5 as makers write it) as strict JSON text. Raises LenientJsonError."""
    tokens = _tokens(text)
    out: list[str] = []
    depth = 0
    for index, (kind, lexeme) in enumerate(tokens):
        if kind == "punctuation":
            if lexeme in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    raise NestedTooDeep(f"nested deeper than {MAX_DEPTH} levels")
            elif lexeme in "]}":
                depth -= 1
                if out and out[-1] == ",":
                    out.pop()  # a trailing comma
            out.append(lexeme)
        elif kind == "string":
            out.append(_string(lexeme))
        elif kind == "number":
            out.append(_number(lexeme))
        elif lexeme in _LITERALS:
            out.append(lexeme)
        elif index + 1 < len(tokens) and tokens[index + 1][1] == ":":
            out.append(json.dumps(lexeme))  # an unquoted key
        else:
            raise LenientJsonError(f"unexpected name {lexeme[:40]!r}")
    return " ".join(out)  # spaced, so that two adjacent values stay two (and an error)


def loads(text: str) -> Any:
    """Parse JSON5 as makers write it. Raises ValueError (LenientJsonError or json.JSONDecodeError)."""
    return json.loads(to_strict_json(text), strict=False)

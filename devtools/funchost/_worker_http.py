"""The Python worker's half of an HTTP response: the function's result as the RpcHttp message sent to the host.

The first step is the azure-functions library's own `HttpResponseConverter.encode` (imported, not copied): it
turns `func.HttpResponse` into a Datum whose headers are a plain dict, so of several headers with one name only
the last survives, except `Set-Cookie`, which it moves into a list of `SimpleCookie`s. The second step,
the Datum as RpcHttp, is vendored below from Azure/azure-functions-python-worker (MIT License, Copyright (c)
Microsoft Corporation) at 7e6acf36 (worker 4.34.0): `datum_as_proto`'s 'http' branch and
`parse_to_rpc_http_cookie_list`, `parse_cookie_attr_expires`, `parse_cookie_attr_same_site` from
azure_functions_worker/bindings/datumdef.py, and the `to_nullable_*` converters from nullable_converters.py.
The protobuf messages are replaced by dataclasses with the same field names; the logic is the worker's, errors
included: an `Expires` that dateutil can't parse fails the invocation (the caller gets the host's 500).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from http.cookies import SimpleCookie
from typing import Any

from azure.functions import meta
from azure.functions.http import HttpResponseConverter
from dateutil import parser
from dateutil.parser import ParserError

# -- stand-ins for the protobuf messages (FunctionRpc.proto, NullableTypes.proto) --------------------------------


@dataclass(frozen=True)
class NullableString:
    value: str


@dataclass(frozen=True)
class NullableBool:
    value: bool


@dataclass(frozen=True)
class NullableDouble:
    value: float


@dataclass(frozen=True)
class NullableTimestamp:
    seconds: int  # google.protobuf.Timestamp's seconds; the worker never sets nanos


class SameSite(IntEnum):
    NONE = 0  # "None" in the proto: not set
    LAX = 1
    STRICT = 2
    EXPLICIT_NONE = 3  # SameSite=None written by the function


@dataclass(frozen=True)
class RpcHttpCookie:
    name: str
    value: str
    domain: NullableString | None = None
    path: NullableString | None = None
    expires: NullableTimestamp | None = None
    secure: NullableBool | None = None
    http_only: NullableBool | None = None
    same_site: SameSite = SameSite.NONE
    max_age: NullableDouble | None = None


@dataclass(frozen=True)
class RpcHttp:
    status_code: str
    headers: dict[str, str]
    body: bytes
    cookies: list[RpcHttpCookie] = field(default_factory=list)


# -- vendored: nullable_converters.py ----------------------------------------------------------------------------


def to_nullable_string(nullable: str | None, property_name: str) -> NullableString | None:
    if isinstance(nullable, str):
        return NullableString(value=nullable)
    if nullable is not None:
        raise TypeError(
            f"A 'str' type was expected instead of a '{type(nullable)}' "
            f"type. Cannot parse value {nullable} of '{property_name}'."
        )
    return None


def to_nullable_bool(nullable: bool | None, property_name: str) -> NullableBool | None:
    if isinstance(nullable, bool):
        return NullableBool(value=nullable)
    if nullable is not None:
        raise TypeError(
            f"A 'bool' type was expected instead of a '{type(nullable)}' "
            f"type. Cannot parse value {nullable} of '{property_name}'."
        )
    return None


def to_nullable_double(nullable: str | int | float | None, property_name: str) -> NullableDouble | None:
    if isinstance(nullable, int | float):
        return NullableDouble(value=nullable)
    if isinstance(nullable, str):
        if len(nullable) == 0:
            return None
        try:
            return NullableDouble(value=float(nullable))
        except Exception:
            raise TypeError(f"Cannot parse value {nullable} of '{property_name}' to float.") from None
    if nullable is not None:
        raise TypeError(
            f"A 'int' or 'float' type was expected instead of a '{type(nullable)}' "
            f"type. Cannot parse value {nullable} of '{property_name}'."
        )
    return None


def to_nullable_timestamp(date_time: datetime | int | None, property_name: str) -> NullableTimestamp | None:
    if date_time is not None:
        try:
            time_in_seconds = date_time if isinstance(date_time, int) else date_time.timestamp()
            return NullableTimestamp(seconds=int(time_in_seconds))
        except Exception:
            raise TypeError(
                f"A 'datetime' or 'int' type was expected instead of a '{type(date_time)}' "
                f"type. Cannot parse value {date_time} of '{property_name}'."
            ) from None
    return None


# -- vendored: datumdef.py ---------------------------------------------------------------------------------------


def parse_to_rpc_http_cookie_list(cookies: list[SimpleCookie] | None) -> list[RpcHttpCookie] | None:
    if cookies is None:
        return cookies
    rpc_http_cookies = []
    for cookie in cookies:
        for name, cookie_entity in cookie.items():
            rpc_http_cookies.append(
                RpcHttpCookie(
                    name=name,
                    value=cookie_entity.value,
                    domain=to_nullable_string(cookie_entity["domain"], "cookie.domain"),
                    path=to_nullable_string(cookie_entity["path"], "cookie.path"),
                    expires=to_nullable_timestamp(parse_cookie_attr_expires(cookie_entity), "cookie.expires"),
                    secure=to_nullable_bool(bool(cookie_entity["secure"]), "cookie.secure"),
                    http_only=to_nullable_bool(bool(cookie_entity["httponly"]), "cookie.httpOnly"),
                    same_site=parse_cookie_attr_same_site(cookie_entity),
                    max_age=to_nullable_double(cookie_entity["max-age"], "cookie.maxAge"),
                )
            )
    return rpc_http_cookies


def parse_cookie_attr_expires(cookie_entity: Any) -> datetime | None:
    expires = cookie_entity["expires"]
    if expires is not None and len(expires) != 0:
        try:
            return parser.parse(expires)
        except ParserError:
            logging.error(f"Can not parse value {expires} of expires in the cookie due to invalid format.")
            raise
        except OverflowError:
            logging.error(
                f"Can not parse value {expires} of expires in the cookie "
                f"because the parsed date exceeds the largest valid C integer on your system."
            )
            raise
    return None


def parse_cookie_attr_same_site(cookie_entity: Any) -> SameSite:
    same_site = SameSite.NONE
    try:
        raw_same_site_str = cookie_entity["samesite"].lower()
        if raw_same_site_str == "lax":
            same_site = SameSite.LAX
        elif raw_same_site_str == "strict":
            same_site = SameSite.STRICT
        elif raw_same_site_str == "none":
            same_site = SameSite.EXPLICIT_NONE
    except Exception:
        return same_site
    return same_site


def http_datum_as_rpc(datum: meta.Datum) -> RpcHttp:
    """datum_as_proto's 'http' branch (enable_content_negotiation=False; the body is a 'bytes' Datum)."""
    return RpcHttp(
        status_code=datum.value["status_code"].value,
        headers={k: v.value for k, v in datum.value["headers"].items()},
        cookies=parse_to_rpc_http_cookie_list(datum.value.get("cookies")) or [],
        body=datum.value["body"].value,
    )


# -- the worker's path for an HTTP function's return value (bindings/meta.py to_outgoing_proto) --------------------


def encode_http_result(result: Any) -> RpcHttp | str:
    """What the worker sends the host for an HTTP output: RpcHttp for an HttpResponse, the text for a str."""
    datum = HttpResponseConverter.encode(result, expected_type=None)
    if datum.type == "string":
        return str(datum.value)
    return http_datum_as_rpc(datum)

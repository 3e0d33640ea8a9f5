"""Errors of the connector model. Pure exceptions: mapping them to HTTP happens in the HTTP layer."""

from __future__ import annotations

ErrorList = list[dict[str, str]]


def json_pointer(*parts: str | int) -> str:
    """An RFC 6901 pointer from unescaped reference tokens ("~" and "/" in names are escaped)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _summarise(what: str, errors: ErrorList) -> str:
    if not errors:
        return what
    first = f"{what}: {errors[0]['pointer'] or '/'}: {errors[0]['detail']}"
    more = len(errors) - 1
    return f"{first} (and {more} more)" if more else first


class ConnectorError(Exception):
    """Base of every error the connector model raises."""


class ConnectorDocumentError(ConnectorError):
    """A connector file that is not a JSON object, even read leniently. Positions are 1-based."""

    def __init__(self, filename: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{filename} line {line} column {column}: {message}")
        self.filename = filename
        self.line = line
        self.column = column
        self.message = message


class ConnectorInvalid(ConnectorError):
    """Connector documents (or a connector id) that parse but cannot describe a usable connector.

    `errors` holds {"pointer", "detail"} dicts; pointers start with /apiDefinition, /apiProperties or /id.
    """

    def __init__(self, errors: ErrorList) -> None:
        super().__init__(_summarise("connector is invalid", errors))
        self.errors = errors


class ConnectionValuesInvalid(ConnectorError):
    """Connection parameter values that do not fit the connector. Details never repeat a submitted value."""

    def __init__(self, errors: ErrorList) -> None:
        super().__init__(_summarise("connection parameters are invalid", errors))
        self.errors = errors

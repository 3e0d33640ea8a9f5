"""The connector model: what the gateway keeps of a maker's apiDefinition + apiProperties.

Built by `build_connector` (_build.py); stored as a JSON record; summarised for GET. Raw parts the
gateway does not interpret yet (oAuthSettings, policyTemplateInstances, uiDefinition) are kept as given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from shared.connectors._errors import ConnectorInvalid
from shared.connectors._operations import Operation, operation_from_record, operation_to_record

CONNECTOR_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

STRING_TYPES = frozenset({"string", "securestring"})
# Parameters a user types in when creating a connection; the others are filled by the platform.
USER_ENTERED_TYPES = STRING_TYPES | {"int", "bool"}
SECRET_TYPES = frozenset({"securestring", "oauthsetting"})
KNOWN_PARAMETER_TYPES = USER_ENTERED_TYPES | {"oauthsetting", "gatewaysetting"}


@dataclass(frozen=True)
class Backend:
    scheme: str  # "https" or "http"
    host: str  # host name with an optional ":port"
    base_path: str  # starts with "/", no trailing "/" unless it is the root

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.base_path}"


@dataclass(frozen=True)
class AuthScheme:
    """How a connection authenticates. Only the fields of its kind are set; the rest stay None."""

    kind: str  # "none" | "basic" | "apiKey" | "oauth2" | "windows" | "parameterSets"
    supported: bool
    location: str | None = None  # apiKey: "header" | "query"
    key_name: str | None = None  # apiKey: the header or query parameter name
    value_parameter: str | None = None  # apiKey: the connection parameter holding the key
    username_parameter: str | None = None  # basic
    password_parameter: str | None = None  # basic
    identity_provider: str | None = None  # oauth2: oAuthSettings.identityProvider
    reason: str | None = None  # why it is not supported; set whenever supported is False


@dataclass(frozen=True)
class ConnectionParameter:
    name: str
    type: str  # lower-cased: "string", "securestring", "int", "bool", "oauthsetting", "gatewaysetting"
    secret: bool
    required: bool
    hidden: bool
    allowed_values: tuple[str, ...]
    default: Any
    ui_definition: dict[str, Any]

    @property
    def user_entered(self) -> bool:
        return self.type in USER_ENTERED_TYPES

    def allows(self, value: Any) -> bool:
        """Whether a (type-checked) value is one of allowed_values; anything goes when there are none."""
        if not self.allowed_values:
            return True
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return text in self.allowed_values


@dataclass(frozen=True)
class ParameterSet:
    """One entry of apiProperties' connectionParameterSets (multi-auth): its own parameters and scheme."""

    name: str
    title: str
    parameters: tuple[ConnectionParameter, ...]
    auth: AuthScheme
    oauth_settings: dict[str, Any] | None


@dataclass(frozen=True)
class ConnectionCheck:
    """x-ms-capabilities.testConnection: the operation a new connection is tried with, resolved in the paths."""

    operation_id: str
    method: str  # upper case
    path: str  # the path template relative to basePath, starting with "/"
    parameters: dict[str, Any]  # testConnection.parameters as given: {"name": {"value": ...}} or {"name": value}


@dataclass(frozen=True)
class Connector:
    id: str
    title: str
    description: str
    backend: Backend
    auth: AuthScheme
    parameters: tuple[ConnectionParameter, ...]
    oauth_settings: dict[str, Any] | None
    policy_template_instances: tuple[dict[str, Any], ...]
    parameter_sets: tuple[ParameterSet, ...] = ()
    test_connection: ConnectionCheck | None = None
    # Findings that don't refuse the upload but that a maker must see: {"pointer", "detail"}, like errors.
    warnings: tuple[dict[str, str], ...] = ()
    operations: tuple[Operation, ...] = ()
    # script.csx came with it (the file is kept among the connector's files): a Python gateway can't run it,
    # so the operations it handles answer 501.
    custom_code: bool = False
    script_operations: tuple[str, ...] | None = None  # apiProperties scriptOperations; None: every operation
    # Read from a record stored before operations were kept: nobody knows what it declares, so its calls keep
    # passing through (with a warning to re-upload). Never set by an upload; never stored.
    operations_unknown: bool = False

    @property
    def runtime_version(self) -> str:
        """A content hash of what shapes its calls besides the backend and auth (operations, templates, custom
        code). Connection snapshots carry it, so the invoke path finds the parsed operation table in its
        in-process cache without a second read, and a replaced connector's table is never used for the new one."""
        shaping = {
            "operations": [operation_to_record(operation) for operation in self.operations],
            "templates": list(self.policy_template_instances),
            "customCode": self.custom_code,
            "scriptOperations": self.script_operations,
            "basePath": self.backend.base_path,
        }
        if self.operations_unknown:  # only then, so every other connector's version stays as it was
            shaping["operationsUnknown"] = True
        text = json.dumps(shaping, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def parameter(self, name: str) -> ConnectionParameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def parameter_set(self, name: str) -> ParameterSet | None:
        return next((s for s in self.parameter_sets if s.name == name), None)

    def for_parameter_set(self, name: str) -> Connector:
        """The connector as one of its parameter sets sees it: that set's parameters, scheme and OAuth settings.
        Everything that works on a single-auth connector (validation, OAuth config, snapshots) works on it."""
        chosen = self.parameter_set(name)
        if chosen is None:
            raise KeyError(name)
        return dataclasses.replace(
            self, auth=chosen.auth, parameters=chosen.parameters, oauth_settings=chosen.oauth_settings
        )


def validate_connector_id(connector_id: str) -> None:
    """Raise ConnectorInvalid unless the id is 1-64 characters of letters, digits, "_" or "-",
    starting with a letter or digit (`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`): safe in URLs and Table keys."""
    if not isinstance(connector_id, str) or not CONNECTOR_ID_PATTERN.fullmatch(connector_id):
        raise ConnectorInvalid([{"pointer": "/id", "detail": _CONNECTOR_ID_RULE}])


_CONNECTOR_ID_RULE = "A connector id has 1-64 characters: letters, digits, '_' or '-', starting with a letter or digit."


RECORD_VERSION = 1


def connector_to_record(connector: Connector) -> dict[str, Any]:
    """A JSON-serialisable dict of the whole connector (for storage; not for callers)."""
    record = dataclasses.asdict(connector)
    del record["operations_unknown"]
    if connector.operations_unknown:  # rewritten without a re-upload: still stored before operations were kept
        del record["operations"]
    else:
        record["operations"] = [operation_to_record(operation) for operation in connector.operations]
    return {"recordVersion": RECORD_VERSION, **record}


def _parameters_from_record(records: list[dict[str, Any]]) -> tuple[ConnectionParameter, ...]:
    return tuple(ConnectionParameter(**{**p, "allowed_values": tuple(p["allowed_values"])}) for p in records)


def connector_from_record(record: dict[str, Any]) -> Connector:
    """The inverse of connector_to_record. A malformed record is a server fault: ValueError."""
    try:
        if record["recordVersion"] != RECORD_VERSION:
            raise ValueError(f"unknown connector record version {record['recordVersion']!r}")
        parameter_sets = tuple(
            ParameterSet(
                name=s["name"],
                title=s["title"],
                parameters=_parameters_from_record(s["parameters"]),
                auth=AuthScheme(**s["auth"]),
                oauth_settings=s["oauth_settings"],
            )
            for s in record.get("parameter_sets", ())
        )
        test_connection = record.get("test_connection")
        return Connector(
            id=record["id"],
            title=record["title"],
            description=record["description"],
            backend=Backend(**record["backend"]),
            auth=AuthScheme(**record["auth"]),
            parameters=_parameters_from_record(record["parameters"]),
            oauth_settings=record["oauth_settings"],
            policy_template_instances=tuple(record["policy_template_instances"]),
            parameter_sets=parameter_sets,
            test_connection=ConnectionCheck(**test_connection) if test_connection else None,
            # Records stored before operations were kept have none: their calls pass through as before.
            operations=tuple(operation_from_record(o) for o in record.get("operations", ())),
            operations_unknown="operations" not in record,
            custom_code=bool(record.get("custom_code", False)),
            script_operations=(None if record.get("script_operations") is None else tuple(record["script_operations"])),
            warnings=tuple(record.get("warnings", ())),
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed connector record: {error!r}") from error


def _authentication_summary(auth: AuthScheme) -> dict[str, Any]:
    if auth.kind == "apiKey":
        return {"type": auth.kind, "in": auth.location, "name": auth.key_name}
    if auth.kind == "oauth2":
        return {"type": auth.kind, "identityProvider": auth.identity_provider}
    return {"type": auth.kind}


def _parameters_summary(parameters: tuple[ConnectionParameter, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "type": p.type,
            "required": p.required,
            "secret": p.secret,
            "hidden": p.hidden,
            "allowedValues": list(p.allowed_values),
            "uiDefinition": p.ui_definition,
        }
        for p in parameters
    ]


def _support(auth: AuthScheme) -> dict[str, Any]:
    return {"supported": True} if auth.supported else {"supported": False, "reason": auth.reason}


def connector_summary(connector: Connector) -> dict[str, Any]:
    """What GET shows of a connector. oauth_settings stay out: makers sometimes put client secrets there."""
    summary = {
        "id": connector.id,
        "title": connector.title,
        "description": connector.description,
        "backendUrl": connector.backend.url,
        "authentication": _authentication_summary(connector.auth),
        **_support(connector.auth),
        "customCode": connector.custom_code,
        "parameters": _parameters_summary(connector.parameters),
        "warnings": [dict(warning) for warning in connector.warnings],
    }
    if connector.parameter_sets:
        summary["parameterSets"] = [
            {
                "name": s.name,
                "displayName": s.title,
                "authentication": _authentication_summary(s.auth),
                **_support(s.auth),
                "parameters": _parameters_summary(s.parameters),
            }
            for s in connector.parameter_sets
        ]
    if connector.test_connection is not None:
        summary["testConnection"] = {"operationId": connector.test_connection.operation_id}
    return summary

"""The pure connector model: paconn's apiDefinition.swagger.json + apiProperties.json as a Connector.

No I/O here: callers read bytes and store records; this package decodes, validates and describes.
"""

from shared.connectors._auth import is_credential_header
from shared.connectors._build import build_connector
from shared.connectors._changes import credential_route_changes
from shared.connectors._client_secrets import FoundSecret, client_secret_of, take_client_secrets
from shared.connectors._documents import decode_document
from shared.connectors._errors import ConnectionValuesInvalid, ConnectorDocumentError, ConnectorError, ConnectorInvalid
from shared.connectors._export import SUBSCRIPTION_KEY, EntraSignIn, GatewayAuth, entra_sign_in, export_swagger
from shared.connectors._https_rule import https_rule_errors, is_loopback_host
from shared.connectors._model import (
    AuthScheme,
    Backend,
    ConnectionCheck,
    ConnectionParameter,
    Connector,
    ParameterSet,
    connector_from_record,
    connector_summary,
    connector_to_record,
    validate_connector_id,
)
from shared.connectors._parameters import ConnectionValues, credential_value_errors, validate_connection_values
from shared.connectors._sharing import (
    CONNECTOR_PERMISSIONS,
    EDIT,
    USE,
    ConnectorShare,
    connector_permissions,
    parse_connector_share,
    shares_from_record,
    shares_to_record,
    with_connector_share,
)

__all__ = [
    "CONNECTOR_PERMISSIONS",
    "EDIT",
    "SUBSCRIPTION_KEY",
    "USE",
    "AuthScheme",
    "Backend",
    "ConnectionCheck",
    "ConnectionParameter",
    "ConnectionValues",
    "ConnectionValuesInvalid",
    "Connector",
    "ConnectorDocumentError",
    "ConnectorError",
    "ConnectorInvalid",
    "ConnectorShare",
    "EntraSignIn",
    "FoundSecret",
    "GatewayAuth",
    "ParameterSet",
    "build_connector",
    "client_secret_of",
    "connector_from_record",
    "connector_permissions",
    "connector_summary",
    "connector_to_record",
    "credential_route_changes",
    "credential_value_errors",
    "decode_document",
    "entra_sign_in",
    "export_swagger",
    "https_rule_errors",
    "is_credential_header",
    "is_loopback_host",
    "parse_connector_share",
    "shares_from_record",
    "shares_to_record",
    "take_client_secrets",
    "validate_connection_values",
    "validate_connector_id",
    "with_connector_share",
]

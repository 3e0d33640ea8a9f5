"""The pure connector model: paconn's apiDefinition.swagger.json + apiProperties.json as a Connector.

No I/O here: callers read bytes and store records; this package decodes, validates and describes.
"""

from shared.connectors._build import build_connector
from shared.connectors._documents import decode_document
from shared.connectors._errors import ConnectionValuesInvalid, ConnectorDocumentError, ConnectorError, ConnectorInvalid
from shared.connectors._model import (
    AuthScheme,
    Backend,
    ConnectionParameter,
    Connector,
    connector_from_record,
    connector_summary,
    connector_to_record,
    validate_connector_id,
)
from shared.connectors._parameters import ConnectionValues, validate_connection_values

__all__ = [
    "AuthScheme",
    "Backend",
    "ConnectionParameter",
    "ConnectionValues",
    "ConnectionValuesInvalid",
    "Connector",
    "ConnectorDocumentError",
    "ConnectorError",
    "ConnectorInvalid",
    "build_connector",
    "connector_from_record",
    "connector_summary",
    "connector_to_record",
    "decode_document",
    "validate_connection_values",
    "validate_connector_id",
]

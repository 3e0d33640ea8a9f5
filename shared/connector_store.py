"""Registered connectors, one Table entity each (PartitionKey "connector", RowKey = connector id).

An OAuth connector's client secret (or certificate) goes to Key Vault, never into
the entity; the entity names the secret. Secret names are random per connector
and reused across replacements, so soft delete never blocks a re-created id.

The entity also keeps the connector's owner (the maker who created it; empty for connectors stored
before owners existed) and its shares. Every write after the first is conditional on the ETag read,
so two makers can't both create an id, nor a replace undo a share made meanwhile: the loser gets 409.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, UpdateMode

from shared import problems
from shared.connectors import (
    Connector,
    ConnectorError,
    ConnectorShare,
    connector_from_record,
    connector_to_record,
    shares_from_record,
    shares_to_record,
    validate_connector_id,
)
from shared.stores.errors import translate_errors
from shared.stores.originals import FileRef, OriginalFiles, refs_from_json
from shared.stores.secrets import SecretStore
from shared.stores.tables import DocumentTooLarge, json_properties, now_iso, read_json_properties

PARTITION = "connector"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredConnector:
    connector: Connector
    secret_name: str = ""  # Key Vault secret holding the OAuth client credentials, if any
    secret_version: str = ""
    allow_token_retrieval: bool = False
    policy: dict[str, Any] | None = None  # canonical policy document (shared/policies.py); None: no policy
    owner: str = ""  # principal id of the maker who created it; "" for connectors stored before owners existed
    shares: tuple[ConnectorShare, ...] = ()
    etag: str = ""  # the entity's version: writes are conditional on it
    files: dict[str, FileRef] = dataclasses.field(default_factory=dict)  # the kept uploaded files (paconn download)


def _registered(entity: TableEntity) -> RegisteredConnector:
    return RegisteredConnector(
        connector_from_record(read_json_properties("record", entity)),
        entity.get("secretName", ""),
        entity.get("secretVersion", ""),
        bool(entity.get("allowTokenRetrieval", False)),
        json.loads(entity["policy"]) if entity.get("policy") else None,
        entity.get("owner", ""),
        shares_from_record(json.loads(entity["shares"]) if entity.get("shares") else []),
        entity.metadata.get("etag", "") if hasattr(entity, "metadata") else "",
        refs_from_json(json.loads(entity["files"])) if entity.get("files") else {},
    )


def _changed_meanwhile(connector_id: str) -> problems.Problem:
    return problems.Problem(
        409,
        "connector-changed",
        "Connector changed",
        f"Connector {connector_id!r} was created, replaced or deleted by another request meanwhile; read it and retry.",
    )


class ConnectorStore:
    def __init__(self, table: TableClient, secrets: SecretStore) -> None:
        self._table = table
        self._secrets = secrets
        self.files = OriginalFiles(table)

    def put(
        self,
        connector: Connector,
        credentials: dict[str, Any] | None,
        allow_token_retrieval: bool,
        policy: dict[str, Any] | None = None,
        *,
        existing: RegisteredConnector | None = None,
        owner: str = "",
        files: Mapping[str, bytes] | None = None,
    ) -> RegisteredConnector:
        """Create (`existing` None: the id must be free) or replace `existing` (unless it changed since it was read).

        A new connector belongs to `owner`; a replaced one keeps its owner and shares. Entity first (naming
        the secret), then the secret, then its version: a failure in between leaves a connector whose PUT can
        simply be repeated, and no orphan secret. `files` (the uploaded files as kept for downloads) are written
        before the entity that names them; versions no longer named are removed after it.
        """
        try:
            record = json_properties("record", connector_to_record(connector))
        except DocumentTooLarge as error:
            raise problems.Problem(413, "connector-too-large", "Connector too large", str(error)) from None
        secret_name = existing.secret_name if existing else ""
        if credentials and not secret_name:
            secret_name = f"connector-{uuid.uuid4().hex}"
        owner = existing.owner if existing else owner
        shares = existing.shares if existing else ()
        refs = self.files.put(connector.id, files) if files else {}
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": connector.id,
            "updatedAt": now_iso(),
            "secretName": secret_name,
            "secretVersion": existing.secret_version if existing else "",
            "allowTokenRetrieval": allow_token_retrieval,
            "policy": json.dumps(policy, separators=(",", ":")) if policy else "",  # small: one property
            "owner": owner,
            "shares": json.dumps(shares_to_record(shares), separators=(",", ":")),
            "files": json.dumps({name: ref.to_json() for name, ref in refs.items()}, separators=(",", ":")),
            **record,
        }
        if existing is None:
            self._refuse_case_variant(connector.id)
        with translate_errors("Table Storage"):
            try:
                if existing is None:
                    metadata = self._table.create_entity(entity)
                else:
                    metadata = self._table.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=existing.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                raise _changed_meanwhile(connector.id) from None
        etag = metadata.get("etag", "")
        if credentials:
            entity["secretVersion"] = self._secrets.put(secret_name, credentials)
            with translate_errors("Table Storage"):
                metadata = self._table.update_entity(
                    {"PartitionKey": PARTITION, "RowKey": connector.id, "secretVersion": entity["secretVersion"]},
                    mode=UpdateMode.MERGE,
                )
            etag = metadata.get("etag", "")
        if existing is not None:
            self._drop_files_except(connector.id, refs)
        return RegisteredConnector(
            connector, secret_name, entity["secretVersion"], allow_token_retrieval, policy, owner, shares, etag, refs
        )

    def _refuse_case_variant(self, connector_id: str) -> None:
        """Table keys are case-sensitive, people aren't: a new id that differs from an existing one only in letter
        case would let a maker stand a look-alike next to another maker's connector. The existing id isn't named
        (it may be one the caller can't see). Two such creations racing each other can still both pass."""
        wanted = connector_id.casefold()
        with translate_errors("Table Storage"):
            entities = self._table.query_entities("PartitionKey eq @p", parameters={"p": PARTITION}, select=["RowKey"])
            taken = any(e["RowKey"].casefold() == wanted and e["RowKey"] != connector_id for e in entities)
        if taken:
            raise problems.Problem(
                409,
                "connector-id-taken",
                "Connector id taken",
                f"A connector whose id differs from {connector_id!r} only in letter case exists; choose another id.",
            )

    def _drop_files_except(self, connector_id: str, kept: Mapping[str, FileRef]) -> None:
        """Best effort: a leftover copy of a file is no secret, and the next replace or delete removes it."""
        try:
            self.files.delete_except(connector_id, kept)
        except problems.Problem:
            log.warning("connector %s: old file copies left for its next replace or delete", connector_id)

    def set_shares(self, registered: RegisteredConnector, shares: tuple[ConnectorShare, ...]) -> RegisteredConnector:
        """Replace the connector's shares, unless the connector changed since `registered` was read."""
        fields = {
            "PartitionKey": PARTITION,
            "RowKey": registered.connector.id,
            "shares": json.dumps(shares_to_record(shares), separators=(",", ":")),
        }
        with translate_errors("Table Storage"):
            try:
                metadata = self._table.update_entity(
                    fields, mode=UpdateMode.MERGE, etag=registered.etag, match_condition=MatchConditions.IfNotModified
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                raise _changed_meanwhile(registered.connector.id) from None
        return dataclasses.replace(registered, shares=shares, etag=metadata.get("etag", ""))

    def find(self, connector_id: str) -> RegisteredConnector | None:
        try:
            validate_connector_id(connector_id)
        except ConnectorError:
            return None  # no such id can exist; and it may not be a valid table key
        with translate_errors("Table Storage"):
            try:
                return _registered(self._table.get_entity(PARTITION, connector_id))
            except ResourceNotFoundError:
                return None

    def get(self, connector_id: str) -> RegisteredConnector:
        registered = self.find(connector_id)
        if registered is None:
            raise problems.not_found("connector", connector_id)
        return registered

    def list(self) -> list[RegisteredConnector]:
        with translate_errors("Table Storage"):
            entities = list(self._table.query_entities("PartitionKey eq @p", parameters={"p": PARTITION}))
        return [_registered(e) for e in entities]

    def delete(self, registered: RegisteredConnector) -> None:
        # Secret first: if the entity delete then fails, repeating the DELETE finishes the job.
        if registered.secret_name:
            self._secrets.delete(registered.secret_name)
        with translate_errors("Table Storage"):
            self._table.delete_entity(PARTITION, registered.connector.id)
        self._drop_files_except(registered.connector.id, {})

"""Trusted documents and automatic persisted queries (API.md): a client may send a document's
sha256 instead of its text.

The registry (`qilijia documents add`, table `trusted_document`) holds the mini-program's
operations: they are parsed and validated at start-up, compiled on their first request, named in
the metrics, and the only documents a third-party client may run in `prod`. Besides them, a client
that sends a text together with its hash (Apollo's automatic persisted queries) has the text kept,
per process and bounded, so that its next request can send the hash alone; an unknown hash answers
`PERSISTED_QUERY_NOT_FOUND` and the client resends the text.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, parse, specified_rules

from models.errors import BadUserInputError, PersistedQueryNotFoundError
from schema.limits import checked

#: documents kept from automatic persisted queries, per process, and the largest kept
AUTOMATIC_MAX = 1_000
AUTOMATIC_MAX_BYTES = 20_000


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def operation_names(text: str) -> list[str]:
    return [
        d.name.value
        for d in parse(text).definitions
        if isinstance(d, OperationDefinitionNode) and d.name is not None
    ]


def problems(schema: GraphQLSchema, text: str) -> list[str]:
    """Why a document may not be registered (not GraphQL, over the limits, not valid), or []."""
    try:
        document = parse(text)
    except GraphQLError as error:
        return [error.message]
    return [e.message for e in checked(schema, document, tuple(specified_rules))]


@dataclass
class Registry:
    """The trusted documents by hash, and the automatic ones this process has been sent."""

    trusted: dict[str, str] = field(default_factory=dict)
    names: frozenset[str] = frozenset()
    automatic: OrderedDict[str, str] = field(default_factory=OrderedDict)
    #: whether the registered documents have been read (the database may be down at start-up)
    loaded: bool = False

    def load(self, rows: list[tuple[str, str]]) -> None:
        self.loaded = True
        self.trusted = {digest: body for digest, body in rows}
        self.names = frozenset(name for body in self.trusted.values() for name in operation_names(body))

    def is_trusted(self, text: str | None) -> bool:
        return text is not None and sha256(text) in self.trusted

    def resolve(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request body with its document's text, from the hash it carries when it carries one.
        A text sent with a hash is checked against it and kept for the next request."""
        extensions = body.get("extensions")
        if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
            return body
        persisted = extensions["persistedQuery"]
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(persisted, dict) or persisted.get("version") != 1 or not isinstance(digest, str):
            raise BadUserInputError("persistedQuery 需为 {version: 1, sha256Hash}。", field="extensions")
        digest = digest.lower()
        query = body.get("query")
        if isinstance(query, str) and query:
            if sha256(query) != digest:
                raise BadUserInputError("查询原文与 sha256Hash 不符。", field="extensions")
            if digest not in self.trusted and len(query.encode()) <= AUTOMATIC_MAX_BYTES:
                self.automatic[digest] = query
                self.automatic.move_to_end(digest)
                while len(self.automatic) > AUTOMATIC_MAX:
                    self.automatic.popitem(last=False)
            return body
        text = self.trusted.get(digest) or self.automatic.get(digest)
        if text is None:
            raise PersistedQueryNotFoundError()
        if digest in self.automatic:
            self.automatic.move_to_end(digest)
        return {**body, "query": text}


#: the registry of this process, filled at start-up (`app.http`)
DOCUMENTS = Registry()

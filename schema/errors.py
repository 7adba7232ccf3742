"""How errors reach clients: a Chinese `message` and an `extensions.code` from API.md, nothing more.

Expected errors (`models.errors.QilijiaError`) keep their message. Malformed or over-limit
queries become `BAD_USER_INPUT` / `QUERY_TOO_COMPLEX`, with the parser's English detail (field
suggestions removed) under `extensions.detail` for the developer. Everything else is a bug: it is
logged with its traceback and answered as a masked `INTERNAL` error.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError

from models.errors import QilijiaError, QueryTooComplexError, UnavailableError, database_unreachable

log = logging.getLogger("qilijia.errors")

INTERNAL_MESSAGE = "服务器开小差了，请稍后再试。"
TOO_COMPLEX_MESSAGE = "查询过于复杂，请减少查询的层级、别名或字段。"
_TOO_COMPLEX = re.compile(
    # graphql-core's parser stops with "Document contains more than N tokens" (MaxTokensLimiter), its
    # validator with a bare "Validation aborted." once a document exhausts its complexity budget
    r"token limit|contains more than \d+ tokens|^Validation aborted\.$",
    re.I,
)
_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.S)


def refusal(refused: QilijiaError) -> GraphQLError:
    """The GraphQL error for a refusal made before execution (by an extension): `rewrite` gives it
    its code and extensions as it gives every other."""
    return GraphQLError(refused.message, original_error=refused)


def classify(error: GraphQLError) -> tuple[str, str, dict[str, Any]]:
    """(code, message, extra extensions) for one error."""
    original = error.original_error
    if isinstance(original, QilijiaError):
        extra: dict[str, Any] = {"field": original.field} if original.field else {}
        if isinstance(original, QueryTooComplexError):
            extra["cost"] = {"requested": original.cost, "limit": original.limit}
        return original.code, original.message, extra
    if original is None or isinstance(original, GraphQLError):
        detail = _SUGGESTION.sub("", error.message)
        if _TOO_COMPLEX.search(error.message):
            return "QUERY_TOO_COMPLEX", TOO_COMPLEX_MESSAGE, {"detail": detail}
        if "introspection" in error.message.lower():
            return "FORBIDDEN", "生产环境不开放接口结构查询。", {}
        return "BAD_USER_INPUT", "查询语句有误，请检查后重试。", {"detail": detail}
    if database_unreachable(original):
        log.warning("database unreachable at %s: %s", error.path, original)
        return UnavailableError.code, UnavailableError.default_message, {}
    log.error("unexpected error at %s", error.path, exc_info=original)
    return "INTERNAL", INTERNAL_MESSAGE, {}


def rewrite(errors: list[GraphQLError]) -> None:
    """Rewrite errors in place (the same objects reach HTTP and WebSocket responses)."""
    for error in errors:
        if error.extensions and "code" in error.extensions:
            continue
        code, message, extra = classify(error)
        error.message = message
        error.extensions = {"code": code, **extra}
        if code in ("INTERNAL", UnavailableError.code):
            error.original_error = None

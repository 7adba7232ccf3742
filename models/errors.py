"""The errors a client may see, one class per `extensions.code` of the public contract.

Every layer raises these; the GraphQL layer turns them into errors whose `message` is the Chinese
sentence carried here and whose `extensions.code` is the class's `code`. Anything else that
escapes is a bug and reaches the client only as a masked `INTERNAL` error.

    QilijiaError                      (base; never raised itself)
    ├── UnauthenticatedError          UNAUTHENTICATED — no or bad credentials
    ├── ForbiddenError                FORBIDDEN — also used for objects the caller may not see
    ├── NotFoundError                 NOT_FOUND
    ├── BadUserInputError             BAD_USER_INPUT — carries an optional `field` path
    ├── ConflictError                 CONFLICT — the object's state does not allow it
    ├── RateLimitedError              RATE_LIMITED
    ├── QueryTooComplexError          QUERY_TOO_COMPLEX
    ├── UnavailableError              UNAVAILABLE — the database cannot be reached; retry later
    ├── PersistedQueryNotFoundError   PERSISTED_QUERY_NOT_FOUND — resend the document's text
    └── UpstreamError                 INTERNAL — a service we depend on failed; message is safe
"""

from __future__ import annotations

import sqlalchemy.exc


class QilijiaError(Exception):
    code: str = "INTERNAL"
    default_message: str = "服务器开小差了，请稍后再试。"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)


class UnauthenticatedError(QilijiaError):
    code = "UNAUTHENTICATED"
    default_message = "请先登录。"


class ForbiddenError(QilijiaError):
    code = "FORBIDDEN"
    default_message = "您没有权限查看或操作该内容。"


class NotFoundError(QilijiaError):
    code = "NOT_FOUND"
    default_message = "没有找到该内容。"


class BadUserInputError(QilijiaError):
    code = "BAD_USER_INPUT"
    default_message = "填写的内容有误，请检查后重试。"


class ConflictError(QilijiaError):
    code = "CONFLICT"
    default_message = "该内容已被他人修改，请刷新后重试。"


class RateLimitedError(QilijiaError):
    code = "RATE_LIMITED"
    default_message = "操作太频繁，请稍后再试。"

    def __init__(self, message: str | None = None, *, retry_after: int = 60) -> None:
        super().__init__(message or f"操作太频繁，请 {retry_after} 秒后再试。")
        #: seconds until the caller's window turns (`Retry-After`)
        self.retry_after = retry_after


class QueryTooComplexError(QilijiaError):
    code = "QUERY_TOO_COMPLEX"
    default_message = "查询过于复杂，请减少查询的层级或字段。"

    def __init__(self, message: str | None = None, *, cost: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        #: the query's estimated cost and the caller's limit (`extensions.cost`)
        self.cost = cost
        self.limit = limit


class PersistedQueryNotFoundError(QilijiaError):
    """The client sent a document's hash that this server does not know: it resends the text."""

    code = "PERSISTED_QUERY_NOT_FOUND"
    default_message = "服务器尚未保存该查询，请连同查询原文重新发送。"


class UpstreamError(QilijiaError):
    code = "INTERNAL"
    default_message = "外部服务暂时不可用，请稍后再试。"


class UnavailableError(QilijiaError):
    code = "UNAVAILABLE"
    default_message = "服务暂时不可用，请稍后再试。"


#: seconds a client is asked to wait (`Retry-After`) when the database cannot be reached
RETRY_AFTER_SECONDS = 5

#: SQLSTATE classes and codes that mean "the database went away", not "the statement is wrong":
#: connection exceptions, the server shutting down, crashed or still starting, and the server
#: refusing one more connection (too many clients: a moment later there may be room)
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of an error the database raised, from the driver or wrapped by SQLAlchemy."""
    return getattr(error, "sqlstate", None) or getattr(getattr(error, "orig", None), "sqlstate", None)


def database_unreachable(error: BaseException | None) -> bool:
    """Whether an exception (or one it was raised from) says the database cannot be reached."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OSError | sqlalchemy.exc.TimeoutError):
            return True
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNREACHABLE_STATES):
            return True
        if type(error).__name__ == "InterfaceError" and "closed" in str(error):  # asyncpg: no SQLSTATE
            return True
        if type(error).__name__ == "InternalClientError" and "in progress" in str(error):
            # asyncpg, on a pooled connection whose server went away in the middle of an operation
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False

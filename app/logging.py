"""Structured JSON logs, one object a line, each with the request id of the request it belongs to.

Tokens, API keys and WeChat secrets never enter a log line: request headers are not logged, and
httpx (which logs full URLs, WeChat's carry the app secret) is kept at WARNING. Phone numbers are
masked and the values bound to a failed statement dropped, in messages and tracebacks alike.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

#: a mainland mobile number anywhere in a line: kept as 138****0007
_PHONE = re.compile(r"(?<!\d)(?:\+?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
#: the bound parameters SQLAlchemy appends to an error: user text (names, descriptions, comments)
_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s*\(Background|\s*$)", re.S)
#: what asyncpg's errors quote of a row (`DETAIL:  Key (phone)=(…) already exists`)
_DETAIL = re.compile(r"(DETAIL:\s+Key \([^)]*\)=\()([^)]*)(\))")


def scrub(text: str) -> str:
    """A log text without phone numbers in clear and without the values a statement was given."""
    if len(text) < 11:  # too short for a phone number, a statement's values or a key's detail
        return text
    text = _PARAMETERS.sub("[parameters: …]", text)
    text = _DETAIL.sub(r"\1…\3", text)
    return _PHONE.sub(r"\1****\3", text)


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "pid": record.process,
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


#: set by `qilijia serve` for its worker processes, each of which configures its own logging
JSON_LOGS = "QILIJIA_JSON_LOGS"


def configure(level: str = "INFO") -> None:
    # a line says neither the source line, the thread nor the process name: not looked up for
    # every record (an access line is written for every request)
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

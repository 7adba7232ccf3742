"""Messages to people (消息): an in-app inbox that is also the outbox of WeChat subscription
messages (订阅消息).

A message is written in the transaction of the change it tells of, so a rolled-back change sends
nothing and a committed one loses nothing. It is shown in the inbox whatever becomes of it on
WeChat; it is sent through WeChat only when the person has a WeChat account and has consented to
its template (each one-time consent allows exactly one message, taken when the message is written).
Sender workers claim due messages one at a time and mark them SENDING before they call WeChat: a
worker killed in the middle leaves the message SENDING, and it is never sent again (a message
WeChat may have delivered is not risked twice), only marked as unconfirmed after a while.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in


class MessageKind(StrEnum):
    #: my report was accepted, rejected or resolved
    REPORT_STATUS = "REPORT_STATUS"
    #: my Party registration was approved
    REGISTRATION_APPROVED = "REGISTRATION_APPROVED"
    #: a task was given to me (to handle, lead, or work on in its working group)
    TASK_ASSIGNED = "TASK_ASSIGNED"
    #: a vote was announced with its owner roll published, in which I will vote (an owner in its
    #: scope): check my entry before it opens
    VOTE_ANNOUNCED = "VOTE_ANNOUNCED"
    #: a vote opened in which I may vote (an owner of its electorate)
    VOTE_OPENED = "VOTE_OPENED"
    #: a vote in which my household has not voted yet closes within a day
    VOTE_CLOSING = "VOTE_CLOSING"
    #: a vote in which I could vote has closed: passed or not
    VOTE_RESULT = "VOTE_RESULT"
    #: a meeting I am invited to is tomorrow
    MEETING_TOMORROW = "MEETING_TOMORROW"
    #: the volunteer shift I signed up for is tomorrow
    SHIFT_TOMORROW = "SHIFT_TOMORROW"
    #: a task I work on is past its community's service deadline
    TASK_OVERDUE = "TASK_OVERDUE"
    #: the Party members' evaluation period of my community ends within a week
    EVALUATION_CLOSING = "EVALUATION_CLOSING"
    #: a notice marked urgent
    NOTICE_URGENT = "NOTICE_URGENT"


class Delivery(StrEnum):
    #: shown in the inbox only: no WeChat account, no consent, or no template configured
    IN_APP = "IN_APP"
    #: to be sent through WeChat
    PENDING = "PENDING"
    #: claimed by a sender, which is calling WeChat
    SENDING = "SENDING"
    SENT = "SENT"
    #: WeChat refused it for good, or it was retried until giving up
    FAILED = "FAILED"
    #: its answer was lost (a timeout, a sender stopped while sending it): WeChat may or may not
    #: have it, and it is not sent again
    UNCONFIRMED = "UNCONFIRMED"


class ConsentChoice(StrEnum):
    """What `wx.requestSubscribeMessage` answered for one template."""

    ACCEPT = "accept"
    REJECT = "reject"
    BAN = "ban"
    FILTER = "filter"


#: the most one-time consents kept for one template: each allows one message
CONSENTS_MAX = 50
#: the most a message is tried before it is given up
ATTEMPTS_MAX = 6
#: how long a sender may take over one message before it counts as stopped mid-send
SENDING_LEASE = timedelta(minutes=10)
#: WeChat's answers that no retry will change: 43101 the user refused (or used up) the
#: subscription, 40003 the openid is not this mini-program's, 47003 the data do not fit the
#: template, 40037 the template id is wrong
PERMANENT = frozenset({43101, 40003, 47003, 40037})


def backoff(attempts: int) -> timedelta:
    """How long to wait before trying again after `attempts` tries: 30 s, 1, 2, 4, 8 minutes."""
    return timedelta(seconds=30 * 2 ** max(attempts - 1, 0))


#: the longest value of each kind of template field, in characters (WeChat's limits)
FIELD_LIMITS: dict[str, int] = {
    "thing": 20,
    "phrase": 5,
    "name": 10,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "amount": 11,
    "phone_number": 17,
    "car_number": 8,
    "time": 32,
    "date": 32,
}
_FIELD = re.compile(r"([a-z_]+?)(\d+)")


def field_kind(key: str) -> str | None:
    """The kind of a template field from its key (`thing1` → `thing`), or None if unknown."""
    found = _FIELD.fullmatch(key)
    return found[1] if found and found[1] in FIELD_LIMITS else None


def fit(key: str, value: str) -> str:
    """A value as the template field `key` accepts it: cut to WeChat's length for its kind (an
    ellipsis marks a cut `thing`), line breaks flattened, never empty (WeChat refuses empty
    values)."""
    kind = field_kind(key)
    text = " ".join(str(value).split())
    if kind is None:
        return text[:20] or "-"
    limit = FIELD_LIMITS[kind]
    if len(text) > limit:
        text = text[: limit - 1] + "…" if kind == "thing" else text[:limit]
    return text or "-"


#: the values each kind of message offers a template's fields
VALUES: dict[MessageKind, frozenset[str]] = {
    MessageKind.REPORT_STATUS: frozenset({"title", "status", "at", "note", "place"}),
    MessageKind.REGISTRATION_APPROVED: frozenset({"name", "place", "at", "note"}),
    MessageKind.TASK_ASSIGNED: frozenset({"title", "role", "at", "place", "note"}),
    MessageKind.VOTE_ANNOUNCED: frozenset({"title", "place", "at", "note"}),
    MessageKind.VOTE_OPENED: frozenset({"title", "place", "at", "note"}),
    MessageKind.VOTE_CLOSING: frozenset({"title", "place", "at", "note"}),
    MessageKind.VOTE_RESULT: frozenset({"title", "status", "place", "at", "note"}),
    MessageKind.MEETING_TOMORROW: frozenset({"title", "place", "at", "note"}),
    MessageKind.SHIFT_TOMORROW: frozenset({"title", "place", "at", "note"}),
    MessageKind.TASK_OVERDUE: frozenset({"title", "place", "at", "note"}),
    MessageKind.EVALUATION_CLOSING: frozenset({"title", "place", "at", "note"}),
    MessageKind.NOTICE_URGENT: frozenset({"title", "place", "at", "note"}),
}


@dataclass(frozen=True)
class Template:
    """A WeChat subscription-message template as configured: its id, which value fills each of its
    fields (`{"thing1": "title", "phrase2": "status"}`), and the mini-program page it opens."""

    id: str
    fields: dict[str, str]
    page: str | None = None


def template_problem(kind: MessageKind, template: Template) -> str | None:
    """What is wrong with a template configured for a kind of message, or None."""
    for key, source in template.fields.items():
        if field_kind(key) is None:
            return f"{kind.value}: 模板字段 {key} 不是微信订阅消息的字段（如 thing1、phrase2、time3）。"
        if source not in VALUES[kind]:
            return f"{kind.value}: 模板字段 {key} 取值 {source} 不存在，可用：{', '.join(sorted(VALUES[kind]))}。"
    return None if template.id and template.fields else f"{kind.value}: 模板须有 id 和 fields。"


def template_data(fields: dict[str, str], values: dict[str, str]) -> dict[str, dict[str, str]]:
    """WeChat's `data` for a template: each field (`thing1`) given the value it is mapped to
    (`title`), fitted to the field."""
    return {key: {"value": fit(key, values.get(source, ""))} for key, source in fields.items()}


class Notification(SQLModel, table=True):
    __tablename__ = "notification"
    __table_args__ = (
        sa.Index("notification_inbox", "person_id", "created_at", "id"),
        # the senders' queue: only what is still to be sent (or being sent)
        sa.Index(
            "notification_due",
            "next_attempt_at",
            postgresql_where=sa.text("delivery IN ('PENDING', 'SENDING')"),
        ),
        # a reminder (or an event) is told each person once per key, whichever process writes it
        sa.Index(
            "notification_once",
            "person_id",
            "once_key",
            unique=True,
            postgresql_where=sa.text("once_key IS NOT NULL"),
        ),
        sa.CheckConstraint(check_in("kind", MessageKind), name="notification_kind_valid"),
        sa.CheckConstraint(check_in("delivery", Delivery), name="notification_delivery_valid"),
    )
    id: uuid.UUID = uuid_pk()
    person_id: uuid.UUID = fk("person.id", index=False)
    kind: MessageKind = Field(sa_type=sa.Text)
    title: str
    body: str
    #: what it tells of: its node type and id (a Task, a PartyRegistration)
    ref_type: str
    ref_id: uuid.UUID = Field(sa_type=sa.Uuid)
    #: what makes it once-only for its person (`models.reminder_rules`: a vote and its closing
    #: time, a meeting and its time, …); NULL for a message that may repeat
    once_key: str | None = Field(default=None, sa_type=sa.Text)
    read_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    delivery: Delivery = Field(sa_type=sa.Text)
    #: the WeChat template and its data, fitted, as they will be sent
    template_id: str | None = None
    data: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    page: str | None = None
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    #: why it was not delivered (WeChat's errcode and our sentence)
    error: str | None = None
    created_at: datetime = created_at()


class MessageConsent(SQLModel, table=True):
    """How many more messages of a template a person has consented to (one per accept)."""

    __tablename__ = "message_consent"
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    template_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    remaining: int = Field(default=0)
    updated_at: datetime = created_at()

"""When a reminder is due, and the key that makes it once-only for its person.

The job (`resolvers.reminders`) asks the database for the same conditions in SQL, so that it reads
only what is due; the tests hold the two to each other. A key names what the reminder is about and
the time it reminds of: a vote extended, a meeting or a shift moved, reminds again before its new
time, while a job run twice, restarted or run by two processes at once reminds once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from models.evaluation import PeriodKind, period_days, period_name
from models.schedule_rules import CHINA

DAY = timedelta(days=1)
#: an open vote is reminded of in its last day, to owners whose household has not voted yet; a
#: vote that lasts a day or less is not (its opening was the reminder)
VOTE_CLOSING_WITHIN = timedelta(hours=24)
#: tomorrow's meetings and shifts are reminded of from this time of the day before (China time):
#: late enough to be fresh in mind, early enough to plan the evening
EVENING = time(18, 0)
#: the last days of an evaluation period, announced to the community's Party members
EVALUATION_NOTICE = timedelta(days=7)


def vote_closing_due(opened_at: datetime, closes_at: datetime, now: datetime) -> bool:
    """An open vote that lasted longer than a day is reminded of within its last day."""
    return closes_at - opened_at > VOTE_CLOSING_WITHIN and closes_at - VOTE_CLOSING_WITHIN <= now < closes_at


def tomorrow(now: datetime) -> tuple[datetime, datetime] | None:
    """The times [from, until) of the meetings and shifts reminded of now: tomorrow's, China time,
    from 18:00 the day before (so one scheduled later that evening is reminded of at once);
    None before 18:00."""
    local = now.astimezone(CHINA)
    if local.time() < EVENING:
        return None
    starts = datetime.combine(local.date() + DAY, time(0), CHINA)
    return starts, datetime.combine(local.date() + 2 * DAY, time(0), CHINA)


def day_before_due(at: datetime, now: datetime) -> bool:
    """A meeting or a shift at `at` is reminded of now."""
    span = tomorrow(now)
    return span is not None and span[0] <= at < span[1]


def overdue_at(created_at: datetime, service_days: int) -> datetime:
    """When a report passes its community's service deadline (days from the report)."""
    return created_at + timedelta(days=service_days)


def task_overdue(created_at: datetime, service_days: int, now: datetime) -> bool:
    """A task still being worked on is overdue once its deadline has passed."""
    return now >= overdue_at(created_at, service_days)


def evaluation_closing(today: date, kind: PeriodKind) -> tuple[str, date] | None:
    """(the period, its last day) when `today` is among the last days of the current evaluation
    period of a community that evaluates by `kind`, else None."""
    name = period_name(today, kind)
    days = period_days(name, kind)
    assert not isinstance(days, str), "the period of a day is always well written"
    ends = days[1]
    return (name, ends - DAY) if today >= ends - EVALUATION_NOTICE else None


def china_today(now: datetime) -> date:
    return now.astimezone(CHINA).date()


# --- keys: one message per person and key ---------------------------------------------------------

#: how a time is written in a key: UTC to the microsecond (`to_char(… AT TIME ZONE 'UTC', STAMP_SQL)`
#: writes the same in SQL)
STAMP_SQL = 'YYYYMMDD"T"HH24MISS.US"Z"'


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def vote_announced_key(vote_id: uuid.UUID) -> str:
    return f"VOTE_ANNOUNCED:{vote_id}"


def vote_opened_key(vote_id: uuid.UUID) -> str:
    return f"VOTE_OPENED:{vote_id}"


def vote_result_key(vote_id: uuid.UUID) -> str:
    return f"VOTE_RESULT:{vote_id}"


def vote_closing_key(vote_id: uuid.UUID, closes_at: datetime) -> str:
    return f"VOTE_CLOSING:{vote_id}:{stamp(closes_at)}"


def meeting_key(meeting_id: uuid.UUID, held_at: datetime) -> str:
    return f"MEETING_TOMORROW:{meeting_id}:{stamp(held_at)}"


def shift_key(call_id: uuid.UUID, starts_at: datetime) -> str:
    return f"SHIFT_TOMORROW:{call_id}:{stamp(starts_at)}"


def task_overdue_key(task_id: uuid.UUID) -> str:
    return f"TASK_OVERDUE:{task_id}"


def evaluation_key(period: str) -> str:
    """Once per person and period, wherever they are registered when it closes."""
    return f"EVALUATION_CLOSING:{period}"

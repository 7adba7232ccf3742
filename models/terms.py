"""Terms: a home, a role or a team position holds from one day until another.

Nothing that ties a person to a place is ever deleted: it ends. A term begins on `starts_on` and
ends on `ends_on` — the first day on which it no longer holds; ending on its first day says it
never held (a flat sold on 12 May: its seller's
home ends on 12 May and its buyer's begins on it) — or never. Days are Beijing days, the days an
office writes on its papers; whatever reads who someone is reads only the terms in force at the
moment of the request (`in_force`), so a term that ends tomorrow ends tomorrow without anyone
running anything.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from models.schedule_rules import CHINA

#: how far back and ahead a term's days may lie: an office records what happened or will happen
#: this year, not in another century
TERM_PAST = timedelta(days=366 * 30)
TERM_AHEAD = timedelta(days=366)


def today() -> date:
    """Today in Beijing."""
    return datetime.now(CHINA).date()


def today_sql() -> Any:
    """Today in Beijing, as PostgreSQL sees it within the statement."""
    return sa.cast(sa.func.timezone(CHINA.key, sa.func.now()), sa.Date)


def in_force(t: Any) -> Any:
    """The term of this row (a home, a role, a team position) holds today."""
    now = today_sql()
    return sa.and_(t.c.starts_on <= now, sa.or_(t.c.ends_on.is_(None), t.c.ends_on > now))


def term_problem(starts_on: date, ends_on: date | None, *, now: date) -> tuple[str, str] | None:
    """What is wrong with a new term's days, as (field, message), or None."""
    if starts_on < now - TERM_PAST or starts_on > now + TERM_AHEAD:
        return "startsOn", "开始日期不合理，请填写近三十年内、一年以内将来的日期。"
    if ends_on is not None:
        if ends_on <= starts_on:
            return "endsOn", "结束日期必须晚于开始日期。"
        if ends_on > now + TERM_AHEAD:
            return "endsOn", "结束日期最多只能填写一年以内。"
    return None


def end_problem(starts_on: date, ends_on: date | None, new_end: date, *, now: date) -> str | None:
    """Why a term cannot end on `new_end`, or None. An ended term may be ended earlier (a mistake
    corrected), never reopened or made longer: that is a new term. Ending a term on the day it
    begins says it never held (a home recorded by mistake)."""
    if new_end < starts_on:
        return f"结束日期不能早于开始日期（{starts_on:%Y-%m-%d}）。"
    if new_end > now + TERM_AHEAD:
        return "结束日期最多只能填写一年以内。"
    if ends_on is not None and new_end >= ends_on:
        return f"已于 {ends_on:%Y-%m-%d} 结束，不能再延后；如需继续，请新增一段。"
    return None


def holds(starts_on: date, ends_on: date | None, *, on: date) -> bool:
    """`in_force` for one term on one day."""
    return starts_on <= on and (ends_on is None or ends_on > on)


#: the first day an access epoch counts (`models.access`): days since it fit beside the counter
EPOCH_DAY_ZERO = date(2000, 1, 1)

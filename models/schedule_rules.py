"""When a meeting or a volunteer call may still be moved or called off.

A meeting whose minutes are recorded has been held, and a call with a volunteer checked in has been
served: both are history, so they are neither cancelled nor moved. A cancelled one stays on the
record as cancelled and is not revived; a new one is scheduled instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

#: how far ahead a meeting or a call may be (re)scheduled
SCHEDULE_AHEAD = timedelta(days=366)
#: the time residents read: every time in a message is written in it
CHINA = ZoneInfo("Asia/Shanghai")


def shown(at: datetime) -> str:
    """A moment as a message writes it: 2026-12-05 19:30, Beijing time."""
    return f"{at.astimezone(CHINA):%Y-%m-%d %H:%M}"


def shown_span(starts: datetime, ends: datetime) -> str:
    """A shift as a message writes it: the end's date only when it is another day."""
    a, b = starts.astimezone(CHINA), ends.astimezone(CHINA)
    return f"{shown(a)}—{b:%H:%M}" if a.date() == b.date() else f"{shown(a)}—{shown(b)}"


def meeting_change_problem(*, cancelled: bool, minutes_recorded: bool, change: str) -> str | None:
    """Why a meeting cannot be changed (`change`: 取消, 改期), or None."""
    if cancelled:
        return f"这次会议已经取消，不能再{change}。"
    if minutes_recorded:
        return f"这次会议已经记录了会议决定，不能再{change}。"
    return None


def call_change_problem(*, cancelled: bool, checked_in: int, change: str) -> str | None:
    """Why a volunteer call cannot be changed (`change`: 取消, 改期), or None."""
    if cancelled:
        return f"这次接龙已经取消，不能再{change}。"
    if checked_in:
        return f"这次接龙已有 {checked_in} 位志愿者签到，不能再{change}。"
    return None


def _zoned(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


def meeting_time_problem(old: datetime, new: datetime, now: datetime) -> str | None:
    """Why a meeting cannot move from `old` to `new`: the new time lies ahead, within a year, and
    differs from the old one."""
    if not _zoned(new):
        return "会议时间必须带时区，例如 2026-12-05T19:30:00+08:00。"
    if new <= now:
        return "新的会议时间必须晚于现在。"
    if new > now + SCHEDULE_AHEAD:
        return "会议时间不能晚于一年以后。"
    if new == old:
        return "新的会议时间和原定时间相同，无需改期。"
    return None


def call_times_problem(
    old: tuple[datetime, datetime], new: tuple[datetime, datetime], now: datetime
) -> tuple[str, str] | None:
    """Why a call cannot move from `old` to `new` (start, end), as (field, message): the shift
    still ends after now, within a year, and something changes. A shift under way may be
    lengthened, so the start may already have passed."""
    starts, ends = new
    if not _zoned(starts) or not _zoned(ends):
        return "startsAt", "时间必须带时区，例如 2026-12-05T09:00:00+08:00。"
    if ends <= starts:
        return "endsAt", "结束时间必须晚于开始时间。"
    if ends <= now:
        return "endsAt", "结束时间必须晚于现在。"
    if starts > now + SCHEDULE_AHEAD:
        return "startsAt", "开始时间不能晚于一年以后。"
    if new == old:
        return "startsAt", "新的时间和原定时间相同，无需改期。"
    return None

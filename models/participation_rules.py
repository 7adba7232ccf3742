"""What a Party member's participation record adds up to: hours, counts and points (积分).

The points each kind of entry earns are a table kept here, in one place, so that a community can
read (and the project change) the rule without reading any query. Entries are plain data; a
reversing entry carries the negated hours and a count of -1, so sums are the record's net.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from models.party import ParticipationKind


@dataclass(frozen=True)
class Earning:
    """Points per entry, and per hour served."""

    per_entry: Decimal
    per_hour: Decimal = Decimal(0)


#: 积分规则: a meeting attended 2, a volunteer hour 1, a task handled 3, a dispute mediated 5, a
#: team position held during a period (the community's quarter or year) 5
POINTS: Mapping[ParticipationKind, Earning] = {
    ParticipationKind.MEETING: Earning(per_entry=Decimal(2)),
    ParticipationKind.VOLUNTEER: Earning(per_entry=Decimal(0), per_hour=Decimal(1)),
    ParticipationKind.TASK: Earning(per_entry=Decimal(3)),
    ParticipationKind.DISPUTE: Earning(per_entry=Decimal(5)),
    ParticipationKind.POSITION: Earning(per_entry=Decimal(5)),
}
assert set(POINTS) == set(ParticipationKind), "every kind of entry earns something, if nothing"


@dataclass(frozen=True)
class Entry:
    kind: ParticipationKind
    count: int
    hours: Decimal


def points(entry: Entry) -> Decimal:
    """What one entry earns (negative for one that reverses another)."""
    rule = POINTS[entry.kind]
    return (rule.per_entry * entry.count + rule.per_hour * entry.hours).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Summary:
    """A record's totals over a period."""

    hours: Decimal
    meetings: int
    shifts: int
    tasks: int
    disputes: int
    points: Decimal
    #: periods in which a team position was held
    positions: int = 0


def summarize(entries: Iterable[Entry]) -> Summary:
    counts = dict.fromkeys(ParticipationKind, 0)
    hours, total = Decimal(0), Decimal(0)
    for e in entries:
        counts[e.kind] += e.count
        hours += e.hours
        total += points(e)
    return Summary(
        hours=hours.quantize(Decimal("0.01")),
        meetings=counts[ParticipationKind.MEETING],
        shifts=counts[ParticipationKind.VOLUNTEER],
        tasks=counts[ParticipationKind.TASK],
        disputes=counts[ParticipationKind.DISPUTE],
        points=total.quantize(Decimal("0.01")),
        positions=counts[ParticipationKind.POSITION],
    )


def months_between(starts: date, ends: date) -> list[date]:
    """The first day of each month that [starts, ends) touches: a period's months, for a chart."""
    months, month = [], date(starts.year, starts.month, 1)
    while month < ends:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


def by_month(entries: Iterable[tuple[date, Entry]], months: Sequence[date]) -> list[Summary]:
    """Each month's totals, in the order of `months` (first days), from entries dated by the
    (Beijing) day they happened; entries outside those months are left out."""
    grouped: dict[date, list[Entry]] = {m: [] for m in months}
    for day, entry in entries:
        bucket = grouped.get(date(day.year, day.month, 1))
        if bucket is not None:
            bucket.append(entry)
    return [summarize(grouped[m]) for m in months]

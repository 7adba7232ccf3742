"""The points rule of the participation record (积分), without a database."""

from __future__ import annotations

from decimal import Decimal

from models.participation_rules import POINTS, Entry, points, summarize
from models.party import ParticipationKind


def test_the_points_rule() -> None:
    meeting = Entry(ParticipationKind.MEETING, 1, Decimal(0))
    shift = Entry(ParticipationKind.VOLUNTEER, 1, Decimal("2.5"))
    undone = Entry(ParticipationKind.VOLUNTEER, -1, Decimal("-2.5"))
    task = Entry(ParticipationKind.TASK, 1, Decimal(0))
    dispute = Entry(ParticipationKind.DISPUTE, 1, Decimal(0))
    assert [points(e) for e in (meeting, shift, undone, task, dispute)] == [
        Decimal("2.00"),
        Decimal("2.50"),
        Decimal("-2.50"),
        Decimal("3.00"),
        Decimal("5.00"),
    ]
    total = summarize([meeting, shift, shift, undone, task, dispute])
    assert (total.meetings, total.shifts, total.tasks, total.disputes) == (1, 1, 1, 1)
    assert (total.hours, total.points) == (Decimal("2.50"), Decimal("12.50"))
    assert summarize([]).points == Decimal("0.00")


def test_every_kind_has_a_rule() -> None:
    assert set(POINTS) == set(ParticipationKind)

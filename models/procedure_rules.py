"""A compound's rules of procedure (业主大会议事规则) as they bear on its owner votes, and the rules
that depend on them, as plain functions over plain data.

The law (`models.vote_rules`) sets the thresholds; within it, compounds differ in how a vote is
held: whether paper ballots (书面表决票) and written proxies (书面委托) are accepted, which ballot
counts when a household votes both online and on paper, and whether owners who were served but did
not vote are counted with the majority. A compound's rules are versioned and never edited: a vote
records the version it was opened under, and its tally applies that version to the end.

Counting "served but not returned" with the majority (未表决的业主计入已表决的多数意见) was common
in rules adopted under the Property Law. Since the Civil Code (民法典 art. 278 para. 2) a decision
needs owners who take part, and whether a rule may deem the silent to take part is disputed; it is
never the default, and a result reached through it says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from models.vote_rules import Choice, Tally, VoteKind, VoteResult, VoteRule, VoteStatus, counted, explanation

NOTE_MAX = 500
#: the bounds of a result's publication (公示) period, in days
OBJECTION_DAYS = range(1, 61)


class Channel(StrEnum):
    """How a ballot reached the tally."""

    ONLINE = "ONLINE"
    #: a paper ballot, entered by one person and confirmed by a second
    PAPER = "PAPER"


class DoubleVote(StrEnum):
    """Which ballot counts for a household that voted both online and on paper."""

    #: the one cast last (a paper ballot at the time it was handed in)
    LATEST = "LATEST"
    #: the paper ballot, whenever either was cast (signed paper is the stronger evidence)
    PAPER = "PAPER"
    #: the online ballot, whenever either was cast
    ONLINE = "ONLINE"


@dataclass(frozen=True)
class Procedure:
    """One version of a compound's rules of procedure, as far as its votes are concerned. Version 0
    is what applies before a compound records any: the law alone."""

    version: int = 0
    paper_ballots: bool = True
    proxies: bool = True
    double_vote: DoubleVote = DoubleVote.LATEST
    unreturned_with_majority: bool = False
    #: days after the close during which owners may object to the published result (公示)
    objection_days: int = 7
    #: days a vote's owner roll is published before it opens, when it is announced
    roll_days: int = 7
    #: every vote is announced, its roll published for `roll_days`, before it opens (the notice
    #: period a compound's rules may require); otherwise a vote may also open at once
    announcement_required: bool = False


DEFAULT = Procedure()


# --- which ballot counts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """A ballot as the double-vote rule weighs it: its channel, and when it was cast (a paper
    ballot when it was handed in)."""

    channel: Channel
    at: datetime


def preferred_channel(rule: DoubleVote) -> Channel | None:
    """The channel that wins over the other whenever it was cast, or None (the latest wins)."""
    return {DoubleVote.PAPER: Channel.PAPER, DoubleVote.ONLINE: Channel.ONLINE}.get(rule)


def counts(rule: DoubleVote, new: Cast, current: Sequence[Cast]) -> bool:
    """Whether a ballot replaces the ones a head's households hold now (a head: owners with equal
    sets, whose households move together). Within one channel the later replaces the earlier (an
    owner may change their mind until the close); across channels the preferred one wins, or, under
    `LATEST`, again the later. A ballot applies to each of the owner's heads where it counts, and
    is refused only where it counts on none (`unranked_households` in SQL)."""
    preferred = preferred_channel(rule)
    for held in current:
        if preferred is not None and held.channel != new.channel:
            if new.channel != preferred:
                return False
        elif new.at < held.at:
            return False
    return True


def outranked_reason(rule: DoubleVote, new: Channel) -> str:
    """Why a ballot did not count, in the words shown on a household's ballot history."""
    if preferred_channel(rule) not in (None, new):
        held = "书面表决票" if new == Channel.ONLINE else "网上投票"
        return f"按本小区议事规则，同一户既有网上投票又有书面表决票时以{held}为准。"
    return "该户已有时间更晚的投票，按本小区议事规则以最后一次为准。"


# --- served but not returned ----------------------------------------------------------------------


@dataclass(frozen=True)
class Unreturned:
    """Owners served with the vote who did not vote: their area and headcount, and the side they
    were counted with (None when the voters had no majority by both area and headcount)."""

    area: Decimal
    headcount: int
    side: Choice | None


def majority_side(tally: Tally) -> Choice | None:
    """The side holding the majority of those who voted, by area and headcount alike, or None."""
    if tally.agree_area > tally.disagree_area and tally.agree_headcount > tally.disagree_headcount:
        return Choice.AGREE
    if tally.disagree_area > tally.agree_area and tally.disagree_headcount > tally.agree_headcount:
        return Choice.DISAGREE
    return None


def unreturned(procedure: Procedure, tally: Tally, area: Decimal, headcount: int) -> Unreturned | None:
    """What the rules of procedure make of the owners who were served and did not vote: nothing
    (None) unless they count them with the majority."""
    if not procedure.unreturned_with_majority:
        return None
    return Unreturned(area, headcount, majority_side(tally))


def final_tally(tally: Tally, silent: Unreturned | None) -> Tally:
    """The tally a result is decided on: as counted, plus the unreturned with the majority when the
    rules say so and there is one."""
    if silent is None or silent.side is None:
        return tally
    return tally + counted(silent.area, silent.headcount, silent.side)


def result(tally: Tally, rule: VoteRule, silent: Unreturned | None) -> VoteResult:
    return final_tally(tally, silent).result(rule)


# --- recording a version ----------------------------------------------------------------------


def adoption_problem(
    unreturned_with_majority: bool,
    note: str | None,
    objection_days: int = DEFAULT.objection_days,
    roll_days: int = DEFAULT.roll_days,
) -> tuple[str, str] | None:
    """Why a version cannot be recorded as given, as (field, message), or None. Counting the silent
    with the majority is legally disputed: recorded only with the resolution it comes from."""
    if objection_days not in OBJECTION_DAYS:
        return "objectionDays", f"结果公示期为 {OBJECTION_DAYS.start} 到 {OBJECTION_DAYS.stop - 1} 天。"
    if roll_days not in OBJECTION_DAYS:
        return "rollDays", f"业主名册公示期为 {OBJECTION_DAYS.start} 到 {OBJECTION_DAYS.stop - 1} 天。"
    if unreturned_with_majority and not note:
        return (
            "note",
            "“未表决视为同意多数意见”自民法典施行后存在法律争议：如业主大会确已通过此规则，请在说明中写明通过的会议和日期。",
        )
    return None


def basis_problem(first: bool, has_basis: bool, note: str | None) -> tuple[str, str] | None:
    """Why a version cannot be recorded without the owners' vote that adopted it, or None. Rules of
    procedure are the owners' assembly's to make and change (民法典 art. 278): once a compound has
    recorded some, a new version needs a passed vote on them. The first version may be the rules
    adopted before the compound used this system, recorded with where they come from."""
    if has_basis:
        return None
    if not first:
        return (
            "basisVoteId",
            "修改议事规则须经业主大会表决通过：请先发起“制定和修改业主大会议事规则”的表决，通过后以该表决为依据登记新版本。",
        )
    if not note:
        return "note", "首次登记此前通过的议事规则时，请在说明中写明通过的业主大会会议和日期。"
    return None


def immediate_opening_problem(procedure: Procedure) -> str | None:
    """Why a vote cannot open at once under a version of the rules, or None: the rules may require
    every vote to be announced with its owner roll first."""
    if procedure.announcement_required:
        return (
            f"按本小区议事规则（第{procedure.version}版），表决须先发布并公示业主名册至少 {procedure.roll_days} 天："
            "请填写开始时间（opensAt）。"
        )
    return None


# --- a result explained ------------------------------------------------------------------------

DISPUTED = "注意：“未表决视为同意多数意见”自民法典施行后存在法律争议，本结果可能被提出异议。"


def explain(
    tally: Tally,
    rule: VoteRule,
    status: VoteStatus,
    cancel_reason: str | None,
    silent: Unreturned | None,
    version: int,
    *,
    kind: VoteKind = VoteKind.ASSEMBLY,
    affected: int = 0,
    unconsented: Sequence[str] = (),
) -> str | None:
    """`models.vote_rules.explanation`, and, where the rules of procedure counted the owners who did
    not vote, the count as cast, what was added and the result it gave, with the dispute said."""
    works = {"kind": kind, "affected": affected, "unconsented": unconsented}
    plain = explanation(tally, rule, status, cancel_reason, **works)
    if status != VoteStatus.CLOSED or silent is None or plain is None or silent.headcount == 0:
        return plain
    if silent.side is None:
        return (
            f"{plain}本小区议事规则（第{version}版）将已送达但未表决的业主计入多数意见；"
            "本次投票的同意与反对未能在面积和人数上同时占多数，未作计入。"
        )
    side = "同意" if silent.side == Choice.AGREE else "反对"
    counted_in = explanation(final_tally(tally, silent), rule, status, **works)
    return (
        f"按实际投票：{plain}"
        f"按本小区议事规则（第{version}版），已送达但未表决的业主（面积 {silent.area} 平方米，"
        f"{silent.headcount} 人）计入多数意见（{side}）后：{counted_in}{DISPUTED}"
    )

"""The law of owner votes, as plain functions over plain data.

民法典 (Civil Code) art. 278 and the Supreme People's Court interpretation on building
co-ownership (最高人民法院关于审理建筑物区分所有权纠纷案件适用法律若干问题的解释) art. 9:

* Eligible: the households in the vote's scope. **Area** is the sum of their floor areas.
  **Headcount** is one per household, except that households with the same set of owners count as
  one person (one buyer of several units; the developer's unsold units) — interpretation art. 9.
  A household with no recorded owner counts as one head of its own.
* Participation is valid only when the participating owners hold at least 2/3 of the area **and**
  at least 2/3 of the headcount (art. 278 para. 2). Abstentions participate.
* `SPECIAL` matters (art. 278 items 6–8: raising the maintenance fund, rebuilding or renovating
  buildings and their facilities, changing the use of common parts or using them for business)
  pass with at least 3/4 of the participating area **and** 3/4 of the participating headcount;
  `ORDINARY` matters (every other item, using the maintenance fund included) pass with more than
  half of both.
* The opener may make the rule stricter than the matter requires, never looser.

Every comparison is exact: integer headcounts and `Decimal` areas, cross-multiplied, never divided
and never floats. Exactly 2/3 and exactly 3/4 pass; exactly 1/2 fails `ORDINARY`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import get_type_hints


class VoteMatter(StrEnum):
    """民法典 art. 278 para. 1 items 1–9, then anything else."""

    RULES_OF_PROCEDURE = "RULES_OF_PROCEDURE"  # (1) 制定和修改业主大会议事规则
    MANAGEMENT_STATUTE = "MANAGEMENT_STATUTE"  # (2) 制定和修改管理规约
    ELECT_OWNERS_COMMITTEE = "ELECT_OWNERS_COMMITTEE"  # (3) 选举业主委员会或者更换业主委员会成员
    HIRE_OR_FIRE_PROPERTY_SERVICE = "HIRE_OR_FIRE_PROPERTY_SERVICE"  # (4) 选聘和解聘物业服务企业
    USE_MAINTENANCE_FUND = "USE_MAINTENANCE_FUND"  # (5) 使用建筑物及其附属设施的维修资金
    RAISE_MAINTENANCE_FUND = "RAISE_MAINTENANCE_FUND"  # (6) 筹集建筑物及其附属设施的维修资金
    RENOVATE_OR_REBUILD = "RENOVATE_OR_REBUILD"  # (7) 改建、重建建筑物及其附属设施
    CHANGE_USE_OF_COMMON_PARTS = (
        "CHANGE_USE_OF_COMMON_PARTS"  # (8) 改变共有部分的用途或者利用共有部分从事经营活动
    )
    OTHER_MAJOR_MATTER = "OTHER_MAJOR_MATTER"  # (9) 有关共有和共同管理权利的其他重大事项
    OTHER = "OTHER"


class VoteRule(StrEnum):
    ORDINARY = "ORDINARY"
    SPECIAL = "SPECIAL"


class Choice(StrEnum):
    AGREE = "AGREE"
    DISAGREE = "DISAGREE"
    ABSTAIN = "ABSTAIN"


class VoteStatus(StrEnum):
    #: announced with its owner roll published (公示) for checking; opens at `opens_at` once every
    #: objection to the roll is settled
    ANNOUNCED = "ANNOUNCED"
    OPEN = "OPEN"
    CLOSED = "CLOSED"  # the result is final and immutable
    #: stopped without a result (opened by mistake, or withdrawn with a published reason); its
    #: electorate and ballots are kept as they were
    CANCELLED = "CANCELLED"


class VoteResult(StrEnum):
    PASSED = "PASSED"
    REJECTED = "REJECTED"
    INVALID = "INVALID"  # participation below 2/3 of area or headcount


#: art. 278 para. 2: items 6–8 need 3/4 of the participants; everything else a majority.
SPECIAL_MATTERS = frozenset(
    {VoteMatter.RAISE_MAINTENANCE_FUND, VoteMatter.RENOVATE_OR_REBUILD, VoteMatter.CHANGE_USE_OF_COMMON_PARTS}
)
_STRICTNESS = {VoteRule.ORDINARY: 0, VoteRule.SPECIAL: 1}


def minimum_rule(matter: VoteMatter) -> VoteRule:
    return VoteRule.SPECIAL if matter in SPECIAL_MATTERS else VoteRule.ORDINARY


def effective_rule(matter: VoteMatter, requested: VoteRule | None) -> VoteRule | None:
    """The rule a vote uses: the matter's minimum, or a stricter one asked for; None if looser."""
    floor = minimum_rule(matter)
    if requested is None:
        return floor
    return requested if _STRICTNESS[requested] >= _STRICTNESS[floor] else None


@dataclass(frozen=True)
class Eligible:
    """One household of the frozen electorate: its area and its set of owners."""

    household: Hashable
    area: Decimal
    owners: frozenset[Hashable]


def head_of(household: Eligible) -> Hashable:
    """The headcount group a household belongs to: its owner set (a lone head if it has none)."""
    return household.owners if household.owners else ("household", household.household)


def head_key(household: Eligible) -> str:
    """`head_of` as a short text to store with the frozen electorate: equal exactly when the heads
    are (a digest of the sorted owner ids, or of the household when it has no owner)."""
    head = head_of(household)
    if isinstance(head, frozenset):
        canonical = "owners:" + ",".join(sorted(str(owner) for owner in head))
    else:
        canonical = f"household:{household.household}"
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Tally:
    """The count of a vote, by area and by headcount. The one definition of its shape: the stored
    tally row (`models.vote.VoteTally`) and the GraphQL `Tally` are made from these fields."""

    eligible_area: Decimal = field(
        default=Decimal(0), metadata={"description": "表决范围内全部住户的专有部分面积（平方米）。"}
    )
    eligible_headcount: int = field(
        default=0, metadata={"description": "表决范围内的业主人数（业主完全相同的多户只算一人）。"}
    )
    participating_area: Decimal = field(
        default=Decimal(0), metadata={"description": "已参与表决（含弃权）的住户面积。"}
    )
    participating_headcount: int = field(
        default=0, metadata={"description": "已参与表决（含弃权）的业主人数。"}
    )
    agree_area: Decimal = field(default=Decimal(0), metadata={"description": "同意的住户面积。"})
    agree_headcount: int = field(default=0, metadata={"description": "同意的业主人数。"})
    disagree_area: Decimal = field(default=Decimal(0), metadata={"description": "反对的住户面积。"})
    disagree_headcount: int = field(default=0, metadata={"description": "反对的业主人数。"})
    abstain_area: Decimal = field(default=Decimal(0), metadata={"description": "弃权的住户面积。"})
    abstain_headcount: int = field(default=0, metadata={"description": "弃权的业主人数。"})

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Tally)})

    @property
    def participation_met(self) -> bool:
        """Participants hold ≥ 2/3 of the area and ≥ 2/3 of the headcount (art. 278 para. 2)."""
        return PARTICIPATION.met(self)

    def approval_met(self, rule: VoteRule) -> bool:
        """Agreement among the participants, by area and by headcount, as the rule demands."""
        return APPROVAL[rule].met(self)

    def result(self, rule: VoteRule) -> VoteResult:
        if not self.participation_met:
            return VoteResult.INVALID
        return VoteResult.PASSED if self.approval_met(rule) else VoteResult.REJECTED


UNITS = ("area", "headcount")


@dataclass(frozen=True)
class Threshold:
    """`part` reaches `numerator`/`denominator` of `whole`, by area and by headcount alike — at least
    that share, or more than it when `strict` — and `whole` has at least one head. Compared
    cross-multiplied, so exactly 2/3 and exactly 3/4 pass and exactly 1/2 fails a strict majority.

    The law as data: `Tally` applies it here, and the compiled read path writes the same
    comparisons in SQL from the same terms (`terms`)."""

    part: str  # a measure prefix of `Tally`: participating, agree
    whole: str  # eligible, participating
    numerator: int
    denominator: int
    strict: bool

    def terms(self) -> list[tuple[str, str]]:
        """(part measure, whole measure) for each unit: both must reach the share."""
        return [(f"{self.part}_{unit}", f"{self.whole}_{unit}") for unit in UNITS]

    def met(self, tally: Tally) -> bool:
        if getattr(tally, f"{self.whole}_headcount") <= 0:
            return False
        return all(self.met_by(tally, unit) for unit in UNITS)

    def met_by(self, tally: Tally, unit: str) -> bool:
        """The share reached in one unit (`area` or `headcount`)."""
        reached = self.denominator * getattr(tally, f"{self.part}_{unit}")
        needed = self.numerator * getattr(tally, f"{self.whole}_{unit}")
        return reached > needed if self.strict else reached >= needed


#: art. 278 para. 2: participants must hold at least 2/3 of the area and of the headcount
PARTICIPATION = Threshold("participating", "eligible", 2, 3, strict=False)
#: art. 278 para. 2: items 6–8 need 3/4 of the participants; everything else more than half
APPROVAL: dict[VoteRule, Threshold] = {
    VoteRule.SPECIAL: Threshold("agree", "participating", 3, 4, strict=False),
    VoteRule.ORDINARY: Threshold("agree", "participating", 1, 2, strict=True),
}


def counted(area: Decimal, heads: int, choice: Choice | None, sign: int = 1) -> Tally:
    """What `heads` owners holding `area` add to a tally by choosing `choice` (`sign` -1: take away)."""
    if choice is None:
        return Tally()
    a, h = sign * area, sign * heads
    return Tally(
        participating_area=a,
        participating_headcount=h,
        agree_area=a if choice == Choice.AGREE else Decimal(0),
        agree_headcount=h if choice == Choice.AGREE else 0,
        disagree_area=a if choice == Choice.DISAGREE else Decimal(0),
        disagree_headcount=h if choice == Choice.DISAGREE else 0,
        abstain_area=a if choice == Choice.ABSTAIN else Decimal(0),
        abstain_headcount=h if choice == Choice.ABSTAIN else 0,
    )


def electorate_tally(electorate: Sequence[Eligible]) -> Tally:
    """The denominators: fixed when the vote opens."""
    return Tally(
        eligible_area=sum((h.area for h in electorate), Decimal(0)),
        eligible_headcount=len({head_of(h) for h in electorate}),
    )


def recount(electorate: Sequence[Eligible], choices: Mapping[Hashable, Choice]) -> Tally:
    """The tally from scratch: each household's current choice; each head counted once.

    Households of one head always carry the same choice (any owner's ballot covers every household
    of theirs in scope, and all owners of a head own all its households), so a head's choice is
    that of any of its households that voted.
    """
    total = electorate_tally(electorate)
    head_choice: dict[Hashable, Choice] = {}
    for h in electorate:
        choice = choices.get(h.household)
        if choice is not None:
            total += counted(h.area, 0, choice)
            head_choice.setdefault(head_of(h), choice)
    for choice in head_choice.values():
        total += counted(Decimal(0), 1, choice)
    return total


@dataclass(frozen=True)
class HouseholdChange:
    """One household a ballot touches: its area, its head, its choice before and after."""

    area: Decimal
    head: Hashable
    before: Choice | None
    after: Choice


def ballot_delta(changes: Iterable[HouseholdChange]) -> Tally:
    """What a ballot adds to the running tally, so that reading a tally never rescans ballots.

    A ballot covers every household of the caller's heads, so each touched head moves as a whole
    from its previous choice (or none) to the new one.
    """
    delta = Tally()
    heads: dict[Hashable, tuple[Choice | None, Choice]] = {}
    for change in changes:
        delta += counted(change.area, 0, change.before, -1) + counted(change.area, 0, change.after)
        heads.setdefault(change.head, (change.before, change.after))
    for before, after in heads.values():
        delta += counted(Decimal(0), 1, before, -1) + counted(Decimal(0), 1, after)
    return delta


#: The measures of a tally in order, with their types (`Decimal` areas, `int` headcounts).
TALLY_MEASURES: dict[str, type] = {f.name: get_type_hints(Tally)[f.name] for f in fields(Tally)}


def owned_in_scope(electorate: Sequence[Eligible], person: Hashable) -> list[Eligible]:
    """The households a ballot by `person` applies to: every one in scope that they own."""
    return [h for h in electorate if person in h.owners]


# --- corrections: scope, cancellation, extension -------------------------------------------------

#: the longest a vote may run, counted from its opening
LONGEST_VOTE = timedelta(days=366)


def scope_problem(building_ids: Sequence[object] | None, whole_compound: bool) -> tuple[str, str] | None:
    """Why a vote's scope is not explicit, as (field, message), or None. A vote of the whole
    compound must say so: an empty or forgotten building list once opened one by accident."""
    if building_ids is not None and not building_ids:
        return "buildingIds", "请至少选择一栋楼；全小区表决请写明 wholeCompound: true。"
    if whole_compound and building_ids:
        return "wholeCompound", "全小区表决不需要选择楼栋：请只写 wholeCompound: true，或只选择楼栋。"
    if not whole_compound and building_ids is None:
        return (
            "buildingIds",
            "请指明表决范围：选择楼栋（buildingIds），或写明全小区表决（wholeCompound: true）。",
        )
    return None


def cancel_problem(ballots_cast: int, reason: str | None) -> str | None:
    """Before its first ballot a vote opened by mistake is simply withdrawn; once owners have voted,
    only with a reason, published with the vote."""
    if ballots_cast > 0 and not reason:
        return "已有业主投票，撤销表决须写明理由（reason），理由将随表决公布。"
    return None


def extension_problem(closes_at: datetime, new: datetime, opened_at: datetime, now: datetime) -> str | None:
    """A vote's time may be extended, never shortened once open (owners planned by it), and never
    past the longest a vote may run."""
    if new.tzinfo is None:
        return "截止时间必须带时区，例如 2026-12-31T18:00:00+08:00。"
    if closes_at <= now:
        return "表决已经截止，不能再延长。"
    if new <= closes_at:
        return "只能延长表决时间，不能提前截止。"
    if new > opened_at + LONGEST_VOTE:
        return "表决时间自发起起不能超过一年。"
    return None


# --- a result explained ------------------------------------------------------------------------

#: each threshold as the law words it
_SHARE_WORDS = {
    (2, 3, False): ("达到", "三分之二"),
    (3, 4, False): ("达到", "四分之三"),
    (1, 2, True): ("超过", "半数"),
}
_UNIT_WORDS = {"area": "面积", "headcount": "人数"}


def percent(part: Decimal | int, whole: Decimal | int) -> str:
    """A share as a percentage to two places, cut (never rounded up past a threshold it missed)."""
    if not whole:
        return "0.00%"
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return f"{value}%"


def _reached(threshold: Threshold, tally: Tally) -> str:
    verb, share = _SHARE_WORDS[(threshold.numerator, threshold.denominator, threshold.strict)]
    missed = [u for u in UNITS if not threshold.met_by(tally, u)]
    if not missed:
        return f"均{verb}{share}"
    return "、".join(_UNIT_WORDS[u] for u in missed) + f"未{verb}{share}"


def explanation(
    tally: Tally,
    rule: VoteRule,
    status: VoteStatus,
    cancel_reason: str | None = None,
    *,
    kind: VoteKind | None = None,
    affected: int = 0,
    unconsented: Sequence[str] = (),
) -> str | None:
    """A vote's result in plain Chinese, as it is published (公示): the shares taking part and
    agreeing, by area and by headcount, each against the threshold the law sets (art. 278 para. 2),
    for works whether the directly affected households consented, and the conclusion. None while
    the vote is open."""
    if status == VoteStatus.OPEN:
        return None
    if status == VoteStatus.CANCELLED:
        return f"表决已撤销，没有结果：{cancel_reason}" if cancel_reason else "表决已撤销，没有结果。"
    if tally.eligible_headcount <= 0:
        return "表决范围内没有业主，表决不成立。"
    took_part = (
        f"参与表决的业主专有部分面积占 {percent(tally.participating_area, tally.eligible_area)}，"
        f"人数占 {percent(tally.participating_headcount, tally.eligible_headcount)}，"
        f"{_reached(PARTICIPATION, tally)}"
    )
    if not PARTICIPATION.met(tally):
        return f"{took_part}，表决不成立，未通过。"
    approval = APPROVAL[rule]
    agreed = (
        f"同意的面积占参与表决面积的 {percent(tally.agree_area, tally.participating_area)}，"
        f"人数占参与表决人数的 {percent(tally.agree_headcount, tally.participating_headcount)}，"
        f"{_reached(approval, tally)}"
    )
    consent = consent_words(kind or VoteKind.ASSEMBLY, affected, unconsented)
    passed = approval.met(tally) and not (kind == VoteKind.WORKS and unconsented)
    return f"{took_part}；{agreed}。{consent}表决{'通过' if passed else '未通过'}。"


# --- works inside a unit or a building ---------------------------------------------------------


class VoteKind(StrEnum):
    #: a decision of the owners (民法典 art. 278), by the thresholds above
    ASSEMBLY = "ASSEMBLY"
    #: works inside a unit or a building (an elevator, charging piles): decided by the owners of the
    #: unit or building by the same thresholds, and besides, each directly affected household
    #: consents explicitly (openly, apart from its secret ballot: `models.vote.WorksConsent`) and no
    #: objection of the others stays unresolved when the objection window after the result closes
    #: (the cities' rules on adding elevators to existing buildings)
    WORKS = "WORKS"


def works_result(result: VoteResult, kind: VoteKind, unconsented: Sequence[str]) -> VoteResult:
    """The result once the directly affected households are asked: works pass only with each of
    them agreeing (an abstention or no ballot is no consent)."""
    if kind == VoteKind.WORKS and result == VoteResult.PASSED and unconsented:
        return VoteResult.REJECTED
    return result


def consent_words(kind: VoteKind, affected: int, unconsented: Sequence[str]) -> str:
    """What a works vote's result says of the directly affected households ("" for other votes)."""
    if kind != VoteKind.WORKS:
        return ""
    if not unconsented:
        return f"直接受影响的 {affected} 户均已明确同意。"
    return f"直接受影响的住户中 {'、'.join(unconsented)} 未签署同意，工程不能实施。"


class Decision(StrEnum):
    """Where a closed vote's decision stands after its result is published (公示)."""

    #: the objection window is still open
    OBJECTION_WINDOW = "OBJECTION_WINDOW"
    #: the window has closed: the decision stands
    FINAL = "FINAL"
    #: works whose window closed with an objection unresolved: the decision did not take effect
    NOT_EFFECTIVE = "NOT_EFFECTIVE"


def decision(
    kind: VoteKind,
    objection_until: datetime | None,
    unresolved_at_close: int,
    now: datetime,
    result: VoteResult | None = VoteResult.PASSED,
) -> Decision | None:
    """A closed vote's decision: None before its close (no window yet). An objection to an owners'
    decision must be answered but does not suspend it (an owner may still go to court, art. 280);
    works take effect only if none stays unresolved when the window closes."""
    if objection_until is None:
        return None
    if now < objection_until:
        return Decision.OBJECTION_WINDOW
    if kind == VoteKind.WORKS and result == VoteResult.PASSED and unresolved_at_close > 0:
        return Decision.NOT_EFFECTIVE
    return Decision.FINAL


def affected_problem(kind: VoteKind, affected: Sequence[object], whole_compound: bool) -> str | None:
    """Why a vote's directly affected households are not as its kind needs, or None."""
    if kind == VoteKind.WORKS:
        if whole_compound:
            return "单元或楼栋内的工程表决须选择楼栋，不能是全小区表决。"
        if not affected:
            return "请列出直接受影响的住户（affectedHouseholdIds），他们须逐户明确同意。"
    elif affected:
        return "只有单元或楼栋内的工程表决（kind: WORKS）才列出直接受影响的住户。"
    return None


# --- the owner roll published before a vote opens ---------------------------------------------


class ObjectionStage(StrEnum):
    #: to one's own entry of the owner roll published before the vote opens
    ROLL = "ROLL"
    #: to the result published after the close
    RESULT = "RESULT"


class RollIssue(StrEnum):
    """What an owner finds wrong with their entry of the published roll."""

    WRONG_AREA = "WRONG_AREA"
    MISSING_CO_OWNER = "MISSING_CO_OWNER"
    SOLD = "SOLD"
    OTHER = "OTHER"


def announcement_problem(
    opens_at: datetime, closes_at: datetime, now: datetime, roll_days: int
) -> str | None:
    """Why a vote cannot be announced to open at `opens_at`, or None: its roll is published for
    the rules of procedure's period first, and it closes after it opens."""
    if opens_at.tzinfo is None:
        return "开始时间必须带时区，例如 2026-12-31T18:00:00+08:00。"
    if opens_at < now + timedelta(days=roll_days):
        return f"按本小区议事规则，业主名册须公示至少 {roll_days} 天，开始时间不能早于公示期满。"
    if closes_at <= opens_at:
        return "截止时间必须晚于开始时间。"
    if closes_at > opens_at + LONGEST_VOTE:
        return "表决时间自开始起不能超过一年。"
    return None

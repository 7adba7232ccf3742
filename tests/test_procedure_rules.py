"""Rules of procedure as pure functions: which ballot counts for a household that voted twice, and
what counting the owners who did not vote with the majority does to a result and its text."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from models.procedure_rules import (
    DISPUTED,
    Cast,
    Channel,
    DoubleVote,
    Procedure,
    Unreturned,
    adoption_problem,
    basis_problem,
    counts,
    explain,
    final_tally,
    immediate_opening_problem,
    majority_side,
    result,
    unreturned,
)
from models.vote_rules import Choice, Tally, VoteResult, VoteRule, VoteStatus

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
EARLY, LATE = Cast(Channel.PAPER, T0), Cast(Channel.ONLINE, T0 + timedelta(hours=1))


@pytest.mark.parametrize(
    ("rule", "new", "held", "expected"),
    [
        # the latest, whichever channel
        (DoubleVote.LATEST, LATE, [EARLY], True),
        (DoubleVote.LATEST, EARLY, [LATE], False),
        (DoubleVote.LATEST, Cast(Channel.PAPER, T0 + timedelta(hours=2)), [LATE], True),
        # paper first: an online ballot never replaces a paper one; a later paper one does
        (DoubleVote.PAPER, LATE, [EARLY], False),
        (DoubleVote.PAPER, EARLY, [LATE], True),
        (DoubleVote.PAPER, Cast(Channel.PAPER, T0 - timedelta(hours=1)), [EARLY], False),
        (DoubleVote.PAPER, Cast(Channel.ONLINE, T0 + timedelta(hours=2)), [LATE], True),
        # online first, the mirror image
        (DoubleVote.ONLINE, EARLY, [LATE], False),
        (DoubleVote.ONLINE, LATE, [EARLY], True),
        # no ballot yet: anything counts; outranked on one household: counts on none
        (DoubleVote.PAPER, LATE, [], True),
        (DoubleVote.LATEST, LATE, [EARLY, Cast(Channel.ONLINE, T0 + timedelta(hours=3))], False),
    ],
)
def test_which_ballot_counts(rule: DoubleVote, new: Cast, held: list[Cast], expected: bool) -> None:
    assert counts(rule, new, held) is expected


def tally(
    agree: tuple[str, int], disagree: tuple[str, int], eligible: tuple[str, int] = ("1000", 10)
) -> Tally:
    a, d = (Decimal(agree[0]), agree[1]), (Decimal(disagree[0]), disagree[1])
    return Tally(
        eligible_area=Decimal(eligible[0]),
        eligible_headcount=eligible[1],
        participating_area=a[0] + d[0],
        participating_headcount=a[1] + d[1],
        agree_area=a[0],
        agree_headcount=a[1],
        disagree_area=d[0],
        disagree_headcount=d[1],
    )


def test_the_majority_must_hold_by_area_and_headcount_alike() -> None:
    assert majority_side(tally(("300", 3), ("100", 1))) == Choice.AGREE
    assert majority_side(tally(("100", 1), ("300", 3))) == Choice.DISAGREE
    assert majority_side(tally(("300", 1), ("100", 3))) is None  # split: no majority
    assert majority_side(tally(("100", 2), ("100", 1))) is None  # a tie by area


def test_owners_who_did_not_vote_count_only_where_the_rules_say_so() -> None:
    counted = tally(("300", 3), ("100", 1))  # 40% of the area, 4 of 10 heads: too few take part
    assert result(counted, VoteRule.ORDINARY, None) == VoteResult.INVALID
    assert unreturned(Procedure(), counted, Decimal("500"), 5) is None
    silent = unreturned(Procedure(version=2, unreturned_with_majority=True), counted, Decimal("500"), 5)
    assert silent == Unreturned(Decimal("500"), 5, Choice.AGREE)
    final = final_tally(counted, silent)
    assert (final.participating_area, final.participating_headcount) == (Decimal("900"), 9)
    assert (final.agree_area, final.agree_headcount) == (Decimal("800"), 8)
    assert result(counted, VoteRule.SPECIAL, silent) == VoteResult.PASSED
    # no majority among the voters: nothing is added, and the vote stays invalid
    split = tally(("300", 1), ("100", 3))
    silent = unreturned(Procedure(unreturned_with_majority=True), split, Decimal("500"), 5)
    assert silent is not None and silent.side is None
    assert (
        final_tally(split, silent) == split and result(split, VoteRule.ORDINARY, silent) == VoteResult.INVALID
    )


def test_a_result_reached_by_counting_the_silent_says_so_and_that_it_is_disputed() -> None:
    counted = tally(("300", 3), ("100", 1))
    silent = Unreturned(Decimal("500"), 5, Choice.AGREE)
    text = explain(counted, VoteRule.SPECIAL, VoteStatus.CLOSED, None, silent, 2)
    assert text is not None
    assert text.startswith("按实际投票：参与表决的业主专有部分面积占 40.00%，人数占 40.00%")
    assert (
        "按本小区议事规则（第2版），已送达但未表决的业主（面积 500 平方米，5 人）计入多数意见（同意）后"
        in text
    )
    assert "参与表决的业主专有部分面积占 90.00%" in text and text.endswith(DISPUTED)
    plain = explain(counted, VoteRule.SPECIAL, VoteStatus.CLOSED, None, None, 0)
    assert plain is not None and "议事规则" not in plain and plain.endswith("表决不成立，未通过。")
    split = explain(
        tally(("300", 1), ("100", 3)),
        VoteRule.ORDINARY,
        VoteStatus.CLOSED,
        None,
        Unreturned(Decimal(1), 1, None),
        3,
    )
    assert split is not None and "未作计入" in split
    assert explain(counted, VoteRule.SPECIAL, VoteStatus.OPEN, None, silent, 2) is None


def test_counting_the_silent_is_recorded_only_with_its_resolution() -> None:
    assert adoption_problem(True, None) is not None and adoption_problem(True, None)[0] == "note"  # type: ignore[index]
    assert adoption_problem(True, "2026年6月1日业主大会通过") is None
    assert all(adoption_problem(False, note) is None for note in (None, "修改"))


@pytest.mark.parametrize(
    ("first", "has_basis", "note", "field"),
    [
        (True, True, None, None),
        (False, True, None, None),
        (True, False, "2019年5月业主大会通过", None),
        (True, False, None, "note"),
        (False, False, "2026年11月业主大会修改", "basisVoteId"),
        (False, False, None, "basisVoteId"),
    ],
)
def test_a_version_after_the_first_needs_the_owners_vote_that_adopted_it(
    first: bool, has_basis: bool, note: str | None, field: str | None
) -> None:
    problem = basis_problem(first, has_basis, note)
    assert (problem[0] if problem else None) == field


def test_rules_may_require_every_vote_to_be_announced_first() -> None:
    assert immediate_opening_problem(Procedure()) is None
    assert immediate_opening_problem(Procedure(version=2, announcement_required=False)) is None
    said = immediate_opening_problem(Procedure(version=2, roll_days=5, announcement_required=True))
    assert said is not None and "第2版" in said and "5 天" in said and "opensAt" in said


def test_every_rule_lets_a_ballot_replace_an_older_one_of_its_own_channel() -> None:
    for rule, channel in itertools.product(DoubleVote, Channel):
        assert counts(rule, Cast(channel, T0 + timedelta(hours=1)), [Cast(channel, T0)])
        assert not counts(rule, Cast(channel, T0), [Cast(channel, T0 + timedelta(hours=1))])

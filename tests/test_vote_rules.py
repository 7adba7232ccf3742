"""The vote law (models.vote_rules), boundary by boundary, and a property test against a recount."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.vote_rules import (
    Choice,
    Eligible,
    HouseholdChange,
    Tally,
    VoteMatter,
    VoteResult,
    VoteRule,
    ballot_delta,
    effective_rule,
    electorate_tally,
    head_of,
    minimum_rule,
    owned_in_scope,
    recount,
)

D = Decimal


def homes(*areas: str, owners: list[set[str]] | None = None) -> list[Eligible]:
    owner_sets = owners or [{f"p{i}"} for i in range(len(areas))]
    return [
        Eligible(f"h{i}", D(a), frozenset(o)) for i, (a, o) in enumerate(zip(areas, owner_sets, strict=True))
    ]


def t(**kw: object) -> Tally:
    return Tally(**{k: D(v) if k.endswith("area") else v for k, v in kw.items()})  # type: ignore[arg-type]


# --- participation: ≥ 2/3 of area AND ≥ 2/3 of headcount -----------------------------------------


def test_exactly_two_thirds_participation_passes() -> None:
    assert t(
        eligible_area="300", eligible_headcount=3, participating_area="200", participating_headcount=2
    ).participation_met


def test_one_square_metre_less_fails() -> None:
    assert not t(
        eligible_area="300", eligible_headcount=3, participating_area="199.99", participating_headcount=2
    ).participation_met


def test_one_head_less_fails() -> None:
    assert not t(
        eligible_area="300", eligible_headcount=30, participating_area="300", participating_headcount=19
    ).participation_met
    assert t(
        eligible_area="300", eligible_headcount=30, participating_area="300", participating_headcount=20
    ).participation_met


def test_area_met_but_headcount_not_and_the_reverse() -> None:
    area_only = t(
        eligible_area="100", eligible_headcount=10, participating_area="90", participating_headcount=6
    )
    heads_only = t(
        eligible_area="100", eligible_headcount=10, participating_area="60", participating_headcount=9
    )
    assert not area_only.participation_met
    assert not heads_only.participation_met


def test_empty_electorate_never_participates() -> None:
    assert not Tally().participation_met
    assert Tally().result(VoteRule.ORDINARY) == VoteResult.INVALID


# --- approval -----------------------------------------------------------------------------------


def _voted(part_area: str, part_heads: int, agree_area: str, agree_heads: int) -> Tally:
    return t(
        eligible_area=part_area,
        eligible_headcount=part_heads,
        participating_area=part_area,
        participating_headcount=part_heads,
        agree_area=agree_area,
        agree_headcount=agree_heads,
    )


def test_exactly_three_quarters_passes_special() -> None:
    assert _voted("400", 4, "300", 3).approval_met(VoteRule.SPECIAL)
    assert _voted("400", 4, "300", 3).result(VoteRule.SPECIAL) == VoteResult.PASSED


def test_just_below_three_quarters_fails_special() -> None:
    assert not _voted("400", 4, "299.99", 3).approval_met(VoteRule.SPECIAL)
    assert not _voted("400", 40, "400", 29).approval_met(VoteRule.SPECIAL)
    assert _voted("400", 40, "400", 29).result(VoteRule.SPECIAL) == VoteResult.REJECTED


def test_exactly_half_fails_ordinary() -> None:
    assert not _voted("200", 2, "100", 1).approval_met(VoteRule.ORDINARY)
    assert not _voted("200", 4, "150", 2).approval_met(VoteRule.ORDINARY)  # area yes, heads exactly half
    assert _voted("200", 4, "100.01", 3).approval_met(VoteRule.ORDINARY)


def test_approval_needs_both_area_and_heads() -> None:
    assert not _voted("100", 10, "80", 5).approval_met(VoteRule.ORDINARY)
    assert not _voted("100", 10, "40", 9).approval_met(VoteRule.ORDINARY)


def test_all_abstain_participates_but_does_not_pass() -> None:
    electorate = homes("80", "90", "100")
    tally = recount(electorate, {h.household: Choice.ABSTAIN for h in electorate})
    assert tally.participation_met
    assert tally.abstain_headcount == 3 and tally.agree_headcount == 0
    assert tally.result(VoteRule.ORDINARY) == VoteResult.REJECTED


def test_invalid_before_approval() -> None:
    electorate = homes("100", "100", "100")
    assert recount(electorate, {"h0": Choice.AGREE}).result(VoteRule.ORDINARY) == VoteResult.INVALID


# --- headcount groups ---------------------------------------------------------------------------


def test_one_buyer_of_several_units_is_one_head() -> None:
    electorate = homes("89.50", "96.12", "110.00", owners=[{"a"}, {"a"}, {"b"}])
    assert electorate_tally(electorate) == t(eligible_area="295.62", eligible_headcount=2)


def test_developer_unsold_units_are_one_head() -> None:
    electorate = homes("50", "50", "50", "70", owners=[{"dev"}, {"dev"}, {"dev"}, {"x"}])
    assert electorate_tally(electorate).eligible_headcount == 2


def test_co_owners_are_one_head_and_a_household_without_owners_is_its_own() -> None:
    electorate = homes("60", "70", "80", owners=[{"wife", "husband"}, set(), set()])
    assert electorate_tally(electorate).eligible_headcount == 3
    assert head_of(electorate[0]) == frozenset({"wife", "husband"})


def test_multi_unit_owner_ballot_covers_all_their_units() -> None:
    electorate = homes("100", "50", "70", owners=[{"a"}, {"a"}, {"b"}])
    mine = owned_in_scope(electorate, "a")
    assert [h.household for h in mine] == ["h0", "h1"]
    tally = recount(electorate, {h.household: Choice.AGREE for h in mine})
    assert (tally.agree_area, tally.agree_headcount) == (D("150"), 1)
    # 150 of 220 m² is over 2/3 of the area, but 1 of 2 heads is not 2/3 of the headcount
    assert 3 * tally.participating_area >= 2 * tally.eligible_area
    assert (tally.participating_headcount, tally.eligible_headcount) == (1, 2)
    assert not tally.participation_met


# --- rules follow the matter ----------------------------------------------------------------------


@pytest.mark.parametrize("matter", list(VoteMatter))
def test_minimum_rule(matter: VoteMatter) -> None:
    special = {
        VoteMatter.RAISE_MAINTENANCE_FUND,
        VoteMatter.RENOVATE_OR_REBUILD,
        VoteMatter.CHANGE_USE_OF_COMMON_PARTS,
    }
    assert minimum_rule(matter) == (VoteRule.SPECIAL if matter in special else VoteRule.ORDINARY)


def test_rule_may_be_stricter_never_looser() -> None:
    assert effective_rule(VoteMatter.USE_MAINTENANCE_FUND, None) == VoteRule.ORDINARY
    assert effective_rule(VoteMatter.USE_MAINTENANCE_FUND, VoteRule.SPECIAL) == VoteRule.SPECIAL
    assert effective_rule(VoteMatter.RENOVATE_OR_REBUILD, VoteRule.ORDINARY) is None
    assert effective_rule(VoteMatter.RENOVATE_OR_REBUILD, VoteRule.SPECIAL) == VoteRule.SPECIAL


# --- the running tally equals a recount, whatever the order of ballots ---------------------------

PEOPLE = [f"p{i}" for i in range(6)]

electorates = st.lists(
    st.tuples(
        st.decimals(min_value=D("0.01"), max_value=D("300"), places=2),
        st.frozensets(st.sampled_from(PEOPLE), max_size=3),
    ),
    min_size=1,
    max_size=12,
).map(lambda rows: [Eligible(f"h{i}", area, owners) for i, (area, owners) in enumerate(rows)])
ballots = st.lists(st.tuples(st.sampled_from(PEOPLE), st.sampled_from(list(Choice))), max_size=25)


def run(electorate: list[Eligible], cast: list[tuple[str, Choice]]) -> tuple[Tally, dict[str, Choice]]:
    """Apply ballots one by one as the server does; return the running tally and the choices."""
    running = electorate_tally(electorate)
    choices: dict[str, Choice] = {}
    for person, choice in cast:
        mine = owned_in_scope(electorate, person)
        changes = [HouseholdChange(h.area, head_of(h), choices.get(h.household), choice) for h in mine]
        running += ballot_delta(changes)
        for h in mine:
            choices[h.household] = choice
    return running, choices


@settings(max_examples=300, deadline=None)
@given(electorates, ballots, st.randoms(use_true_random=False))
def test_running_tally_equals_recount_in_any_order(electorate: list[Eligible], cast: list, rnd) -> None:
    running, choices = run(electorate, cast)
    assert running == recount(electorate, choices)
    # brute force: count heads by hand
    heads: dict[object, Choice] = {}
    for h in electorate:
        if h.household in choices:
            heads[head_of(h)] = choices[h.household]
    assert running.participating_headcount == len(heads)
    assert running.agree_headcount == sum(1 for c in heads.values() if c == Choice.AGREE)
    assert running.participating_area == sum((h.area for h in electorate if h.household in choices), D(0))
    # the final state does not depend on ballot order once each owner's last ballot is fixed
    last: dict[str, Choice] = {}
    for person, choice in cast:
        last.pop(person, None)
        last[person] = choice
    reordered = list(last.items())
    rnd.shuffle(reordered)
    # replaying only the last ballots, in any order, gives the same tally when no two owners share a
    # household (otherwise the later of two co-owners wins, which is order-dependent by design)
    owner_sets = [h.owners for h in electorate]
    shared = any(len(o) > 1 for o in owner_sets)
    if not shared:
        assert run(electorate, reordered)[0] == running


# --- corrections ---------------------------------------------------------------------------------


def test_a_scope_is_buildings_or_the_whole_compound_said_so() -> None:
    from models.vote_rules import scope_problem

    assert scope_problem(["b1"], False) is None
    assert scope_problem(None, True) is None
    assert scope_problem([], False)[0] == "buildingIds"  # the empty list that once meant everything
    assert scope_problem([], True)[0] == "buildingIds"
    assert scope_problem(None, False)[0] == "buildingIds"
    assert scope_problem(["b1"], True)[0] == "wholeCompound"


def test_a_cancellation_needs_a_reason_once_owners_voted() -> None:
    from models.vote_rules import cancel_problem

    assert cancel_problem(0, None) is None
    assert cancel_problem(0, "开错了") is None
    assert cancel_problem(1, "材料有误") is None
    assert cancel_problem(1, None) and cancel_problem(3, "")


def test_a_vote_is_only_ever_extended_and_within_a_year() -> None:
    from datetime import UTC, datetime, timedelta

    from models.vote_rules import LONGEST_VOTE, extension_problem

    opened = datetime(2026, 12, 1, tzinfo=UTC)
    closes, now = opened + timedelta(days=7), opened + timedelta(days=2)
    assert extension_problem(closes, closes + timedelta(days=1), opened, now) is None
    assert extension_problem(closes, opened + LONGEST_VOTE, opened, now) is None
    assert "提前" in extension_problem(closes, closes, opened, now)
    assert "提前" in extension_problem(closes, closes - timedelta(hours=1), opened, now)
    assert "一年" in extension_problem(closes, opened + LONGEST_VOTE + timedelta(seconds=1), opened, now)
    assert "截止" in extension_problem(closes, closes + timedelta(days=1), opened, closes)
    assert "时区" in extension_problem(closes, datetime(2026, 12, 20), opened, now)


# --- a result explained ------------------------------------------------------------------------


def _tally(**given: object) -> Tally:
    return Tally(**{k: Decimal(v) if k.endswith("_area") else v for k, v in given.items()})  # type: ignore[arg-type]


def test_a_result_is_explained_as_the_law_reads_it() -> None:
    from models.vote_rules import VoteStatus, explanation

    passed = _tally(
        eligible_area=1000,
        eligible_headcount=30,
        participating_area=712,
        participating_headcount=24,
        agree_area=544,
        agree_headcount=18,
    )
    assert explanation(passed, VoteRule.SPECIAL, VoteStatus.CLOSED) == (
        "参与表决的业主专有部分面积占 71.20%，人数占 80.00%，均达到三分之二；"
        "同意的面积占参与表决面积的 76.40%，人数占参与表决人数的 75.00%，均达到四分之三。表决通过。"
    )
    # exactly two thirds take part: reached (the share is cut, never rounded up past a line)
    exactly = _tally(
        eligible_area=3,
        eligible_headcount=3,
        participating_area=2,
        participating_headcount=2,
        agree_area=2,
        agree_headcount=2,
    )
    assert explanation(exactly, VoteRule.ORDINARY, VoteStatus.CLOSED).startswith(
        "参与表决的业主专有部分面积占 66.66%，人数占 66.66%，均达到三分之二；"
    )
    # too few heads: not valid, whatever the area
    few = _tally(
        eligible_area=100,
        eligible_headcount=10,
        participating_area=90,
        participating_headcount=6,
        agree_area=90,
        agree_headcount=6,
    )
    assert explanation(few, VoteRule.ORDINARY, VoteStatus.CLOSED) == (
        "参与表决的业主专有部分面积占 90.00%，人数占 60.00%，人数未达到三分之二，表决不成立，未通过。"
    )
    # exactly half agree: a majority must be more than half
    half = _tally(
        eligible_area=100,
        eligible_headcount=4,
        participating_area=100,
        participating_headcount=4,
        agree_area=50,
        agree_headcount=2,
    )
    assert explanation(half, VoteRule.ORDINARY, VoteStatus.CLOSED).endswith(
        "同意的面积占参与表决面积的 50.00%，人数占参与表决人数的 50.00%，面积、人数未超过半数。表决未通过。"
    )
    assert explanation(passed, VoteRule.SPECIAL, VoteStatus.OPEN) is None
    assert (
        explanation(passed, VoteRule.SPECIAL, VoteStatus.CANCELLED, "事项表述有误")
        == "表决已撤销，没有结果：事项表述有误"
    )
    assert explanation(Tally(), VoteRule.SPECIAL, VoteStatus.CLOSED) == "表决范围内没有业主，表决不成立。"

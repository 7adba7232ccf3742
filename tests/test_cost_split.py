"""The cost split (公示分摊) as pure arithmetic: exact to the fen, summing to what is payable."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.cost_split import (
    AmountError,
    SplitMethod,
    exact_share,
    format_yuan,
    parse_yuan,
    payable,
    split,
    total,
)

D = Decimal


def test_three_households_split_one_hundred_equally() -> None:
    # exact 33.333…: floors 33.33 ×3 = 99.99; the one missing fen goes to the first key (all tie)
    assert split(D("100.00"), [("a", D("80")), ("b", D("90")), ("c", D("100"))], "EQUAL") == {
        "a": D("33.34"),
        "b": D("33.33"),
        "c": D("33.33"),
    }


def test_equal_split_ties_go_by_key_order_not_input_order() -> None:
    assert split(D("100.00"), [("c", D("1")), ("b", D("1")), ("a", D("1"))], SplitMethod.EQUAL) == {
        "a": D("33.34"),
        "b": D("33.33"),
        "c": D("33.33"),
    }


def test_two_missing_fens_go_to_the_first_two_keys() -> None:
    # 0.05 / 3 = 0.01666…: floors 0.01 ×3, two fens missing
    assert split(D("0.05"), [("x", D("1")), ("y", D("1")), ("z", D("1"))], "EQUAL") == {
        "x": D("0.02"),
        "y": D("0.02"),
        "z": D("0.01"),
    }


def test_by_area_the_largest_remainder_gets_the_fen() -> None:
    # 100 × 1/6 = 16.666…, 100 × 2/6 = 33.333…, 100 × 3/6 = 50: floors sum to 99.99
    # remainders (in fens) 0.666…, 0.333…, 0: the missing fen goes to "a"
    assert split(D("100.00"), [("a", D("10.00")), ("b", D("20.00")), ("c", D("30.00"))], "AREA") == {
        "a": D("16.67"),
        "b": D("33.33"),
        "c": D("50.00"),
    }


def test_by_area_beats_key_order_when_remainders_differ() -> None:
    # z has the larger remainder (0.666… fen vs 0.333…), so z gets the fen although "a" < "z"
    assert split(D("1.00"), [("a", D("1")), ("z", D("2"))], "AREA") == {"a": D("0.33"), "z": D("0.67")}


def test_by_area_exact_shares_need_no_rounding() -> None:
    assert split(D("7000.00"), [("6-1-101", D("70.00")), ("6-1-102", D("30.00"))], "AREA") == {
        "6-1-101": D("4900.00"),
        "6-1-102": D("2100.00"),
    }


def test_one_household_pays_everything() -> None:
    assert split(D("1234.56"), [("only", D("89.50"))], "AREA") == {"only": D("1234.56")}
    assert split(D("1234.56"), [("only", D("89.50"))], "EQUAL") == {"only": D("1234.56")}


def test_zero_payable_is_zero_for_everyone() -> None:
    assert split(D("0"), [("a", D("50")), ("b", D("70.25"))], "AREA") == {"a": D("0.00"), "b": D("0.00")}


def test_shares_always_carry_two_places() -> None:
    shares = split(D("10"), [("a", D("1")), ("b", D("1"))], "EQUAL")
    assert [str(v) for v in shares.values()] == ["5.00", "5.00"]


@pytest.mark.parametrize(
    ("payable_amount", "households", "method"),
    [
        (D("-0.01"), [("a", D("1"))], "EQUAL"),  # negative
        (D("1.005"), [("a", D("1"))], "EQUAL"),  # below the fen
        (D("NaN"), [("a", D("1"))], "EQUAL"),
        (D("10"), [], "EQUAL"),  # nobody to pay
        (D("10"), [("a", D("0"))], "AREA"),  # area not positive
        (D("10"), [("a", D("-5"))], "EQUAL"),
        (D("10"), [("a", D("1")), ("a", D("2"))], "AREA"),  # repeated key
        (D("10"), [("a", D("1"))], "HEADCOUNT"),  # unknown method
    ],
)
def test_bad_split_inputs_are_refused(payable_amount: Decimal, households: list, method: str) -> None:
    with pytest.raises(ValueError):
        split(payable_amount, households, method)


# --- money ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1234.50", D("1234.50")), ("5", D("5.00")), ("0.1", D("0.10")), (" 480000.00 ", D("480000.00"))],
)
def test_amounts_parse_to_two_places(text: str, expected: Decimal) -> None:
    value = parse_yuan(text)
    assert value == expected and str(value) == str(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "请填写金额。"),
        ("   ", "请填写金额。"),
        (None, "请填写金额。"),
        ("abc", "金额必须是数字，最多两位小数，例如 1234.50。"),
        ("1e3", "金额必须是数字，最多两位小数，例如 1234.50。"),
        ("1,000", "金额必须是数字，最多两位小数，例如 1234.50。"),
        ("+5", "金额必须是数字，最多两位小数，例如 1234.50。"),
        ("１２３", "金额必须是数字，最多两位小数，例如 1234.50。"),
        ("NaN", "金额必须是数字，最多两位小数，例如 1234.50。"),
        ("Infinity", "金额必须是数字，最多两位小数，例如 1234.50。"),
        ("5.", "金额必须是数字，最多两位小数，例如 1234.50。"),
        ("-5", "金额不能为负数。"),
        ("1.234", "金额最多保留两位小数（精确到分）。"),
        ("0", "金额必须大于 0。"),
        ("0.00", "金额必须大于 0。"),
        ("100000000", "金额必须小于 100,000,000.00 元。"),
        ("99999999.99", None),
    ],
)
def test_bad_amounts_are_refused(text: str | None, message: str | None) -> None:
    if message is None:
        assert parse_yuan(text) == D("99999999.99")
        return
    with pytest.raises(AmountError) as caught:
        parse_yuan(text)
    assert caught.value.message == message


def test_subsidy_may_be_zero_and_unbounded() -> None:
    assert parse_yuan("0", positive=False, limit=None) == D("0.00")
    assert parse_yuan("612000000.00", positive=False, limit=None) == D("612000000.00")


def test_totals_and_payable() -> None:
    assert total([D("480000.00"), D("140000.00")]) == D("620000.00")
    assert total([]) == D("0.00")
    assert payable(D("620000.00"), D("613000.00")) == D("7000.00")
    assert payable(D("10.00"), D("10.00")) == D("0.00")
    with pytest.raises(ValueError):
        payable(D("10.00"), D("10.01"))
    with pytest.raises(ValueError):
        payable(D("10.00"), D("-1"))
    assert format_yuan(D("620000")) == "620,000.00"


# --- properties -----------------------------------------------------------------------------------

fens = st.integers(min_value=0, max_value=10**12)  # up to 10 billion yuan
areas = st.integers(min_value=1, max_value=100_000).map(lambda n: Decimal(n) / 100)  # 0.01 … 1000.00 m²
households = st.lists(areas, min_size=1, max_size=60).map(
    lambda xs: [(f"{i + 1:03d}", area) for i, area in enumerate(xs)]
)


@settings(max_examples=400, deadline=None)
@given(fens, households, st.sampled_from(["EQUAL", "AREA"]), st.randoms(use_true_random=False))
def test_shares_sum_exactly_are_within_a_fen_and_ignore_input_order(
    amount_fens: int, homes: list[tuple[str, Decimal]], method: str, rnd: random.Random
) -> None:
    amount = Decimal(amount_fens) / 100
    shares = split(amount, homes, method)
    assert set(shares) == {key for key, _ in homes}
    assert sum(shares.values(), Decimal(0)) == amount
    for key, _ in homes:
        share = shares[key]
        assert share == share.quantize(Decimal("0.01"))
        assert share >= 0
        assert abs(Fraction(share) - exact_share(amount, homes, method, key)) < Fraction(1, 100)
    shuffled = list(homes)
    rnd.shuffle(shuffled)
    assert split(amount, shuffled, method) == shares


@settings(max_examples=200, deadline=None)
@given(fens, st.lists(areas, min_size=2, max_size=30))
def test_a_larger_area_never_pays_less(amount_fens: int, sizes: list[Decimal]) -> None:
    homes = [(f"{i:03d}", area) for i, area in enumerate(sizes)]
    shares = split(Decimal(amount_fens) / 100, homes, "AREA")
    for key_a, area_a in homes:
        for key_b, area_b in homes:
            if area_a > area_b:
                assert shares[key_a] >= shares[key_b]

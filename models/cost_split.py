"""Cost disclosures (公示) as pure arithmetic: money in yuan, line items, and the split of what the
households pay, exact to the fen (分).

Money is `Decimal` with at most two places, parsed from strings (`"1234.50"`), never a float.

The rounding rule of `split` (what a disclosure promises residents):

1. each household's exact share is `payable × area ÷ total area` (`AREA`) or `payable ÷ n`
   (`EQUAL`), computed exactly as a fraction;
2. it is floored to the fen;
3. the fens still missing (`payable` minus the sum of the floors, always fewer than the number of
   households) are handed out one each to the households with the largest remainders (the part
   cut off in step 2), ties going to the household whose key sorts first.

So the shares always sum to exactly `payable`, each differs from its exact value by less than one
fen, and the result does not depend on the order the households are given in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Protocol, TypeVar

FEN = Decimal("0.01")
#: a single line item must stay below 100 million yuan
LINE_ITEM_LIMIT = Decimal("100000000")


class SplitMethod(StrEnum):
    EQUAL = "EQUAL"  # the same share for every household
    AREA = "AREA"  # in proportion to each household's floor area (专有部分面积)


SPLIT_NAMES = {SplitMethod.EQUAL: "平均", SplitMethod.AREA: "按面积"}


class _Orderable(Hashable, Protocol):
    def __lt__(self, other: object, /) -> bool: ...


K = TypeVar("K", bound=_Orderable)


# --- money ----------------------------------------------------------------------------------------


class AmountError(ValueError):
    """Why a text is not an acceptable amount of money; `message` is fit to show a resident."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


_AMOUNT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


def parse_yuan(
    text: str | None, *, positive: bool = True, limit: Decimal | None = LINE_ITEM_LIMIT
) -> Decimal:
    """An amount in yuan from its decimal text: digits, an optional point and at most two places.

    Refused: empty text, anything else (`"abc"`, `"1e3"`, `"1,000"`, `"+5"`, full-width digits),
    negative amounts, more than two places (`"1.234"`), zero when `positive`, and amounts not below
    `limit`. The result always carries exactly two places (`"5"` → `Decimal("5.00")`).
    """
    cleaned = (text or "").strip()
    if not cleaned:
        raise AmountError("请填写金额。")
    if len(cleaned) > 40 or not _AMOUNT.fullmatch(cleaned):
        raise AmountError("金额必须是数字，最多两位小数，例如 1234.50。")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise AmountError("金额必须是数字，最多两位小数，例如 1234.50。") from None
    if value < 0:
        raise AmountError("金额不能为负数。")
    if "." in cleaned and len(cleaned.rpartition(".")[2]) > 2:
        raise AmountError("金额最多保留两位小数（精确到分）。")
    if positive and value == 0:
        raise AmountError("金额必须大于 0。")
    if limit is not None and value >= limit:
        raise AmountError(f"金额必须小于 {format_yuan(limit)} 元。")
    return value.quantize(FEN)


def total(amounts: Iterable[Decimal]) -> Decimal:
    """The sum of amounts (line items), exact, with two places."""
    return sum((Decimal(a) for a in amounts), Decimal(0)).quantize(FEN)


def payable(total_amount: Decimal, subsidy: Decimal) -> Decimal:
    """What the households pay between them: the total less the subsidy (0 ≤ subsidy ≤ total)."""
    if subsidy < 0:
        raise ValueError("subsidy must not be negative")
    if subsidy > total_amount:
        raise ValueError("subsidy must not exceed the total")
    return (total_amount - subsidy).quantize(FEN)


def format_yuan(amount: Decimal) -> str:
    """`Decimal("620000")` → `"620,000.00"`, for texts shown to residents."""
    return f"{Decimal(amount).quantize(FEN):,}"


# --- the split ------------------------------------------------------------------------------------


def _is_fen_exact(amount: Decimal) -> bool:
    return amount.is_finite() and amount == amount.quantize(FEN)


def split(
    payable_amount: Decimal, households: Sequence[tuple[K, Decimal]], method: SplitMethod | str
) -> dict[K, Decimal]:
    """Each household's share of `payable_amount`, exact to the fen, by the rule in the module
    docstring. `households` are `(key, floor area)` pairs; keys must be distinct and orderable.

    Raises `ValueError` for a negative or sub-fen `payable_amount`, no households, a repeated key,
    an area that is not positive, or an unknown method.
    """
    method = SplitMethod(method)
    payable_amount = Decimal(payable_amount)
    if not _is_fen_exact(payable_amount):
        raise ValueError("payable must be a finite amount with at most two decimal places")
    if payable_amount < 0:
        raise ValueError("payable must not be negative")
    if not households:
        raise ValueError("at least one household is needed")
    keys = [key for key, _ in households]
    if len(set(keys)) != len(keys):
        raise ValueError("household keys must be distinct")
    for _, area in households:
        area = Decimal(area)
        if not area.is_finite() or area <= 0:
            raise ValueError("every household's area must be positive")

    weights = {
        key: Fraction(Decimal(area)) if method == SplitMethod.AREA else Fraction(1)
        for key, area in households
    }
    weight_sum = sum(weights.values(), Fraction(0))
    payable_fens = int(payable_amount * 100)
    floors: dict[K, int] = {}
    remainders: dict[K, Fraction] = {}
    for key, weight in weights.items():
        exact_fens = payable_fens * weight / weight_sum
        floors[key] = math.floor(exact_fens)
        remainders[key] = exact_fens - floors[key]
    missing = payable_fens - sum(floors.values())
    assert 0 <= missing < len(floors)
    for key in sorted(floors, key=lambda k: (-remainders[k], k))[:missing]:
        floors[key] += 1
    return {key: (Decimal(fens) / 100).quantize(FEN) for key, fens in floors.items()}


def exact_share(
    payable_amount: Decimal, households: Sequence[tuple[K, Decimal]], method: SplitMethod | str, key: K
) -> Fraction:
    """A household's exact (unrounded) share, in yuan, for checking a split."""
    method = SplitMethod(method)
    weights = {k: Fraction(Decimal(a)) if method == SplitMethod.AREA else Fraction(1) for k, a in households}
    return Fraction(Decimal(payable_amount)) * weights[key] / sum(weights.values(), Fraction(0))

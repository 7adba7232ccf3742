"""The pure parts of the evaluation export: verification codes as people type them, file names, and
a record split by month for the chart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from models.evaluation_export import ALPHABET, CODE_SYMBOLS, file_stem, new_code, normalize_code
from models.participation_rules import Entry, by_month, months_between
from models.party import ParticipationKind


def test_a_new_code_reads_back_as_itself() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert normalize_code(code) == code
        assert len(code.replace("-", "")) == 3 + CODE_SYMBOLS


@given(st.text(alphabet=ALPHABET, min_size=CODE_SYMBOLS, max_size=CODE_SYMBOLS))
def test_what_people_type_for_a_code_is_forgiven(symbols: str) -> None:
    code = "QLJ-" + "-".join(symbols[i : i + 4] for i in range(0, CODE_SYMBOLS, 4))
    typed = [
        code.lower(),
        code.replace("-", ""),
        code.replace("-", " "),
        code[4:],
        code.replace("0", "O").replace("1", "I"),
        f"  {code}\u3000",
    ]
    for variant in typed:
        assert normalize_code(variant) == code, variant


def test_what_cannot_be_a_code_is_refused() -> None:
    for text in (
        "",
        "QLJ-",
        "QLJ-ABCD-EFGH-JKMN",
        "QLJ-ABCD-EFGH-JKMN-PQRS-T",
        "QLJ-ABCD-EFGH-JKMN-PQRU",
        "校验码",
        "x" * 500,
    ):
        assert normalize_code(text) is None, text


def test_file_names_are_safe_on_any_disk() -> None:
    assert file_stem("2026Q4", "綦江区科技局机关党支部") == "2026Q4-綦江区科技局机关党支部"
    assert file_stem("2026", "../某公司/党委 ") == "2026-___某公司_党委"
    assert file_stem("2026", "  ") == "2026-党组织"
    assert len(file_stem("2026Q4", "长" * 300)) == len("2026Q4-") + 60


def test_a_period_splits_into_its_months() -> None:
    assert months_between(date(2026, 10, 1), date(2027, 1, 1)) == [
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 12, 1),
    ]
    assert len(months_between(date(2026, 1, 1), date(2027, 1, 1))) == 12
    assert months_between(date(2026, 1, 15), date(2026, 2, 2)) == [date(2026, 1, 1), date(2026, 2, 1)]


def test_a_record_by_month_adds_up_to_its_totals() -> None:
    months = months_between(date(2026, 10, 1), date(2027, 1, 1))
    meeting = Entry(ParticipationKind.MEETING, 1, Decimal(0))
    shift = Entry(ParticipationKind.VOLUNTEER, 1, Decimal("2.5"))
    reversed_meeting = Entry(ParticipationKind.MEETING, -1, Decimal(0))
    entries = [
        (date(2026, 10, 3), meeting),
        (date(2026, 10, 31), shift),
        (date(2026, 12, 1), meeting),
        (date(2026, 12, 20), reversed_meeting),
        (date(2027, 1, 1), meeting),  # after the period: left out
    ]
    october, november, december = by_month(entries, months)
    assert (october.meetings, october.shifts, october.hours, october.points) == (
        1,
        1,
        Decimal("2.50"),
        Decimal("4.50"),
    )
    assert (november.meetings, november.points) == (0, Decimal("0.00"))
    assert (december.meetings, december.points) == (0, Decimal("0.00"))

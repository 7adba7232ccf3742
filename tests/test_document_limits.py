"""Document limits measured in time linear in the text: fragment bombs, repeated fields, aliases
and directives are refused with one error before validation and before any SQL."""

from __future__ import annotations

import time

import pytest
from graphql import parse, specified_rules

from schema import schema
from schema.limits import MAX_FIELDS, MAX_REPEATS, checked, problem
from tests.conftest import Api, counting_statements
from tests.test_hardening import only_error


def bomb(n: int) -> str:
    """Each fragment spreads the next twice: 2**n fields once spread, from about 40·n bytes."""
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n))
    return f"query {{ ...F0 }} {fragments} fragment F{n} on Query {{ __typename }}"


def deep_bomb(n: int) -> str:
    """Two different fields at each level, both holding the next level: no field repeats, the
    tree doubles with every level, and the depth limit is what stops it."""
    fragments = " ".join(
        f"fragment F{i} on Compound {{ buildings(first: 1) {{ edges {{ node {{ compound {{ ...F{i + 1} }} }} }} }}"
        f" tasks(first: 1) {{ edges {{ node {{ compound {{ ...F{i + 1} }} }} }} }} }}"
        for i in range(n)
    )
    return f"{{ compounds(first: 1) {{ edges {{ node {{ ...F0 }} }} }} }} {fragments} fragment F{n} on Compound {{ name }}"


def spread_repeats(k: int) -> str:
    """k fragments that each repeat one field: k·5 copies side by side once spread."""
    fields = " ".join(["__typename"] * 5)
    spreads = " ".join(f"...R{i}" for i in range(k))
    fragments = " ".join(f"fragment R{i} on Query {{ {fields} }}" for i in range(k))
    return f"{{ {spreads} }} {fragments}"


def timed(document: str) -> tuple[float, list]:
    """The best of three fresh checks: the work the check does, not a pause of the test process
    (a garbage collection, the other test worker on the same core)."""
    runs = []
    for _ in range(3):
        parsed = parse(document)
        started = time.perf_counter()
        # uncached: `checked` caches per document, and equal documents hash alike
        errors = checked.__wrapped__(schema._schema, parsed, tuple(specified_rules))
        runs.append((time.perf_counter() - started, errors))
    return min(runs, key=lambda run: run[0])


@pytest.mark.parametrize("n", [10, 20, 30, 45])
def test_a_fragment_bomb_is_refused_in_milliseconds(n: int) -> None:
    seconds, errors = timed(bomb(n))
    assert [e.extensions["code"] for e in errors] == ["QUERY_TOO_COMPLEX"]
    assert seconds < 0.05, seconds


@pytest.mark.parametrize("make", [bomb, deep_bomb])
def test_bombs_at_growing_sizes_cost_the_same(make) -> None:
    seconds = [timed(make(n))[0] for n in (8, 16, 32, 64)]
    assert all(s < 0.05 for s in seconds), seconds
    assert all(problem(parse(make(n))) is not None for n in (8, 64))


def test_fields_repeated_through_fragments_are_counted_once_spread() -> None:
    within = spread_repeats(MAX_REPEATS // 5)
    assert problem(parse(within)) is None
    seconds, errors = timed(spread_repeats(100))
    assert [e.extensions["code"] for e in errors] == ["QUERY_TOO_COMPLEX"]
    assert seconds < 0.05, seconds


def test_expanded_size_is_capped() -> None:
    # MAX_FIELDS fields of distinct names once spread: aliases are capped first, so spread a
    # fragment of plain fields: each level doubles it
    levels = (MAX_FIELDS).bit_length() + 1
    assert problem(parse(bomb(levels))) is not None


def test_cyclic_and_unknown_fragments_are_left_to_validation() -> None:
    for document in (
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        "{ ...Missing }",
    ):
        assert problem(parse(document)) is None
        errors = checked(schema._schema, parse(document), tuple(specified_rules))
        assert errors and all("code" not in (e.extensions or {}) for e in errors)


async def test_over_http_a_bomb_gets_one_error_and_runs_no_sql(api: Api) -> None:
    with counting_statements(api.app) as counted:
        for document in (bomb(40), deep_bomb(20), spread_repeats(60)):
            only_error(await api.gql(document), "QUERY_TOO_COMPLEX")
    assert counted.count == 0


async def test_a_directive_repeated_ten_times_is_one_error(api: Api) -> None:
    body = await api.gql("{ __typename " + "@aa " * 10 + "}")
    error = only_error(body, "BAD_USER_INPUT")
    assert "@aa" in error["extensions"]["detail"]
    only_error(await api.gql("{ __typename @skip(if: false) @skip(if: false) }"), "BAD_USER_INPUT")


async def test_a_document_within_the_limits_still_runs(api: Api) -> None:
    assert await api.data("{ ...A } fragment A on Query { a: __typename b: __typename }") == {
        "a": "Query",
        "b": "Query",
    }
    assert await api.data("{ __typename @include(if: true) }") == {"__typename": "Query"}

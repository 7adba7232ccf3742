"""Every edge obeys the object check on a generated world (`tests.worlds`): the crawl of
`tests.test_edges` for the holders of every role and position of a world with three compounds and
a few residents. Apart from the demo's crawl so that the two run side by side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import _clone, import_into, parse, running_api, token_for
from tests.test_edges import World, _probes, crawl
from tests.worlds import generate

pytestmark = pytest.mark.asyncio(loop_scope="module")


def office_holders(document: dict[str, Any], *, per_kind: int) -> list[str]:
    """The phones of the first `per_kind` holders of each role and each position (of different
    compounds where there are several): every way of standing in the world, not every person."""
    chosen: dict[str, dict[str | None, str]] = {}  # kind → compound → phone
    for entry in [*document["roles"], *document["positions"]]:
        kind, compound = entry.get("role") or entry["position"], entry.get("compound")
        held = chosen.setdefault(kind, {})
        if len(held) < per_kind and compound not in held:
            held[compound] = entry["phone"]
    return sorted({phone for held in chosen.values() for phone in held.values()})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def generated(pg_url: str, template_db: str) -> AsyncIterator[World]:
    clone = _clone(pg_url, template_db)
    url = next(clone)
    try:
        document = generate(compounds=3, buildings=2, floors=3, seed=11)
        await import_into(url, parse(document))
        phones = office_holders(document, per_kind=2)
        residents = [p["phone"] for p in document["people"] if p["homes"] and p["phone"] not in phones][:4]
        personas = {
            phone: {"Authorization": f"Bearer {await token_for(url, phone)}"} for phone in phones + residents
        }
        async with running_api(url) as api:
            yield World(api, url, personas, await _probes(url))
    finally:
        next(clone, None)


async def test_generated_edges_answer_what_node_answers(generated: World) -> None:
    problems = []
    for phone, headers in generated.personas.items():
        problems += [f"{phone}: {p}" for p in await crawl(generated.api, headers, generated.probes)]
    assert problems == []

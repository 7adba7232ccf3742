"""Dataloaders shared by many fields of one answer: a field graphql-core cancels (a sibling's error
ended its non-null parent) must not cancel the answer another field, still wanted, awaits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from strawberry.dataloader import DataLoader

from resolvers.loaders import Loader


async def _field(answer: Awaitable[int]) -> int:
    """A resolver awaiting a loader, as graphql-core runs it: in a task of its own."""
    return await answer


async def _two_fields_one_cancelled(kind: type[DataLoader[int, int]]) -> asyncio.Task[int]:
    started, release = asyncio.Event(), asyncio.Event()

    async def load(keys: list[int]) -> list[int]:
        started.set()
        await release.wait()
        return [k * 2 for k in keys]

    loader = kind(load_fn=load)
    cancelled = asyncio.create_task(_field(loader.load(21)))
    wanted = asyncio.create_task(_field(loader.load(21)))
    await started.wait()
    cancelled.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    return wanted


async def test_a_cancelled_field_leaves_the_shared_answer_to_the_others() -> None:
    wanted = await _two_fields_one_cancelled(Loader)
    assert await wanted == 42


async def test_without_the_shield_the_other_field_would_be_cancelled_too() -> None:
    wanted = await _two_fields_one_cancelled(DataLoader)
    with pytest.raises(asyncio.CancelledError):
        await wanted

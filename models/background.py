"""Work a server process repeats in the background while it runs (the periodic jobs, the audit's
reveal records, the rate windows told to Redis): one loop, stopped the same way by each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable


@contextlib.asynccontextmanager
async def repeating(
    step: Callable[[], Awaitable[object]], every: float, *, name: str, last: bool = False
) -> AsyncIterator[None]:
    """Run `step` every `every` seconds while inside (a failing step must handle its own errors);
    on the way out the loop is cancelled and, with `last`, `step` runs once more, so that nothing
    noted before a clean shutdown is lost."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            await step()

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if last:
            await step()

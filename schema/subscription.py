"""Live updates over `graphql-transport-ws`: each event re-reads its data through the policy."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from auth.policy import require_authenticated
from models.errors import UpstreamError
from resolvers import task as task_resolvers
from resolvers import vote as vote_resolvers
from resolvers.context import Context
from resolvers.ids import decode
from schema.task import TaskEvent
from schema.vote import Tally


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="表决的实时计票：先推送当前计票，此后每收到一票推送一次，结束时推送最终计票。"
    )
    async def vote_tally(
        self, info: Info[Context, None], vote_id: strawberry.ID
    ) -> AsyncGenerator[Tally, None]:
        ctx = info.context
        require_authenticated(ctx.principal)
        _, ident = decode(vote_id, "Vote")
        row = await vote_resolvers.vote(ctx, vote_id=ident)
        broker = ctx.services.broker
        if broker is None:
            raise UpstreamError("实时推送暂时不可用，请稍后再试。")
        async with broker.subscribe(vote_resolvers.topic(ident)) as events:
            yield Tally.from_view(await vote_resolvers.tally(ctx, row))
            while row.status == "OPEN":
                await events.get()
                ctx.loaders.vote.clear(ident)
                row = await vote_resolvers.vote(ctx, vote_id=ident)
                yield Tally.from_view(await vote_resolvers.tally(ctx, row))

    @strawberry.subscription(description="事项时间线上的新记录：订阅之后发生的每一条，按先后推送。")
    async def task_events(
        self,
        info: Info[Context, None],
        task_id: strawberry.ID,
        after_event_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[TaskEvent, None]:
        """With `afterEventId` (the last timeline event the client has), events after it are sent
        first, so nothing made between reading the timeline and subscribing is missed."""
        ctx = info.context
        require_authenticated(ctx.principal)
        _, ident = decode(task_id, "Task")
        task = await task_resolvers.get(ctx, task_id=ident)
        broker = ctx.services.broker
        if broker is None:
            raise UpstreamError("实时推送暂时不可用，请稍后再试。")
        if after_event_id is not None:
            last = await task_resolvers.seq_of(ctx, task, decode(after_event_id, "TaskEvent")[1])
        else:
            last = task_resolvers.last_seq(await ctx.loaders.last_event.load(ident))
        async with broker.subscribe(task_resolvers.topic(ident)) as events:
            while True:
                # catch up first: anything committed before the listener was in place
                for event in await task_resolvers.events_after(ctx, task, last):
                    last = event.seq or last
                    yield TaskEvent.from_row(event)
                await events.get()
                ctx.loaders.task.clear(ident)
                ctx.loaders.task_members.clear(ident)
                task = await task_resolvers.get(ctx, task_id=ident)  # still allowed to see it?

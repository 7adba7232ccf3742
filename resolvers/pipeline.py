"""The one way a mutation runs: lock the object once, check the policy, apply the rule, write,
append the event, notify.

A mutation declares what it acts on (a `Target`), the policy action it needs, and a function that
applies its rule and writes; `run` does the rest in one transaction:

    load the row FOR UPDATE, with its policy facts read in the same statement
      → not there, or not visible to the caller: the one not-visible answer
      → the policy denies the action: the sentence the policy table gives
      → the task is finished and the mutation needs an open one: CONFLICT
      → apply (validates against the locked state, writes)
      → its event appended to the task's timeline, its topics notified
      → a privileged action (`resolvers.audit.AUDITED`) appended to the audit trail

so a failed mutation writes nothing, and of two racing ones the second sees the first's result.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from auth.bindings import facts_columns
from auth.budget import client_address
from auth.facts import TaskFacts
from auth.policy import (
    Action,
    Resource,
    asks_collections,
    binding,
    facts_type,
    not_visible,
    params,
    refusal,
    require,
    require_person,
    shape,
    standing,
    where,
)
from auth.principal import PersonPrincipal
from models.access import current_epoch
from models.errors import ConflictError, database_unreachable
from models.place import Compound
from models.task import Task, TaskEvent
from models.task_rules import EventKind, Standing, TaskStatus, finished_message
from resolvers import audit
from resolvers.context import Context
from resolvers.events import notify

R = TypeVar("R")
T = TypeVar("T")


def task_topic(task_id: uuid.UUID) -> str:
    return f"task:{task_id}"


@dataclass(frozen=True)
class Target(Generic[R]):
    """What a mutation acts on: rows of `model`, judged by the policy as `resource`.

    `task_of` names the column of a task's child (a meeting, a volunteer call) that leads to its
    task: the child is locked, its task's facts decide, and events go to that task's timeline."""

    resource: Resource
    model: type[R]
    task_of: str | None = None
    lock: bool = True
    #: more of what the mutation needs, read (and locked, if it says so) in the same statement:
    #: labelled columns, with the parameters `target_id` (the row) and `facts_person` (the
    #: caller), read back as `Work.state`
    state: Callable[[], list[Any]] | None = None


@dataclass(frozen=True)
class Event:
    kind: EventKind
    payload: dict[str, Any] = field(default_factory=dict)
    #: the standing to record; by default the caller's on the task, as the policy judges it
    role: Standing | None = None


@dataclass(frozen=True)
class Outcome(Generic[T]):
    result: T
    event: Event | None = None
    topics: tuple[str, ...] = ()
    #: what the audit record of an audited action says besides who did what to which object
    detail: dict[str, Any] | None = None


@dataclass
class Work(Generic[R]):
    """What `apply` is given: the locked row, its facts, and the transaction to write in."""

    ctx: Context
    session: AsyncSession
    who: PersonPrincipal
    row: R
    facts: Any
    #: the task whose timeline records the change (the row itself, or its parent task's id)
    task_id: uuid.UUID | None
    #: the compound the row belongs to (None for a grid or a community: an appointment there)
    compound_id: uuid.UUID | None
    #: the target's `state` columns, by label
    state: Any = None
    #: the driver's (asyncpg's) connection of a mutation run on the driver (`run_on_driver`),
    #: whose `session` is None: its one write is a statement of its own, sent as it is
    driver: Any = None

    async def fetchrow(self, sql: str, *values: Any) -> Mapping[str, Any] | None:
        """One row of SQL text (asyncpg's `$1`, `$2`… parameters) by column name: on the driver's
        connection, else in the session's transaction (`models.errors.sqlstate` reads a refusal of
        either)."""
        if self.driver is not None:
            return await on_driver(self.driver, sql, *values)
        found = (await (await self.session.connection()).exec_driver_sql(sql, values)).first()
        return None if found is None else found._mapping


async def on_driver(connection: Any, sql: str, *values: Any) -> Any:
    """One statement of SQL text on a driver's (asyncpg's) connection: its first row, or None.
    Every statement the driver path sends passes here."""
    return await connection.fetchrow(sql, *values)


async def load(
    session: AsyncSession,
    target: Target[R],
    ident: uuid.UUID,
    who: PersonPrincipal,
    action: Action | None = None,
) -> tuple[R, Any, Any] | None:
    """The row, its policy facts and the target's `state` in one statement, the row locked (FOR NO
    KEY UPDATE) when the target says so. Where the policy's rules for `action` ask about
    collections of other objects (`auth.policy.asks_collections`), it also reads whether the caller
    may read the row (`may_read`) and do `action` to it (`may_act`), in SQL."""
    statement, build = _loader(target)
    values: dict[str, Any] = {"target_id": ident, "facts_person": who.person_id}
    if action is not None and asks_collections(target.resource, action):
        statement = _judged(target, action, who)
        values |= params(who)
    found = (await session.execute(statement, values)).first()
    if found is None:
        return None
    return found[0], build(found._mapping), found._mapping


_JUDGED: dict[tuple[Any, ...], Any] = {}
#: the most statements kept (targets × actions × shapes of caller seen)
JUDGED_MAX = 2_000


def _judged(target: Target[Any], action: Action, who: PersonPrincipal) -> Any:
    """A target's load statement with the policy's answers as columns, built once per shape of
    caller (the rules' SQL depends on it; the caller's ids are parameters)."""
    key = (target, action, shape(who))
    found = _JUDGED.get(key)
    if found is None:
        if len(_JUDGED) > JUDGED_MAX:
            _JUDGED.clear()
        table = target.model.__table__
        statement, _ = _loader(target)
        found = _JUDGED[key] = statement.add_columns(
            where(who, target.resource, Action.READ, table).label("may_read"),
            where(who, target.resource, action, table).label("may_act"),
        )
    return found


@functools.cache
def _loader(target: Target[Any]) -> tuple[Any, Callable[[Any], Any]]:
    """A target's load statement, built once (the row and the caller are parameters)."""
    model: Any = target.model
    table = model.__table__
    if target.task_of is None:
        judged, source = table, table
    else:
        judged = Task.__table__.alias("judged_task")
        source = table.join(judged, judged.c.id == table.c[target.task_of])
    columns, build = facts_columns(
        facts_type(target.resource),
        binding(target.resource, judged),
        person_id=sa.bindparam("facts_person", type_=sa.Uuid),
    )
    state = target.state() if target.state is not None else []
    statement = (
        sa.select(model, *columns, *state)
        .select_from(source)
        .where(table.c.id == sa.bindparam("target_id", type_=sa.Uuid))
    )
    if target.lock:
        # NO KEY UPDATE: a mutation changes the row, never its key, so rows referring to it by key
        # (a ballot to its vote, an event to its task) may still be written while it is locked
        statement = statement.with_for_update(of=table, key_share=True)
    return statement, build


async def run(
    ctx: Context,
    target: Target[R],
    ident: uuid.UUID,
    action: Action,
    apply: Callable[[Work[R]], Awaitable[Outcome[T]]],
    *,
    open_task: str | None = None,
    prepare: Callable[[Work[R]], Awaitable[None]] | None = None,
    alone: bool = False,
) -> T:
    """Run one mutation. `open_task` (what it does: 安排专题会议) refuses finished tasks.

    `prepare` runs after the policy allowed the mutation and before its transaction begins: the
    place for a call to another service (WeChat's content check), which must never hold a lock or
    a transaction open. Only a target read without a lock may have one.

    `alone`: `apply` writes in one statement that raises on every refusal, having written nothing
    (a ballot: `resolvers.vote.cast_ballot`), so the mutation needs no transaction around it and
    runs without one (`Services.autocommit`): the rows that statement locks are held only while
    PostgreSQL runs it, not for the round trip of a COMMIT. Such a mutation appends no event, no
    audit record and notifies nothing here: each would be a write of its own."""
    who = require_person(await ctx.fresh())
    if prepare is not None:
        assert not target.lock, "a locked row must not wait for another service"
        async with ctx.sessions() as session:
            checked = await _checked(ctx, session, target, ident, who, action, open_task)
        await prepare(checked)
    if alone:
        assert not target.lock and prepare is None and action not in audit.AUDITED
        async with (ctx.services.autocommit or ctx.sessions)() as session, session.begin():
            outcome = await apply(await _checked(ctx, session, target, ident, who, action, open_task))
        assert outcome.event is None and not outcome.topics, "a lone write is its statement only"
        return outcome.result
    async with ctx.sessions() as session, session.begin():
        if prepare is not None:
            work = checked
            work.session = session
        else:
            work = await _checked(ctx, session, target, ident, who, action, open_task)
        outcome = await apply(work)
        if outcome.event is not None:
            assert work.task_id is not None, "only a task or a task's child has a timeline"
            role = outcome.event.role or standing(who, work.facts)
            await append_event(
                session, work.task_id, work.compound_id, outcome.event, actor_id=who.person_id, role=role
            )
        if action in audit.AUDITED:
            await audit.append(
                session,
                action=action.value,
                actor=audit.person(who, _acting_as(who, work.facts)),
                object_type=target.resource.value,
                object_id=ident,
                community_id=getattr(work.facts, "community_id", None),
                compound_id=work.compound_id,
                address=client_address(ctx.request),
                detail=outcome.detail,
            )
        for topic in outcome.topics:
            await notify(session, topic)
    return outcome.result


async def _checked(
    ctx: Context,
    session: AsyncSession,
    target: Target[R],
    ident: uuid.UUID,
    who: PersonPrincipal,
    action: Action,
    open_task: str | None,
) -> Work[R]:
    return _judged_work(
        ctx, session, target, who, action, open_task, await load(session, target, ident, who, action)
    )


def _judged_work(
    ctx: Context,
    session: AsyncSession | None,
    target: Target[R],
    who: PersonPrincipal,
    action: Action,
    open_task: str | None,
    found: tuple[R, Any, Any] | None,
) -> Work[R]:
    """The loaded row judged: not visible, refused, a finished task, or the work to do."""
    if found is None:
        raise not_visible()
    row, facts, state = found
    if asks_collections(target.resource, action):
        if not state["may_read"]:
            raise not_visible()
        if not state["may_act"]:
            raise refusal(target.resource, action)
    else:
        require(who, target.resource, action, facts)
    if open_task is not None:
        refused = finished_message(TaskStatus(facts.status), open_task)
        if refused is not None:
            raise ConflictError(refused)
    # a grid or a community (an appointment there) belongs to no compound
    compound_id = row.id if target.model is Compound else getattr(row, "compound_id", None)
    return Work(ctx, session, who, row, facts, _task_id(target, row), compound_id, state)  # type: ignore[arg-type]


# --- on the driver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DriverLoad:
    """A target's load statement as the driver takes it (asyncpg's `$1`, `$2`…): its text, its
    parameters' names in order, the values SQLAlchemy bound as constants, and the facts' builder."""

    sql: str
    names: tuple[str, ...]
    constants: dict[str, Any]
    build: Callable[[Any], Any]


_DRIVER_LOADS: dict[tuple[Any, ...], _DriverLoad] = {}
_DRIVER_DIALECT = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]


def _driver_load(target: Target[Any], action: Action, who: PersonPrincipal) -> _DriverLoad:
    """`load`'s statement as SQL text, compiled once per target, action and (where the rules ask
    about collections) shape of caller, with the access epoch now (`access_epoch`): a caller
    from the process's cache is acted for only while it is still the epoch it was read at."""
    judged = asks_collections(target.resource, action)
    key = (target, action, shape(who) if judged else None)
    found = _DRIVER_LOADS.get(key)
    if found is None:
        if len(_DRIVER_LOADS) > JUDGED_MAX:
            _DRIVER_LOADS.clear()
        plain, build = _loader(target)
        statement = (_judged(target, action, who) if judged else plain).add_columns(
            current_epoch().label("access_epoch")
        )
        compiled = statement.compile(dialect=_DRIVER_DIALECT, compile_kwargs={"render_postcompile": True})
        found = _DRIVER_LOADS[key] = _DriverLoad(
            compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params), build
        )
    return found


async def _load_on_driver(
    connection: Any, target: Target[R], ident: uuid.UUID, who: PersonPrincipal, action: Action
) -> tuple[R, Any, Any] | None:
    """`load` as SQL text on the driver's connection (asyncpg's): the row is its columns as
    attributes, not an ORM object (nothing on the driver writes through it), the facts and the
    `state` are read from the record by label."""
    statement = _driver_load(target, action, who)
    values = statement.constants | {"target_id": ident, "facts_person": who.person_id}
    if asks_collections(target.resource, action):
        values |= params(who)
    found = await on_driver(connection, statement.sql, *(values[n] for n in statement.names))
    if found is None:
        return None
    table = target.model.__table__  # type: ignore[attr-defined]
    row = SimpleNamespace(**{column.key: found[column.name] for column in table.columns})
    return row, statement.build(found), found  # type: ignore[return-value]


async def run_on_driver(
    ctx: Context,
    target: Target[R],
    ident: uuid.UUID,
    action: Action,
    apply: Callable[[Work[R]], Awaitable[Outcome[T]]],
) -> T:
    """`run` with `alone`, on a pooled connection's driver (asyncpg) itself: the load and the one
    write are SQL text sent as it is, with no session, no ORM, no SQLAlchemy execution and no BEGIN
    or COMMIT around them. `apply` is given the connection (`Work.driver`) and no session. For the
    hottest mutation (a ballot), where SQLAlchemy's session and ORM were a third of the service's
    CPU, and its execution of SQL text as much again as asyncpg's.

    It may act for a caller from the process's cache (`Context.refresh`): the load reads the
    access epoch, and a caller read at another epoch (a role, a home, a session changed since) is
    read again and the row loaded again before anything is judged. A caller still at the epoch
    of its reading is the one a reading now would give, and costs no statement."""
    who = require_person(ctx.principal)
    assert not target.lock and action not in audit.AUDITED
    sessions = ctx.services.autocommit
    if sessions is None:  # an app without autocommit sessions: in a transaction, as `run` does
        return await run(ctx, target, ident, action, apply, alone=True)
    engine = sessions.kw["bind"]
    while True:
        async with engine.connect() as pooled:
            # the driver's own connection: SQLAlchemy's execution around a statement of SQL text
            # (its context, its result's metadata) cost as much as asyncpg's sending and reading it
            connection = (await pooled.get_raw_connection()).driver_connection
            try:
                found = await _load_on_driver(connection, target, ident, who, action)
                stale = (
                    ctx.refresh is not None and found is not None and found[2]["access_epoch"] != who.epoch
                )
                if not stale:
                    work = _judged_work(ctx, None, target, who, action, None, found)
                    work.driver = connection
                    outcome = await apply(work)
            except BaseException as failed:
                # SQLAlchemy saw none of it: a connection the server dropped, or left in the middle
                # of a statement (the request's deadline), must not go back to the pool
                if (
                    isinstance(failed, asyncio.CancelledError)
                    or database_unreachable(failed)
                    or connection.is_closed()
                ):
                    await pooled.invalidate()
                raise
        if not stale:
            break
        # read again with the connection given back: the reading may need one of the same pool
        who = require_person(await ctx.fresh())
    assert outcome.event is None and not outcome.topics, "a lone write is its statement only"
    return outcome.result


def _acting_as(who: PersonPrincipal, facts: Any) -> str:
    """In which role the caller acted: their standing on a task, else the roles and positions
    they hold (a vote is opened or closed as whichever of them allows it)."""
    if isinstance(facts, TaskFacts):
        return str(standing(who, facts))
    return audit.held(who) or "RESIDENT"


def _task_id(target: Target[Any], row: Any) -> uuid.UUID | None:
    if target.task_of is not None:
        return getattr(row, target.task_of)
    return row.id if target.model is Task else None


async def append_event(
    session: AsyncSession,
    task_id: uuid.UUID,
    compound_id: uuid.UUID,
    event: Event,
    *,
    actor_id: uuid.UUID | None,
    role: Standing,
) -> TaskEvent:
    """Append one event to a task's timeline and tell its subscribers, in the caller's transaction."""
    row = TaskEvent(
        task_id=task_id,
        compound_id=compound_id,
        kind=event.kind,
        actor_id=actor_id,
        actor_role=role,
        payload=event.payload,
    )
    session.add(row)
    await session.flush()
    await notify(session, task_topic(task_id))
    return row

"""Appending to the audit trail and reading it (`models.audit` holds the chain's rule).

Every privileged action appends one record in the transaction that does it, so that the record
exists exactly when the action does: the mutations whose policy action is in `AUDITED` (through
`resolvers.pipeline`), staff logins, imports, API keys and ended sessions (through the CLI).
Appends take one advisory lock, so records are numbered in commit order without gaps; privileged
actions are rare, and that lock is held only for the end of their transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from auth.facts import AreaFacts
from auth.policy import Action, Field, Resource, recorded, require, require_authenticated
from auth.principal import PersonPrincipal, Principal
from models.audit import AuditRecord, Link, canonical, chain_hash, first_broken
from models.background import repeating
from models.errors import QilijiaError
from resolvers.ids import decode
from resolvers.pages import Key, Page, order, read, window

log = logging.getLogger("qilijia.audit")

#: the advisory lock that orders appends (any fixed key no other lock uses)
AUDIT_LOCK = 0x51_4C4A_4155
#: the mutations recorded: triage of tasks, assignments, opening, closing, cancelling and extending
#: votes, mediation, disclosures of costs, decisions of meetings and on text held for review, a
#: community's settings
AUDITED: frozenset[Action] = frozenset(
    {
        Action.ACCEPT,
        Action.MANAGE_HOMES,
        Action.MANAGE_PERSON,
        Action.DECIDE,
        Action.EVALUATE,
        Action.EXPORT,
        Action.SET_SERVICE_DAYS,
        Action.APPOINT,
        Action.REJECT,
        Action.ASSIGN,
        Action.OPEN_VOTE,
        Action.SET_PROCEDURE,
        Action.ENTER_PAPER_BALLOTS,
        Action.VERIFY_PROXY,
        Action.ANSWER_OBJECTIONS,
        Action.CONSENT,
        Action.CLOSE,
        Action.CANCEL,
        Action.EXTEND,
        Action.ASSIGN_MEDIATOR,
        Action.RECORD_OUTCOME,
        Action.PUBLISH_DISCLOSURE,
        Action.RECORD_DECISIONS,
        Action.MODERATE,
        Action.PUBLISH_NOTICE,
        Action.MANAGE_NOTICE,
    }
)


def operator() -> tuple[dict[str, str], str]:
    """(actor, address) of an operator at the command line: the account running it, on this host."""
    return {"kind": "operator", "name": getpass.getuser()}, socket.gethostname()


def held(who: PersonPrincipal) -> str:
    """The roles and positions someone holds, as a record's `role` ("" when none)."""
    return ",".join(sorted({g.role.value for g in who.roles} | {p.position.value for p in who.positions}))


def person(who: PersonPrincipal, role: str | None = None) -> dict[str, Any]:
    """A person as a record's `actor`: acting as `role`, or as the roles and positions they hold."""
    return {
        "kind": "person",
        "id": who.person_id,
        "name": who.name,
        "role": held(who) if role is None else role,
    }


@dataclass(frozen=True)
class Entry:
    """One record to append (`append` says what each part is)."""

    action: str
    actor: Mapping[str, Any]
    object_type: str | None = None
    object_id: uuid.UUID | None = None
    community_id: uuid.UUID | None = None
    compound_id: uuid.UUID | None = None
    address: str | None = None
    detail: Mapping[str, Any] | None = None
    at: datetime | None = None


async def append(
    session: AsyncSession,
    *,
    action: str,
    actor: Mapping[str, Any],
    object_type: str | None = None,
    object_id: uuid.UUID | None = None,
    community_id: uuid.UUID | None = None,
    compound_id: uuid.UUID | None = None,
    address: str | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one record in the caller's transaction. `actor` says who: `{"kind": "person", "id",
    "name", "role"}`, `{"kind": "operator", "name"}` (the command line), `{"kind": "api_client", …}`."""
    entry = Entry(action, actor, object_type, object_id, community_id, compound_id, address, detail, at)
    await append_all(session, [entry])


async def append_all(session: AsyncSession, entries: list[Entry]) -> None:
    """Append records in the caller's transaction, in this order, with one lock, one read of the
    chain's end and one statement."""
    if not entries:
        return
    last = await _lock_and_last(session)
    seq, previous = (last.seq, last.hash) if last else (0, None)
    records = []
    for entry in entries:
        seq += 1
        record = _chained(entry, seq, previous)
        records.append(record)
        previous = record.hash
    await session.execute(
        _APPEND_ALL,
        {
            "seqs": [r.seq for r in records],
            "ats": [r.at for r in records],
            "communities": [r.community_id for r in records],
            "payloads": [r.payload for r in records],
            "prevs": [r.prev_hash for r in records],
            "hashes": [r.hash for r in records],
        },
    )


_APPEND_ALL = sa.text(
    "INSERT INTO audit_record (seq, at, community_id, payload, prev_hash, hash) "
    "SELECT * FROM unnest(:seqs, :ats, :communities, :payloads, :prevs, :hashes)"
).bindparams(
    sa.bindparam("seqs", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("ats", type_=ARRAY(sa.DateTime(timezone=True))),
    sa.bindparam("communities", type_=ARRAY(sa.Uuid)),
    sa.bindparam("payloads", type_=ARRAY(sa.Text)),
    sa.bindparam("prevs", type_=ARRAY(sa.Text)),
    sa.bindparam("hashes", type_=ARRAY(sa.Text)),
)


async def _lock_and_last(session: AsyncSession) -> Any:
    """Take the appends' lock and read the chain's end (None when the trail is empty)."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK)))
    return (
        await session.execute(
            sa.select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
        )
    ).first()


def _chained(entry: Entry, seq: int, previous: str | None) -> AuditRecord:
    at = entry.at or datetime.now(UTC)
    payload = canonical(
        {
            "seq": seq,
            "at": at.isoformat(),
            "action": entry.action,
            "actor": {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in entry.actor.items()},
            "object_type": entry.object_type,
            "object_id": str(entry.object_id) if entry.object_id else None,
            "community_id": str(entry.community_id) if entry.community_id else None,
            "compound_id": str(entry.compound_id) if entry.compound_id else None,
            "address": entry.address,
            "detail": dict(entry.detail or {}),
        }
    )
    return AuditRecord(
        seq=seq,
        at=at,
        community_id=entry.community_id,
        payload=payload,
        prev_hash=previous,
        hash=chain_hash(previous, payload),
    )


async def verify(session: AsyncSession, batch: int = 5_000) -> tuple[int, str | None, tuple[int, str] | None]:
    """(records checked, the newest hash, the first broken record and why, or None), a page of
    records at a time."""
    checked, newest = 0, None
    while True:
        rows = await session.execute(
            sa.select(AuditRecord).where(AuditRecord.seq > checked).order_by(AuditRecord.seq).limit(batch)
        )
        links = [Link(r.seq, r.at, r.community_id, r.payload, r.prev_hash, r.hash) for r in rows.scalars()]
        if not links:
            return checked, newest, None
        broken = first_broken(links, previous=newest, expected=checked + 1)
        if broken is not None:
            return checked, newest, broken
        checked, newest = links[-1].seq, links[-1].hash


#: the trail: newest record first
TRAIL = order(Key("seq", int, descending=True))


async def trail(
    ctx: Any, community_id: uuid.UUID | None, *, first: int | None, after: str | None
) -> Page[AuditRecord]:
    """A community's records, newest first, for whom the policy lets read them; all records (those
    of no community too) for an admin who names no community."""
    who = ctx.principal
    require_authenticated(who)
    # no community: every record, those of no community too, which the policy grants an admin only
    require(who, Resource.COMMUNITY, Action.READ_AUDIT, AreaFacts(community_id=community_id))
    where: Any = sa.true() if community_id is None else AuditRecord.community_id == community_id
    statement = sa.select(AuditRecord).where(where)
    return await read(
        ctx.sessions, statement, AuditRecord.__table__, TRAIL, window(TRAIL, first=first, after=after)
    )


# --- reveals: readings of what only some may see in full ------------------------------------------

#: the action of a reveal's record
REVEAL = "REVEAL"


@dataclass(frozen=True)
class Reveal:
    at: datetime
    who: PersonPrincipal
    address: str
    fields: tuple[str, ...]
    operation: str | None
    #: the global IDs among the request's variables: which objects were asked about
    objects: dict[str, str]


class Reveals:
    """Requests that read, for a caller the policy records (`auth.policy.Shown.recorded`: staff
    reading residents' phone numbers), fields they see in full: each becomes a `REVEAL` record.

    A read changes nothing, and one statement answers a screen; so the records are appended off
    the request's path, all those noted in the last `FLUSH_SECONDS` in one transaction and one
    INSERT (`append_all`), and at shutdown. A process killed outright loses at most that last
    second's records."""

    FLUSH_SECONDS = 1.0
    #: noted but not yet appended (the database down): beyond this the oldest are dropped, logged
    MAX_PENDING = 50_000

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions
        self.pending: list[Reveal] = []
        # one flush at a time: a flush asked for while another appends waits for it to commit, so
        # that what was noted before it is on the trail when it returns
        self._flushing = asyncio.Lock()

    def note(
        self,
        who: Principal,
        address: str,
        fields: frozenset[tuple[Resource, Field]],
        operation: str | None,
        variables: Mapping[str, Any] | None,
    ) -> None:
        if not isinstance(who, PersonPrincipal):
            return
        shown = sorted(f"{r.value}.{f.value}" for r, f in fields if recorded(who, r, f))
        if not shown:
            return
        if len(self.pending) >= self.MAX_PENDING:
            log.error("audit: %d reveals not yet recorded; dropping the oldest", len(self.pending))
            del self.pending[: len(self.pending) // 10]
        self.pending.append(
            Reveal(datetime.now(UTC), who, address, tuple(shown), operation, _objects(variables or {}))
        )

    async def flush(self) -> int:
        """Append what was noted; on failure keep it for the next try."""
        async with self._flushing:
            return await self._flush()

    async def _flush(self) -> int:
        batch, self.pending = self.pending, []
        if not batch:
            return 0
        try:
            async with self.sessions() as session, session.begin():
                communities = await _communities(session, {r.who for r in batch})
                entries = []
                for r in batch:
                    first = next(iter(r.objects.values()), None)
                    kind, ident = decode(first) if first else (None, None)
                    entries.append(
                        Entry(
                            action=REVEAL,
                            actor=person(r.who),
                            object_type=kind,
                            object_id=ident,
                            community_id=communities.get(r.who.person_id),
                            address=r.address,
                            detail={"fields": list(r.fields), "operation": r.operation, "objects": r.objects},
                            at=r.at,
                        )
                    )
                await append_all(session, entries)
        except Exception:
            log.warning("audit: could not record %d reveals; retrying", len(batch), exc_info=True)
            self.pending[:0] = batch
            return 0
        return len(batch)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Flush every `FLUSH_SECONDS` while the server runs, and once more when it stops."""
        async with repeating(self.flush, self.FLUSH_SECONDS, name="qilijia-reveals", last=True):
            yield


def _objects(variables: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, str) and len(value) <= 100:
            try:
                decode(value)
            except QilijiaError:
                continue
            found[name] = value
    return found


async def _communities(session: AsyncSession, people: set[PersonPrincipal]) -> dict[uuid.UUID, uuid.UUID]:
    """The one community each person works in through their roles (a community, a grid of it or a
    compound of it), for the records' readers (`trail`); someone working in several, or an admin,
    has none: their records are for admins."""
    from models.place import Compound, Grid

    places = {p.place_id for who in people for p in who.roles if p.place_id is not None}
    grids = dict(
        (await session.execute(sa.select(Grid.id, Grid.community_id).where(Grid.id.in_(places)))).all()
    )
    compounds = dict(
        (
            await session.execute(
                sa.select(Compound.id, Compound.community_id).where(Compound.id.in_(places))
            )
        ).all()
    )
    found: dict[uuid.UUID, uuid.UUID] = {}
    for who in people:
        communities = {grids.get(g.place_id, compounds.get(g.place_id, g.place_id)) for g in who.roles}
        if len(communities) == 1 and None not in communities:
            found[who.person_id] = communities.pop()
    return found

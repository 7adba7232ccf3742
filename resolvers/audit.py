"""Appending to the audit trail and reading it (`models.audit` holds the chain's rule).

Every privileged action appends one record in the transaction that does it, so that the record
exists exactly when the action does: the mutations whose policy action is in `AUDITED` (through
`resolvers.pipeline`), staff logins, imports, API keys and ended sessions (through the CLI).
Appends take one advisory lock, so records are numbered in commit order without gaps; privileged
actions are rare, and that lock is held only for the end of their transaction.
"""

from __future__ import annotations

import getpass
import socket
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from auth.facts import AreaFacts
from auth.policy import Action, Resource, require, require_authenticated
from auth.principal import PersonPrincipal
from models.audit import AuditRecord, Link, canonical, chain_hash, first_broken
from resolvers.ids import page_size
from resolvers.loaders import Page

#: the advisory lock that orders appends (any fixed key no other lock uses)
AUDIT_LOCK = 0x51_4C4A_4155
#: the mutations recorded: triage of tasks, assignments, opening and closing votes, mediation,
#: disclosures of costs and decisions of meetings
AUDITED: frozenset[Action] = frozenset(
    {
        Action.ACCEPT,
        Action.REJECT,
        Action.ASSIGN,
        Action.OPEN_VOTE,
        Action.CLOSE,
        Action.ASSIGN_MEDIATOR,
        Action.RECORD_OUTCOME,
        Action.PUBLISH_DISCLOSURE,
        Action.RECORD_DECISIONS,
    }
)


def operator() -> tuple[dict[str, str], str]:
    """(actor, address) of an operator at the command line: the account running it, on this host."""
    return {"kind": "operator", "name": getpass.getuser()}, socket.gethostname()


def held(who: PersonPrincipal) -> str:
    """The roles and positions someone holds, as a record's `role` ("" when none)."""
    return ",".join(sorted({g.role.value for g in who.roles} | {p.position.value for p in who.positions}))


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
) -> AuditRecord:
    """Append one record in the caller's transaction. `actor` says who: `{"kind": "person", "id",
    "name", "role"}`, `{"kind": "operator", "name"}` (the command line), `{"kind": "api_client", …}`."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK)))
    last = (
        await session.execute(
            sa.select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
        )
    ).first()
    seq = last.seq + 1 if last else 1
    at = datetime.now(UTC)
    entry = {
        "seq": seq,
        "at": at.isoformat(),
        "action": action,
        "actor": {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in actor.items()},
        "object_type": object_type,
        "object_id": str(object_id) if object_id else None,
        "community_id": str(community_id) if community_id else None,
        "compound_id": str(compound_id) if compound_id else None,
        "address": address,
        "detail": dict(detail or {}),
    }
    payload = canonical(entry)
    previous = last.hash if last else None
    record = AuditRecord(
        seq=seq,
        at=at,
        community_id=community_id,
        payload=payload,
        prev_hash=previous,
        hash=chain_hash(previous, payload),
    )
    session.add(record)
    await session.flush()
    return record


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


async def trail(
    ctx: Any, community_id: uuid.UUID | None, *, first: int | None, offset: int
) -> Page[AuditRecord]:
    """A community's records, newest first, for whom the policy lets read them; all records (those
    of no community too) for an admin who names no community."""
    who = ctx.principal
    require_authenticated(who)
    # no community: every record, those of no community too, which the policy grants an admin only
    require(who, Resource.COMMUNITY, Action.READ_AUDIT, AreaFacts(community_id=community_id))
    where: Any = sa.true() if community_id is None else AuditRecord.community_id == community_id
    limit = page_size(first)
    async with ctx.sessions() as session:
        rows = (
            (
                await session.execute(
                    sa.select(AuditRecord)
                    .where(where)
                    .order_by(AuditRecord.seq.desc())
                    .offset(offset)
                    .limit(limit + 1)
                )
            )
            .scalars()
            .all()
        )
    return Page(list(rows[:limit]), offset, len(rows) > limit)

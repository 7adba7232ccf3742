"""A compound's rules of procedure (议事规则): reading the version in force and the history, and
recording a new version. A version is never edited: the votes held under it keep it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from auth.policy import Action, Resource
from models.errors import BadUserInputError, ConflictError
from models.place import Compound
from models.procedure import ProcedureRules
from models.procedure_rules import DEFAULT, NOTE_MAX, DoubleVote, Procedure, adoption_problem, basis_problem
from models.vote import Vote
from models.vote_rules import VoteMatter, VoteResult, VoteStatus
from resolvers.context import Context
from resolvers.loaders import by_key, grouped
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.text import clean_text

#: the versions a compound's history shows (a compound changes its rules a few times a decade)
HISTORY_MAX = 100


@dataclass(frozen=True)
class ProcedureView:
    """A version as it is shown: the rules, and where they come from (None for version 0)."""

    procedure: Procedure
    compound_id: uuid.UUID
    adopted_at: datetime | None = None
    basis_vote_id: uuid.UUID | None = None
    note: str | None = None


def view(row: ProcedureRules | None, compound_id: uuid.UUID) -> ProcedureView:
    if row is None:
        return ProcedureView(DEFAULT, compound_id)
    return ProcedureView(row.procedure(), row.compound_id, row.adopted_at, row.basis_vote_id, row.note)


def _versions(ctx: Context) -> DataLoader[uuid.UUID, list[ProcedureRules]]:
    """Each compound's versions, newest first."""
    return ctx.loaders.cached(
        "procedure_versions",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(ProcedureRules)
                .where(ProcedureRules.compound_id.in_(ids))
                .order_by(ProcedureRules.compound_id, ProcedureRules.version.desc())
            ),
            key=lambda r: r.ProcedureRules.compound_id,
            value=lambda r: r.ProcedureRules,
        ),
    )


async def in_force(ctx: Context, compound: Compound) -> ProcedureView:
    """The version a vote opened now would be held under (of a compound the caller may read)."""
    versions = await _versions(ctx).load(compound.id)
    return view(versions[0] if versions else None, compound.id)


async def history(ctx: Context, compound: Compound) -> list[ProcedureView]:
    """Every recorded version, newest first, then the law's defaults (version 0)."""
    versions = await _versions(ctx).load(compound.id)
    return [view(r, compound.id) for r in versions[:HISTORY_MAX]] + [view(None, compound.id)]


async def of_vote(ctx: Context, vote: Vote) -> ProcedureView:
    """The version a vote (one the caller may read) is held under."""
    if vote.procedure_id is None:
        return view(None, vote.compound_id)
    loader = ctx.loaders.cached("procedure", lambda: by_key(ctx.sessions, ProcedureRules))
    return view(await loader.load(vote.procedure_id), vote.compound_id)


async def current(
    session: sa.ext.asyncio.AsyncSession, compound_id: uuid.UUID
) -> tuple[uuid.UUID | None, Procedure]:
    """The version in force and its rules, read in a mutation's transaction (a vote opening
    records it): (None, the law's defaults) before the compound records any."""
    row = (
        await session.execute(
            sa.select(ProcedureRules)
            .where(ProcedureRules.compound_id == compound_id)
            .order_by(ProcedureRules.version.desc())
            .limit(1)
        )
    ).scalar()
    return (None, DEFAULT) if row is None else (row.id, row.procedure())


async def held(session: sa.ext.asyncio.AsyncSession, procedure_id: uuid.UUID | None) -> Procedure:
    """The rules of a version, read in a mutation's transaction (the law's defaults for None)."""
    if procedure_id is None:
        return DEFAULT
    rules = (
        await session.execute(sa.select(ProcedureRules).where(ProcedureRules.id == procedure_id))
    ).scalar_one()
    return rules.procedure()


COMPOUND = Target(Resource.COMPOUND, Compound)


async def adopt(
    ctx: Context,
    *,
    compound_id: uuid.UUID,
    paper_ballots: bool,
    proxies: bool,
    double_vote: DoubleVote,
    unreturned_with_majority: bool,
    basis_vote_id: uuid.UUID | None,
    note: str | None,
    objection_days: int = DEFAULT.objection_days,
    roll_days: int = DEFAULT.roll_days,
    announcement_required: bool = DEFAULT.announcement_required,
) -> ProcedureView:
    """Record the compound's rules of procedure as a new version: the first with where they come
    from, each later one with the passed owners' vote that adopted it. Votes already open keep
    theirs."""
    note = clean_text(note, field="note", label="说明", maximum=NOTE_MAX, required=False)
    problem = adoption_problem(unreturned_with_majority, note, objection_days, roll_days)
    if problem is not None:
        raise BadUserInputError(problem[1], field=problem[0])

    async def apply(work: Work[Compound]) -> Outcome[ProcedureView]:
        session, compound = work.session, work.row
        # the compound's row is locked (the pipeline's target): versions are numbered one by one
        latest = (
            await session.execute(
                sa.select(sa.func.max(ProcedureRules.version)).where(
                    ProcedureRules.compound_id == compound.id
                )
            )
        ).scalar()
        unfounded = basis_problem(latest is None, basis_vote_id is not None, note)
        if unfounded is not None:
            raise BadUserInputError(unfounded[1], field=unfounded[0])
        if basis_vote_id is not None:
            basis = (
                await session.execute(
                    sa.select(Vote.matter, Vote.status, Vote.result).where(
                        Vote.id == basis_vote_id, Vote.compound_id == compound.id
                    )
                )
            ).first()
            if basis is None:
                raise BadUserInputError("依据的表决不存在，或不属于该小区。", field="basisVoteId")
            if (basis.matter, basis.status, basis.result) != (
                VoteMatter.RULES_OF_PROCEDURE,
                VoteStatus.CLOSED,
                VoteResult.PASSED,
            ):
                raise BadUserInputError(
                    "依据的表决须是已通过的“制定和修改业主大会议事规则”表决。", field="basisVoteId"
                )
            used = (
                await session.execute(
                    sa.select(ProcedureRules.version).where(ProcedureRules.basis_vote_id == basis_vote_id)
                )
            ).scalar()
            if used is not None:
                raise ConflictError(f"这次表决已是第{used}版议事规则的依据：一次表决只能通过一个版本。")
        row = ProcedureRules(
            compound_id=compound.id,
            version=(latest or 0) + 1,
            paper_ballots=paper_ballots,
            proxies=proxies,
            double_vote=double_vote,
            unreturned_with_majority=unreturned_with_majority,
            objection_days=objection_days,
            roll_days=roll_days,
            announcement_required=announcement_required,
            basis_vote_id=basis_vote_id,
            note=note,
            adopted_by=work.who.person_id,
        )
        session.add(row)
        await session.flush()
        await session.refresh(row, ["adopted_at"])
        return Outcome(view(row, compound.id))

    result = await run(ctx, COMPOUND, compound_id, Action.SET_PROCEDURE, apply)
    ctx.loaders.forget("procedure_versions", compound_id)
    return result

"""Paper ballots (书面表决票): entered by one person, entered again by a second without seeing the
first entry, and counted only when both agree; and each household's ballot history.

A paper ballot signed by an owner counts for every household of theirs in the vote, as their
online ballot would; one for a household with no recorded owner counts for that household. Which of
a household's online and paper ballots counts is the compound's rules of procedure's
(`models.procedure_rules.counts`, applied under the households' locks by `record_paper_ballot`). A
counted paper ballot is in the tally, the turnout and the published digest like any other; nobody
is ever shown its choice but the household's own owners.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Action, Resource, not_visible, params, refusal, where
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.photos import AttachedTo
from models.procedure import ProcedureRules
from models.procedure_rules import DEFAULT, Channel, DoubleVote, outranked_reason, preferred_channel
from models.vote import Ballot, PaperBallot, PaperBallotStatus, Vote, VoteElector, VoteOwner
from models.vote_digest import receipt_hash
from models.vote_rules import Choice, VoteStatus
from resolvers import photos, procedure
from resolvers.context import Context
from resolvers.events import CHANNEL
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.place import granted
from resolvers.text import clean_text

SIGNER_NAME_MAX = 50
#: a paper ballot handed in a little later than the server's clock says now (a phone's clock)
CLOCK_SKEW = timedelta(minutes=5)


def procedure_state() -> list[Any]:
    """The vote's rules of procedure, read with the vote in the pipeline's one statement: whether
    it takes paper ballots, its double-vote rule and its version (the law's defaults where none)."""
    vote = Vote.__table__
    rules = ProcedureRules.__table__

    def of(column: Any, default: Any) -> Any:
        return sa.func.coalesce(
            sa.select(column).where(rules.c.id == vote.c.procedure_id).scalar_subquery(), default
        )

    return [
        of(rules.c.paper_ballots, DEFAULT.paper_ballots).label("paper_ballots"),
        of(rules.c.double_vote, DEFAULT.double_vote.value).label("double_vote"),
        of(rules.c.version, DEFAULT.version).label("procedure_version"),
        sa.func.clock_timestamp().label("now"),
    ]


PAPER = Target(Resource.VOTE, Vote, lock=False, state=procedure_state)


@dataclass(frozen=True)
class PaperBallotView:
    """A paper ballot as those who enter them see it: never its choice."""

    id: uuid.UUID
    vote_id: uuid.UUID
    number: str
    status: PaperBallotStatus
    signer_id: uuid.UUID | None
    signer_name: str | None
    received_at: datetime
    entered_by: uuid.UUID
    entered_at: datetime
    confirmed_by: uuid.UUID | None
    confirmed_at: datetime | None
    #: why it was not counted: the entries differed, or a ballot ranked higher stands
    note: str | None


def _view(row: Any, number: str, rule: DoubleVote | None = None) -> PaperBallotView:
    """`row`: a `PaperBallot`, or a row of its table's columns."""
    note = row.mismatch
    if row.status == PaperBallotStatus.NOT_COUNTED:
        note = outranked_reason(rule or DEFAULT.double_vote, Channel.PAPER)
    return PaperBallotView(
        row.id,
        row.vote_id,
        number,
        PaperBallotStatus(row.status),
        row.signer_id,
        row.signer_name,
        row.received_at,
        row.entered_by,
        row.entered_at,
        row.confirmed_by,
        row.confirmed_at,
        note,
    )


def _still_open(work: Work[Vote]) -> None:
    row = work.row
    if row.status == VoteStatus.CANCELLED:
        raise ConflictError("该表决已撤销，不能再录入书面表决票。")
    if row.status == VoteStatus.ANNOUNCED:
        raise ConflictError("该表决尚未开始（业主名册公示中），开始后才能录入书面表决票。")
    if row.status != VoteStatus.OPEN or row.closes_at <= work.state["now"]:
        raise ConflictError("该表决已经截止，不能再录入或复核书面表决票。")
    if not work.state["paper_ballots"]:
        raise ConflictError(
            f"本小区议事规则（第{work.state['procedure_version']}版）不接受书面表决票，请业主在小程序中投票。"
        )


def _signer(signer_id: uuid.UUID | None, signer_name: str | None) -> tuple[uuid.UUID | None, str | None]:
    name = clean_text(signer_name, field="signerName", label="签名", maximum=SIGNER_NAME_MAX, required=False)
    if (signer_id is None) == (name is None):
        raise BadUserInputError(
            "请选择签署选票的业主（signerId）；该户没有登记业主时，填写选票上的签名（signerName）。",
            field="signerId",
        )
    return signer_id, name


async def _owners(session: AsyncSession, vote_id: uuid.UUID, household_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.execute(
        sa.select(VoteOwner.person_id).where(
            VoteOwner.vote_id == vote_id, VoteOwner.household_id == household_id
        )
    )
    return set(rows.scalars())


async def enter(
    ctx: Context,
    *,
    vote_id: uuid.UUID,
    household_id: uuid.UUID,
    choice: Choice,
    signer_id: uuid.UUID | None,
    signer_name: str | None,
    received_at: datetime | None,
    photo_refs: list[str],
) -> PaperBallotView:
    """The first entry of a paper ballot, with its photo or scan: waits for a second person."""
    signer_id, signer_name = _signer(signer_id, signer_name)
    refs = photos.parse_refs(photo_refs)
    if not refs:
        raise BadUserInputError("请附上选票的照片或扫描件。", field="photos")
    if received_at is not None and received_at.tzinfo is None:
        raise BadUserInputError("收票时间必须带时区，例如 2026-12-31T18:00:00+08:00。", field="receivedAt")

    async def apply(work: Work[Vote]) -> Outcome[PaperBallotView]:
        session, vote, now = work.session, work.row, work.state["now"]
        _still_open(work)
        opened = vote.opens_at or vote.created_at
        if received_at is not None and (received_at > now + CLOCK_SKEW or received_at < opened):
            raise BadUserInputError("收票时间须在表决开始之后、现在之前。", field="receivedAt")
        # a phone's clock a little ahead is taken as now: a ballot is never later than its entry
        at = min(received_at or now, now)
        elector = (
            await session.execute(
                sa.select(VoteElector.number).where(
                    VoteElector.vote_id == vote.id, VoteElector.household_id == household_id
                )
            )
        ).scalar()
        if elector is None:
            raise BadUserInputError("该户不在本次表决范围内。", field="householdId")
        owners = await _owners(session, vote.id, household_id)
        if owners and signer_id is None:
            raise BadUserInputError(
                "该户有登记的业主：请选择签署选票的业主（signerId），不要只填签名。", field="signerId"
            )
        if not owners and signer_id is not None:
            raise BadUserInputError(
                "该户在表决发起时没有登记的业主：请填写选票上的签名（signerName）。", field="signerId"
            )
        if signer_id is not None and signer_id not in owners:
            raise BadUserInputError("签署人不是该户在表决发起时登记的业主。", field="signerId")
        row = PaperBallot(
            vote_id=vote.id,
            compound_id=vote.compound_id,
            household_id=household_id,
            signer_id=signer_id,
            signer_name=signer_name,
            choice=choice,
            received_at=at,
            received_given=received_at is not None,
            entered_by=work.who.person_id,
        )
        session.add(row)
        try:
            async with session.begin_nested():
                await session.flush()
        except sa.exc.IntegrityError:
            raise ConflictError(
                f"{elector} 已有一张待复核的书面表决票：请先由另一位工作人员复核它。"
            ) from None
        await photos.attach(session, work.who, AttachedTo.PAPER_BALLOT, row.id, refs)
        await session.refresh(row, ["entered_at"])
        return Outcome(_view(row, elector), detail={"paperBallot": str(row.id), "household": elector})

    return await run(ctx, PAPER, vote_id, Action.ENTER_PAPER_BALLOTS, apply)


#: the paper ballot through the database's function (migration 0031), and the live tally's notice
RECORD_PAPER_BALLOT = sa.text(
    "SELECT b.*, pg_notify(:channel, :notice) AS sent FROM record_paper_ballot("
    ":ballot, :vote, :person, :household, :choice, :receipt, :received_at, :prefer) AS b"
)


#: how far apart the two entries of a paper ballot's time may be and still agree
SAME_TIME = timedelta(minutes=1)


def _differences(
    row: PaperBallot,
    choice: Choice,
    signer_id: uuid.UUID | None,
    signer_name: str | None,
    received_at: datetime | None,
) -> str:
    """What the second entry differs in from the first: the choice, the signer, the time it was
    handed in (which decides between two ballots under the rules' `LATEST`)."""
    parts = []
    if row.choice != choice:
        parts.append("选择")
    if (row.signer_id, row.signer_name) != (signer_id, signer_name):
        parts.append("签署人")
    if row.received_given != (received_at is not None) or (
        received_at is not None and abs(received_at - row.received_at) > SAME_TIME
    ):
        parts.append("收票时间")
    return "、".join(parts)


async def confirm(
    ctx: Context,
    *,
    paper_ballot_id: uuid.UUID,
    choice: Choice,
    signer_id: uuid.UUID | None,
    signer_name: str | None,
    received_at: datetime | None = None,
) -> PaperBallotView:
    """The second entry, by another person: if it agrees with the first the ballot counts (or is
    kept as not counted where a ballot the rules rank higher stands); if not, nothing counts and the
    mismatch is on the record, to be entered afresh from the original."""
    signer_id, signer_name = _signer(signer_id, signer_name)
    async with ctx.sessions() as session:
        vote_id = (
            await session.execute(sa.select(PaperBallot.vote_id).where(PaperBallot.id == paper_ballot_id))
        ).scalar()
    if vote_id is None:
        raise not_visible()

    async def apply(work: Work[Vote]) -> Outcome[PaperBallotView]:
        session, vote = work.session, work.row
        row = (
            await session.execute(
                sa.select(PaperBallot).where(PaperBallot.id == paper_ballot_id).with_for_update()
            )
        ).scalar_one()
        if row.status != PaperBallotStatus.PENDING:
            raise ConflictError("这张书面表决票已经复核过。")
        if row.entered_by == work.who.person_id:
            raise ForbiddenError("录入人不能复核自己录入的选票：请由另一位工作人员对照原件再录入一次。")
        _still_open(work)
        number = (
            await session.execute(
                sa.select(VoteElector.number).where(
                    VoteElector.vote_id == vote.id, VoteElector.household_id == row.household_id
                )
            )
        ).scalar_one()
        differ = _differences(row, choice, signer_id, signer_name, received_at)
        rule = DoubleVote(work.state["double_vote"])
        topics: tuple[str, ...] = ()
        if differ:
            status = PaperBallotStatus.MISMATCH
            row.mismatch = f"两次录入的{differ}不一致，未计入：请核对选票原件后重新录入。"
        else:
            prefer = preferred_channel(rule)
            written = (
                await session.execute(
                    RECORD_PAPER_BALLOT,
                    {
                        "ballot": uuid.uuid4(),
                        "vote": vote.id,
                        "person": row.signer_id,
                        "household": row.household_id,
                        "choice": row.choice,
                        # no one holds this receipt: the owner sees the ballot in their history
                        "receipt": receipt_hash(secrets.token_urlsafe(24)),
                        "received_at": row.received_at,
                        "prefer": prefer.value if prefer else None,
                        "channel": CHANNEL,
                        "notice": json.dumps({"topic": f"vote:{vote.id}"}),
                    },
                )
            ).one()
            if written.out_tallies == 0:  # the vote closed a moment ago: the transaction rolls back
                raise ConflictError("该表决已经截止，不能再录入或复核书面表决票。")
            if written.out_tallies == 1:
                status = PaperBallotStatus.COUNTED
                row.ballot_id = written.out_id
                topics = (f"vote:{vote.id}",)
            else:
                status = PaperBallotStatus.NOT_COUNTED
        row.status, row.confirmed_by, row.confirm_choice = status, work.who.person_id, choice
        row.confirmed_at = work.state["now"]
        await session.flush()
        return Outcome(
            _view(row, number, rule),
            topics=topics,
            detail={"paperBallot": str(row.id), "household": number, "status": row.status},
        )

    return await run(ctx, PAPER, vote_id, Action.ENTER_PAPER_BALLOTS, apply)


# --- reading ------------------------------------------------------------------------------------

#: a vote's paper ballots, the latest entered first
PAPER_BALLOTS = order(Key("entered_at", datetime, descending=True), Key("id"))


async def _require(ctx: Context, vote: Vote, action: Action) -> None:
    if not await granted(ctx, Resource.VOTE, action, Vote).load(vote.id):
        raise refusal(Resource.VOTE, action)


async def of_vote(
    ctx: Context, vote: Vote, *, status: PaperBallotStatus | None, first: int | None, after: str | None
) -> Page[PaperBallotView]:
    """The paper ballots entered for a vote, for those who enter them."""
    await _require(ctx, vote, Action.ENTER_PAPER_BALLOTS)
    p, e = PaperBallot.__table__, VoteElector.__table__
    source = p.join(e, sa.and_(e.c.vote_id == p.c.vote_id, e.c.household_id == p.c.household_id))
    statement = sa.select(p, e.c.number).select_from(source).where(p.c.vote_id == vote.id)
    if status is not None:
        statement = statement.where(p.c.status == status.value)
    rule = await _rule_of(ctx, vote)
    w = window(PAPER_BALLOTS, first=first, after=after)
    page = await read(ctx.sessions, statement, p, PAPER_BALLOTS, w, scalars=False)
    return page.map(lambda r: _view(r, r.number, rule))


async def _rule_of(ctx: Context, vote: Vote) -> DoubleVote:
    return (await procedure.of_vote(ctx, vote)).procedure.double_vote


@dataclass(frozen=True)
class BallotRecord:
    """One ballot on a household's history: how and when it was cast, whether it is the one that
    counts now, and its choice only for the household's own owners."""

    channel: Channel
    #: for the household's owners, and for paper ballots (their time is on the paper); staff are
    #: not told when a household voted online, which the live tally would turn into its choice
    cast_at: datetime | None
    counted: bool
    choice: Choice | None
    note: str | None
    #: cast by a proxy under the owner's written proxy
    by_proxy: bool = False


async def history(ctx: Context, vote: Vote, household_id: uuid.UUID) -> list[BallotRecord]:
    """Every ballot cast for a household of the vote, oldest first: for its owners (with their
    choices) and for those who enter paper ballots (without). Anyone else is told it is not there."""
    e = VoteElector.__table__
    async with ctx.sessions() as session:
        own = (
            await session.execute(
                sa.select(e.c.ballot_id).where(
                    e.c.vote_id == vote.id,
                    e.c.household_id == household_id,
                    where(ctx.principal, Resource.ELECTOR, Action.READ_CHOICE, e),
                ),
                params(ctx.principal),
            )
        ).first()
    mine = own is not None
    staff = not mine and await granted(ctx, Resource.VOTE, Action.ENTER_PAPER_BALLOTS, Vote).load(vote.id)
    if not mine and not staff:
        raise not_visible()
    rule = await _rule_of(ctx, vote)
    b, p = Ballot.__table__, PaperBallot.__table__
    async with ctx.sessions() as session:
        current = (
            await session.execute(
                sa.select(e.c.ballot_id).where(e.c.vote_id == vote.id, e.c.household_id == household_id)
            )
        ).scalar()
        cast = await session.execute(
            sa.select(
                b.c.id,
                b.c.channel,
                b.c.choice,
                b.c.proxy_id,
                sa.func.coalesce(p.c.received_at, b.c.cast_at).label("at"),
            )
            .select_from(b.outerjoin(p, p.c.ballot_id == b.c.id))
            .where(b.c.vote_id == vote.id, sa.literal(household_id, sa.Uuid) == sa.any_(b.c.household_ids))
        )
        outranked = await session.execute(
            sa.select(p.c.choice, p.c.received_at).where(
                p.c.vote_id == vote.id,
                p.c.household_id == household_id,
                p.c.status == PaperBallotStatus.NOT_COUNTED.value,
            )
        )
        records = [
            BallotRecord(
                Channel(r.channel),
                r.at if mine or r.channel == Channel.PAPER else None,
                r.id == current,
                Choice(r.choice) if mine else None,
                None,
                r.proxy_id is not None,
            )
            for r in cast
        ] + [
            BallotRecord(
                Channel.PAPER,
                r.received_at,
                False,
                Choice(r.choice) if mine else None,
                outranked_reason(rule, Channel.PAPER),
            )
            for r in outranked
        ]
    return sorted(records, key=lambda r: (r.cast_at is None, r.cast_at or datetime.min.replace(tzinfo=UTC)))

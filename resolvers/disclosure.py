"""Cost disclosures (公示): line items, subsidy, and each household's share, exact to the fen.

A published disclosure never changes (a database trigger refuses UPDATE and DELETE). A correction is
a new version of the task's disclosure; every version stays visible, newest first. Publishing takes
the task's row lock, so versions are numbered one request at a time, and writes the disclosure, its
shares and the timeline event in one transaction: a refused call writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Action, not_visible, params
from auth.principal import PersonPrincipal, Scope
from models import cost_split
from models.cost_split import AmountError, SplitMethod
from models.disclosure import CostDisclosure, CostShare
from models.errors import BadUserInputError
from models.place import Building, Household
from models.task import Task
from models.task_rules import EventKind
from resolvers import task as tasks
from resolvers.context import Context
from resolvers.loaders import grouped
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Event, Outcome, Work, run
from resolvers.text import clean_text, clean_urls

TITLE_MAX = 60
NOTE_MAX = 2_000
LINE_ITEMS_MAX = 100
DESCRIPTION_MAX = 100
ATTACHMENTS_MAX = 20


@dataclass(frozen=True)
class LineItem:
    description: str
    amount: Decimal


@dataclass(frozen=True)
class Checked:
    """A publish request after validation: everything but the scope, which needs the database."""

    title: str
    line_items: list[LineItem]
    total: Decimal
    subsidy: Decimal
    split: SplitMethod
    attachment_urls: list[str]
    note: str | None


def check(
    *,
    title: str,
    line_items: list[tuple[str, str]],
    subsidy: str,
    split: str,
    attachment_urls: list[str] | None,
    note: str | None,
) -> Checked:
    """Validate a publish request; `BadUserInputError` names the first bad field."""
    clean_title = clean_text(title, field="title", label="公示标题", maximum=TITLE_MAX)
    if not line_items:
        raise BadUserInputError("请至少填写一项费用明细。", field="lineItems")
    if len(line_items) > LINE_ITEMS_MAX:
        raise BadUserInputError(f"费用明细最多 {LINE_ITEMS_MAX} 项。", field="lineItems")
    items = []
    for index, (description, amount) in enumerate(line_items):
        clean = clean_text(
            description,
            field=f"lineItems[{index}].description",
            label=f"第 {index + 1} 项费用的名称",
            maximum=DESCRIPTION_MAX,
        )
        try:
            value = cost_split.parse_yuan(amount, positive=True)
        except AmountError as exc:
            raise BadUserInputError(
                f"第 {index + 1} 项费用：{exc.message}", field=f"lineItems[{index}].amount"
            ) from None
        items.append(LineItem(clean or "", value))
    total = cost_split.total(item.amount for item in items)
    try:
        subsidy_value = cost_split.parse_yuan(subsidy, positive=False, limit=None)
    except AmountError as exc:
        raise BadUserInputError(f"补贴：{exc.message}", field="subsidy") from None
    if subsidy_value > total:
        raise BadUserInputError(
            f"补贴（{cost_split.format_yuan(subsidy_value)} 元）不能超过总额"
            f"（{cost_split.format_yuan(total)} 元）。",
            field="subsidy",
        )
    try:
        method = SplitMethod(split)
    except ValueError:
        raise BadUserInputError(
            "分摊方式只能是平均分摊（EQUAL）或按面积分摊（AREA）。", field="split"
        ) from None
    urls = clean_urls(attachment_urls, field="attachmentUrls", maximum=ATTACHMENTS_MAX)
    clean_note = clean_text(note, field="note", label="说明", maximum=NOTE_MAX, required=False)
    return Checked(clean_title or "", items, total, subsidy_value, method, urls, clean_note)


async def publish(
    ctx: Context,
    *,
    task_id: uuid.UUID,
    title: str,
    line_items: list[tuple[str, str]],
    subsidy: str,
    split: str,
    building_ids: list[uuid.UUID] | None,
    attachment_urls: list[str] | None,
    note: str | None,
) -> CostDisclosure:
    """Publish the next version of the task's cost disclosure (the task's team only)."""
    checked = check(
        title=title,
        line_items=line_items,
        subsidy=subsidy,
        split=split,
        attachment_urls=attachment_urls,
        note=note,
    )
    to_pay = cost_split.payable(checked.total, checked.subsidy)

    async def apply(work: Work[Task]) -> Outcome[CostDisclosure]:
        session, task = work.session, work.row
        households = await _scope(session, task, building_ids)
        shares = cost_split.split(to_pay, [(h.number, h.area) for h in households], checked.split)
        version = (
            await session.execute(
                sa.select(sa.func.coalesce(sa.func.max(CostDisclosure.version), 0)).where(
                    CostDisclosure.task_id == task.id
                )
            )
        ).scalar_one() + 1
        row = CostDisclosure(
            task_id=task.id,
            compound_id=task.compound_id,
            version=version,
            title=checked.title,
            line_items=[{"description": i.description, "amount": str(i.amount)} for i in checked.line_items],
            total=checked.total,
            subsidy=checked.subsidy,
            split=checked.split,
            attachment_urls=checked.attachment_urls,
            note=checked.note,
            created_by=work.who.person_id,
        )
        session.add(row)
        await session.flush()
        await session.execute(
            sa.insert(CostShare),
            [
                {
                    "disclosure_id": row.id,
                    "household_id": h.id,
                    "compound_id": task.compound_id,
                    "number": h.number,
                    "area": h.area,
                    "share": shares[h.number],
                }
                for h in households
            ],
        )
        await session.refresh(row)
        lowest, highest = min(shares.values()), max(shares.values())
        each = (
            f"{cost_split.format_yuan(lowest)} 元"
            if lowest == highest
            else f"{cost_split.format_yuan(lowest)}–{cost_split.format_yuan(highest)} 元"
        )
        text = (
            f"公示第{version}版「{row.title}」：总额 {cost_split.format_yuan(checked.total)} 元，"
            f"补贴 {cost_split.format_yuan(checked.subsidy)} 元，"
            f"由 {len(households)} 户{cost_split.SPLIT_NAMES[checked.split]}分摊 "
            f"{cost_split.format_yuan(to_pay)} 元，每户 {each}。"
        )
        payload = {"text": text, "disclosure": str(row.id), "version": version}
        return Outcome(row, Event(EventKind.DISCLOSURE, payload))

    row = await run(ctx, tasks.TASK, task_id, Action.PUBLISH_DISCLOSURE, apply, open_task="发布费用公示")
    ctx.loaders.forget("disclosures_by_task", task_id)
    return row


@dataclass(frozen=True)
class _Household:
    id: uuid.UUID
    number: str
    area: Decimal


async def _scope(session: AsyncSession, task: Task, building_ids: list[uuid.UUID] | None) -> list[_Household]:
    """The households that share the cost: those of the given buildings, else of the task's
    building, else of the whole compound."""
    wanted = sorted(set(building_ids or []))
    if wanted:
        found = set(
            (
                await session.execute(
                    sa.select(Building.id).where(
                        Building.id.in_(wanted), Building.compound_id == task.compound_id
                    )
                )
            ).scalars()
        )
        if found != set(wanted):
            raise BadUserInputError("所选楼栋不属于该事项所在的小区。", field="buildingIds")
        where = Household.building_id.in_(wanted)
    elif task.building_id is not None:
        where = Household.building_id == task.building_id
    else:
        where = Household.compound_id == task.compound_id
    rows = (
        await session.execute(
            sa.select(Household.id, Household.number, Household.area)
            .where(where, Household.compound_id == task.compound_id)
            .order_by(Household.number)
        )
    ).all()
    if not rows:
        raise BadUserInputError("公示范围内没有住户，无法分摊费用。", field="buildingIds")
    return [_Household(r.id, r.number, r.area) for r in rows]


# --- reading --------------------------------------------------------------------------------------


async def get(ctx: Context, *, disclosure_id: uuid.UUID) -> CostDisclosure:
    """One published version: visible with its task, or not at all."""
    statement = sa.select(CostDisclosure).where(
        CostDisclosure.id == disclosure_id, CostDisclosure.task_id.in_(tasks.visible_tasks(ctx))
    )
    async with ctx.sessions() as session:
        row = (await session.execute(statement, params(ctx.principal))).scalar()
    if row is None:
        raise not_visible()
    return row


async def disclosures(ctx: Context, task: Task) -> list[CostDisclosure]:
    """Every published version of a (visible) task's disclosure, newest first; batched across the
    tasks of a list, like every list field."""
    loader = ctx.loaders.cached(
        "disclosures_by_task",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(CostDisclosure)
                .where(CostDisclosure.task_id.in_(ids))
                .order_by(CostDisclosure.task_id, CostDisclosure.version.desc())
            ),
            key=lambda row: row.CostDisclosure.task_id,
            value=lambda row: row.CostDisclosure,
        ),
    )
    return await loader.load(task.id)


#: a disclosure's shares by household number
SHARES = order(Key("number", str))  # unique in the disclosure's compound


async def shares(
    ctx: Context, disclosure: CostDisclosure, *, first: int | None, after: str | None
) -> Page[CostShare]:
    """A (visible) disclosure's per-household shares, by household number: the 公示 shows them to
    everyone who reads the task."""
    statement = sa.select(CostShare).where(CostShare.disclosure_id == disclosure.id)
    return await read(
        ctx.sessions, statement, CostShare.__table__, SHARES, window(SHARES, first=first, after=after)
    )


async def my_shares(ctx: Context, disclosure: CostDisclosure) -> list[CostShare]:
    """The shares of the caller's own households (empty when none of them is in scope)."""
    who = ctx.principal
    if not isinstance(who, PersonPrincipal) or not who.ids(Scope.HOME_HOUSEHOLDS):
        return []
    homes = sorted(who.ids(Scope.HOME_HOUSEHOLDS))
    async with ctx.sessions() as session:
        return list(
            (
                await session.execute(
                    sa.select(CostShare)
                    .where(CostShare.disclosure_id == disclosure.id, CostShare.household_id.in_(homes))
                    .order_by(CostShare.number)
                )
            ).scalars()
        )

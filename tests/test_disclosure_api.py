"""Cost disclosures (公示) over the API on the demo world: 千山美林 6栋's elevator, its versions, who
sees and who may publish, refused input that writes nothing, and the database's append-only guard."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from models.cost_split import split
from resolvers.ids import decode
from tests.conftest import Api, fetch, fetchval
from tests.test_task_api import Desk
from tests.votes import building_id

CHIEF = "13800000001"  # chief convener of 千山美林 (owns 2-1-1601, outside 6栋)
BUILDING6 = "13800000002"  # convener of 6栋
GRID = "13800000003"
COMMUNITY = "13800000004"
PROPERTY = "13800000005"
OWNERS_COMMITTEE = "13800000006"
RESIDENT = "13800000007"  # owner of 6-1-302
TENANT = "13800000008"  # tenant of 1-2-1102
CO_OWNER = "13800000012"  # the other owner of 6-1-302
OUTSIDER = "13800000011"  # 东方新天地

PUBLISH = """mutation($input: PublishCostDisclosureInput!) { publishCostDisclosure(input: $input) {
  id version title lineItems { description amount } total subsidy payable split attachmentUrls note
  publishedAt } }"""
DISCLOSURES = """query($id: ID!) { task(id: $id) { disclosures {
  id version title lineItems { description amount } total subsidy payable split attachmentUrls note
  publishedAt
  shares(first: 100) { edges { node { number area share } } pageInfo { hasNextPage } }
  myShares { number area share } } } }"""
TIMELINE = (
    """query($id: ID!) { task(id: $id) { timeline(first: 50) { edges { node { kind actorRole text } } } } }"""
)

ELEVATOR_ITEMS = [
    {"description": "电梯设备", "amount": "480000.00"},
    {"description": "土建及安装", "amount": "140000.00"},
]
CONTRACT = "https://files.example.cn/qianshan/6-elevator-contract.pdf"
QUOTE = "https://files.example.cn/qianshan/6-elevator-quote.pdf"


@pytest_asyncio.fixture
async def desk(api: Api, demo_db_url: str) -> AsyncIterator[Desk]:
    yield Desk(api, demo_db_url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_desk(shared_api: Api, shared_demo_db_url: str) -> AsyncIterator[Desk]:
    """One database and app for the module's matrices: each of their tests works on objects of its
    own, and what it counts it counts before and after its own request."""
    yield Desk(shared_api, shared_demo_db_url)


async def elevator_project(desk: Desk, **overrides: object) -> str:
    """The chief convener starts 6栋's elevator project and accepts it."""
    fields: dict[str, object] = {
        "kind": "PROJECT",
        "category": "ELEVATOR",
        "title": "6栋加装电梯",
        "description": "6栋为1998年建成的7层住宅，申请加装电梯。总造价约62万元，财政补贴后由6栋业主按面积分摊。",
        "photoUrls": [],
    }
    task_id = await desk.new_task(CHIEF, **{**fields, **overrides})
    accepted = await desk.do(CHIEF, "acceptTask", id=task_id)
    assert accepted["data"]["acceptTask"]["status"] == "ACCEPTED", accepted
    return task_id


def publish_input(task_id: str, **overrides: object) -> dict[str, Any]:
    return {
        "input": {
            "taskId": task_id,
            "title": "6栋加装电梯费用公示",
            "lineItems": ELEVATOR_ITEMS,
            "subsidy": "613000.00",
            "split": "AREA",
            "attachmentUrls": [CONTRACT, QUOTE],
            "note": "财政补贴按每台电梯定额核拨；余额由6栋业主按专有部分面积分摊。",
            **overrides,
        }
    }


async def publish(desk: Desk, task_id: str, phone: str = CHIEF, **overrides: object) -> dict:
    return await desk.as_(phone, PUBLISH, publish_input(task_id, **overrides))


async def households_of(desk: Desk, *buildings: str) -> list[tuple[str, Decimal]]:
    rows = await fetch(
        desk.url,
        "SELECT h.number, h.area FROM household h JOIN building b ON b.id = h.building_id "
        "JOIN compound c ON c.id = h.compound_id WHERE c.key = 'qianshan-meilin' AND b.name = ANY($1::text[]) "
        "ORDER BY h.number",
        list(buildings),
    )
    return [(r["number"], r["area"]) for r in rows]


async def written(desk: Desk) -> tuple[int, int, int]:
    """(disclosures, shares, timeline events) in the whole database."""
    return (
        await fetchval(desk.url, "SELECT count(*) FROM cost_disclosure"),
        await fetchval(desk.url, "SELECT count(*) FROM cost_share"),
        await fetchval(desk.url, "SELECT count(*) FROM task_event"),
    )


def disclosure_uuid(global_id: str) -> uuid.UUID:
    """The row id inside a disclosure's opaque ID (`CostDisclosure` is not a `node(id:)` type yet)."""
    kind, _, ident = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().partition(":")
    assert kind == "CostDisclosure"
    return uuid.UUID(ident)


def yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"


async def test_building6_elevator_disclosure_and_its_correction(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    body = await publish(desk, task_id)
    assert "errors" not in body, body
    first = body["data"]["publishCostDisclosure"]
    assert {k: v for k, v in first.items() if k not in ("id", "publishedAt")} == {
        "version": 1,
        "title": "6栋加装电梯费用公示",
        "lineItems": [
            {"description": "电梯设备", "amount": "480000.00"},
            {"description": "土建及安装", "amount": "140000.00"},
        ],
        "total": "620000.00",
        "subsidy": "613000.00",
        "payable": "7000.00",
        "split": "AREA",
        "attachmentUrls": [CONTRACT, QUOTE],
        "note": "财政补贴按每台电梯定额核拨；余额由6栋业主按专有部分面积分摊。",
    }

    # 6栋's 28 households share 7,000.00 yuan by area, exactly, 200–300 yuan each
    homes = await households_of(desk, "6栋")
    assert len(homes) == 28
    expected = split(Decimal("7000.00"), homes, "AREA")
    listed = await desk.as_(RESIDENT, DISCLOSURES, {"id": task_id})
    [v1] = listed["data"]["task"]["disclosures"]
    assert {k: v1[k] for k in first} == first
    assert v1["shares"]["pageInfo"] == {"hasNextPage": False}
    shares = [e["node"] for e in v1["shares"]["edges"]]
    assert [s["number"] for s in shares] == [number for number, _ in homes]
    assert {s["number"]: Decimal(s["share"]) for s in shares} == expected
    assert [s["area"] for s in shares] == [str(area) for _, area in homes]
    assert sum(Decimal(s["share"]) for s in shares) == Decimal("620000.00") - Decimal("613000.00")
    assert all(Decimal("200") <= Decimal(s["share"]) <= Decimal("300") for s in shares)
    assert all(len(s["share"].split(".")[1]) == 2 for s in shares)
    ident = disclosure_uuid(first["id"])
    assert await fetchval(
        desk.url, "SELECT sum(share) FROM cost_share WHERE disclosure_id = $1", ident
    ) == Decimal("7000.00")
    # the owner of 6-1-302 sees their own share
    mine = {"number": "6-1-302", "area": "75.01", "share": str(expected["6-1-302"])}
    assert v1["myShares"] == [mine]

    # the timeline says what was published
    low, high = min(expected.values()), max(expected.values())
    timeline = await desk.as_(RESIDENT, TIMELINE, {"id": task_id})
    events = [e["node"] for e in timeline["data"]["task"]["timeline"]["edges"]]
    assert events[-1] == {
        "kind": "DISCLOSURE",
        "actorRole": "TEAM",
        "text": f"公示第1版「6栋加装电梯费用公示」：总额 620,000.00 元，补贴 613,000.00 元，"
        f"由 28 户按面积分摊 7,000.00 元，每户 {yuan(low)}–{yuan(high)} 元。",
    }

    # a correction is version 2; version 1 stays, unchanged
    corrected = await publish(
        desk,
        task_id,
        title="6栋加装电梯费用公示（更正）",
        lineItems=[
            {"description": "电梯设备", "amount": "480000.00"},
            {"description": "土建及安装", "amount": "138500.00"},
        ],
        subsidy="611800.00",
        note=None,
        attachmentUrls=[CONTRACT],
    )
    assert "errors" not in corrected, corrected
    second = corrected["data"]["publishCostDisclosure"]
    assert (second["version"], second["total"], second["subsidy"], second["payable"]) == (
        2,
        "618500.00",
        "611800.00",
        "6700.00",
    )
    assert second["note"] is None and second["attachmentUrls"] == [CONTRACT]
    expected2 = split(Decimal("6700.00"), homes, "AREA")
    again = await desk.as_(RESIDENT, DISCLOSURES, {"id": task_id})
    v2_now, v1_now = again["data"]["task"]["disclosures"]
    assert v1_now == v1
    assert {k: v2_now[k] for k in second} == second
    assert {e["node"]["number"]: Decimal(e["node"]["share"]) for e in v2_now["shares"]["edges"]} == expected2
    assert sum(expected2.values()) == Decimal("6700.00")
    assert v2_now["myShares"] == [{"number": "6-1-302", "area": "75.01", "share": str(expected2["6-1-302"])}]
    # the co-owner of 6-1-302 sees the same share; the chief convener (2-1-1601) has none in 6栋
    co_owner = await desk.as_(CO_OWNER, DISCLOSURES, {"id": task_id})
    assert [d["myShares"] for d in co_owner["data"]["task"]["disclosures"]] == [
        v2_now["myShares"],
        v1["myShares"],
    ]
    chief = await desk.as_(CHIEF, DISCLOSURES, {"id": task_id})
    assert [d["myShares"] for d in chief["data"]["task"]["disclosures"]] == [[], []]
    events = await fetch(
        desk.url,
        "SELECT payload->>'version' AS version FROM task_event WHERE task_id = $1 AND kind = 'DISCLOSURE' "
        "ORDER BY seq",
        decode(task_id)[1],
    )
    assert [e["version"] for e in events] == ["1", "2"]
    assert await written(desk) == (2, 56, 4)  # reported, accepted, two disclosures


async def test_shares_page_by_household_number(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    assert "errors" not in await publish(desk, task_id)
    query = """query($id: ID!, $after: String) { task(id: $id) { disclosures {
      shares(first: 10, after: $after) { edges { node { number } } pageInfo { hasNextPage endCursor } } } } }"""
    numbers: list[str] = []
    after = None
    pages = 0
    while True:
        body = await desk.as_(RESIDENT, query, {"id": task_id, "after": after})
        page = body["data"]["task"]["disclosures"][0]["shares"]
        numbers += [e["node"]["number"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert numbers == [number for number, _ in await households_of(desk, "6栋")]
    too_many = await desk.as_(
        RESIDENT,
        "query($id: ID!) { task(id: $id) { disclosures { shares(first: 101) { edges { cursor } } } } }",
        {"id": task_id},
    )
    assert too_many["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


async def test_scope_defaults_to_the_compound_and_follows_given_buildings(desk: Desk) -> None:
    task_id = await elevator_project(
        desk, buildingId=None, category="ENVIRONMENT", title="小区绿化改造", description="全小区绿化改造。"
    )
    body = await publish(
        desk,
        task_id,
        title="绿化改造费用公示",
        lineItems=[{"description": "苗木及人工", "amount": "10000.00"}],
        subsidy="0",
        split="EQUAL",
    )
    assert "errors" not in body, body
    assert body["data"]["publishCostDisclosure"]["subsidy"] == "0.00"
    whole = disclosure_uuid(body["data"]["publishCostDisclosure"]["id"])
    households = await fetchval(
        desk.url,
        "SELECT count(*) FROM household h JOIN compound c ON c.id = h.compound_id WHERE c.key = 'qianshan-meilin'",
    )
    assert households == 494
    rows = await fetch(desk.url, "SELECT share FROM cost_share WHERE disclosure_id = $1", whole)
    assert len(rows) == 494
    assert sum(r["share"] for r in rows) == Decimal("10000.00")
    # 10000 / 494 = 20.2429…: 494 × 20.24 = 9998.56, so 144 households pay 20.25
    assert sorted({r["share"] for r in rows}) == [Decimal("20.24"), Decimal("20.25")]
    assert sum(1 for r in rows if r["share"] == Decimal("20.25")) == 144

    two = await publish(
        desk,
        task_id,
        buildingIds=[await building_id(desk.url, "1栋"), await building_id(desk.url, "6栋")],
        subsidy="2500.50",
    )
    assert "errors" not in two, two
    ident = disclosure_uuid(two["data"]["publishCostDisclosure"]["id"])
    assert two["data"]["publishCostDisclosure"]["version"] == 2
    rows = await fetch(desk.url, "SELECT number, share FROM cost_share WHERE disclosure_id = $1", ident)
    homes = await households_of(desk, "1栋", "6栋")
    assert len(rows) == len(homes) == 100
    assert {r["number"]: r["share"] for r in rows} == split(Decimal("617499.50"), homes, "AREA")
    assert sum(r["share"] for r in rows) == Decimal("620000.00") - Decimal("2500.50")


PUBLISHERS = {CHIEF, BUILDING6, GRID, COMMUNITY}


@pytest.mark.parametrize(
    "phone", sorted(PUBLISHERS | {RESIDENT, CO_OWNER, TENANT, PROPERTY, OWNERS_COMMITTEE, OUTSIDER})
)
@pytest.mark.asyncio(loop_scope="module")
async def test_who_may_publish(shared_desk: Desk, phone: str) -> None:
    desk = shared_desk
    task_id = await elevator_project(desk)
    before = await written(desk)
    body = await publish(desk, task_id, phone=phone)
    if phone in PUBLISHERS:
        assert body["data"]["publishCostDisclosure"]["version"] == 1
        return
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN"}
    if phone == OUTSIDER:  # may not see the task: told nothing about it
        assert error["message"] == "该内容不存在，或您没有查看权限。"
    else:
        assert error["message"] == "只有小区班子、网格员或社区“两委”可以发布费用公示。"
    assert await written(desk) == before


async def test_building_convener_publishes_only_for_their_building(desk: Desk) -> None:
    task_id = await elevator_project(desk, buildingId=await building_id(desk.url, "1栋"))
    before = await written(desk)
    body = await publish(desk, task_id, phone=BUILDING6)
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    assert await written(desk) == before


@pytest.mark.parametrize("phone", [RESIDENT, TENANT, PROPERTY, OWNERS_COMMITTEE, GRID, OUTSIDER])
@pytest.mark.asyncio(loop_scope="module")
async def test_who_sees_the_disclosures(shared_desk: Desk, phone: str) -> None:
    desk = shared_desk
    task_id = await elevator_project(desk)
    assert "errors" not in await publish(desk, task_id)
    body = await desk.as_(phone, DISCLOSURES, {"id": task_id})
    if phone == OUTSIDER:  # a resident of another compound
        assert body["data"] == {"task": None}
        assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
        return
    [only] = body["data"]["task"]["disclosures"]
    assert only["version"] == 1 and len(only["shares"]["edges"]) == 28
    if phone == RESIDENT:
        share = split(Decimal("7000.00"), await households_of(desk, "6栋"), "AREA")["6-1-302"]
        assert only["myShares"] == [{"number": "6-1-302", "area": "75.01", "share": str(share)}]
    else:  # no household of theirs in 6栋
        assert only["myShares"] == []


BAD_INPUTS = [
    pytest.param(
        {"lineItems": [{"description": "电梯设备", "amount": "-5"}]},
        "lineItems[0].amount",
        "第 1 项费用：金额不能为负数。",
        id="negative",
    ),
    pytest.param(
        {"lineItems": [{"description": "电梯设备", "amount": "abc"}]},
        "lineItems[0].amount",
        "第 1 项费用：金额必须是数字，最多两位小数，例如 1234.50。",
        id="non-numeric",
    ),
    pytest.param(
        {"lineItems": [ELEVATOR_ITEMS[0], {"description": "土建及安装", "amount": "1.234"}]},
        "lineItems[1].amount",
        "第 2 项费用：金额最多保留两位小数（精确到分）。",
        id="three-decimals",
    ),
    pytest.param(
        {"lineItems": [{"description": "电梯设备", "amount": "1e3"}]},
        "lineItems[0].amount",
        "第 1 项费用：金额必须是数字，最多两位小数，例如 1234.50。",
        id="exponent",
    ),
    pytest.param(
        {"lineItems": [{"description": "电梯设备", "amount": ""}]},
        "lineItems[0].amount",
        "第 1 项费用：请填写金额。",
        id="empty-amount",
    ),
    pytest.param(
        {"lineItems": [{"description": "电梯设备", "amount": "0.00"}]},
        "lineItems[0].amount",
        "第 1 项费用：金额必须大于 0。",
        id="zero-amount",
    ),
    pytest.param(
        {"lineItems": [{"description": "电梯设备", "amount": "100000000.00"}]},
        "lineItems[0].amount",
        "第 1 项费用：金额必须小于 100,000,000.00 元。",
        id="too-large",
    ),
    pytest.param(
        {"lineItems": [{"description": "  ", "amount": "100.00"}]},
        "lineItems[0].description",
        "请填写第 1 项费用的名称。",
        id="blank-description",
    ),
    pytest.param(
        {"lineItems": [{"description": "项" * 101, "amount": "100.00"}]},
        "lineItems[0].description",
        "第 1 项费用的名称不能超过 100 个字。",
        id="long-description",
    ),
    pytest.param({"lineItems": []}, "lineItems", "请至少填写一项费用明细。", id="no-items"),
    pytest.param(
        {"lineItems": [{"description": "材料", "amount": "1.00"}] * 101},
        "lineItems",
        "费用明细最多 100 项。",
        id="too-many-items",
    ),
    pytest.param(
        {"subsidy": "620000.01"},
        "subsidy",
        "补贴（620,000.01 元）不能超过总额（620,000.00 元）。",
        id="subsidy-over-total",
    ),
    pytest.param({"subsidy": "-1"}, "subsidy", "补贴：金额不能为负数。", id="negative-subsidy"),
    pytest.param(
        {"subsidy": "十万"},
        "subsidy",
        "补贴：金额必须是数字，最多两位小数，例如 1234.50。",
        id="subsidy-text",
    ),
    pytest.param({"title": " "}, "title", "请填写公示标题。", id="blank-title"),
    pytest.param(
        {"attachmentUrls": ["http://files.example.cn/contract.pdf"]},
        "attachmentUrls",
        "链接必须是以 https:// 开头的网址。",
        id="insecure-attachment",
    ),
    pytest.param(
        {"attachmentUrls": [f"https://files.example.cn/{i}.pdf" for i in range(21)]},
        "attachmentUrls",
        "最多 20 个链接。",
        id="too-many-attachments",
    ),
    pytest.param(
        {"buildingIds": ["not-an-id"]}, "buildingIds", "楼栋编号格式不正确。", id="malformed-building"
    ),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_INPUTS)
@pytest.mark.asyncio(loop_scope="module")
async def test_bad_input_is_refused_and_writes_nothing(
    shared_desk: Desk, overrides: dict, field: str, message: str
) -> None:
    desk = shared_desk
    task_id = await elevator_project(desk)
    before = await written(desk)
    body = await publish(desk, task_id, **overrides)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert error["message"] == message
    assert await written(desk) == before


async def test_foreign_building_is_refused_and_writes_nothing(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    before = await written(desk)
    foreign = await building_id(desk.url, "6栋", "dongfang-xintiandi")
    body = await publish(desk, task_id, buildingIds=[await building_id(desk.url, "6栋"), foreign])
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "buildingIds"}
    assert error["message"] == "所选楼栋不属于该事项所在的小区。"
    assert await written(desk) == before


async def test_float_amounts_are_not_accepted(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    before = await written(desk)
    body = await publish(desk, task_id, lineItems=[{"description": "电梯设备", "amount": 480000.5}])
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "查询语句有误，请检查后重试。"
    assert await written(desk) == before


async def test_rejected_task_takes_no_disclosure(desk: Desk) -> None:
    task_id = await desk.new_task(RESIDENT)
    assert (await desk.do(CHIEF, "rejectTask", id=task_id, reason="重复反映"))["data"]["rejectTask"][
        "status"
    ] == "REJECTED"
    before = await written(desk)
    body = await publish(desk, task_id)
    [error] = body["errors"]
    assert error["extensions"] == {"code": "CONFLICT"}
    assert error["message"] == "事项已不予受理，不能发布费用公示。"
    assert await written(desk) == before


async def test_simultaneous_publishes_get_distinct_versions(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    for phone in (CHIEF, GRID, COMMUNITY, BUILDING6):
        await desk.token(phone)
    results = await asyncio.gather(
        *(publish(desk, task_id, phone=phone) for phone in [CHIEF, GRID, COMMUNITY, BUILDING6] * 2)
    )
    assert all("errors" not in r for r in results), [r for r in results if "errors" in r][:1]
    assert sorted(r["data"]["publishCostDisclosure"]["version"] for r in results) == list(range(1, 9))
    assert await written(desk) == (8, 8 * 28, 2 + 8)


async def test_published_disclosures_cannot_be_changed_in_the_database(desk: Desk) -> None:
    task_id = await elevator_project(desk)
    assert "errors" not in await publish(desk, task_id)
    with pytest.raises(Exception, match="append-only"):
        await fetch(desk.url, "UPDATE cost_disclosure SET subsidy = 0")
    with pytest.raises(Exception, match="append-only"):
        await fetch(desk.url, "DELETE FROM cost_disclosure")
    with pytest.raises(Exception, match="append-only"):
        await fetch(desk.url, "UPDATE cost_share SET share = 0")
    with pytest.raises(Exception, match="append-only"):
        await fetch(desk.url, "DELETE FROM cost_share")
    assert await written(desk) == (1, 28, 3)
    assert await fetchval(desk.url, "SELECT subsidy FROM cost_disclosure") == Decimal("613000.00")

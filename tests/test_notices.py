"""Notices (公告), through the API as the mini-program and the office use them: the community
committee posts to its community, the property staff to one building; residents read them on the
notice board and mark them read; the publisher sees who has and has not read. Who may post where,
read what and manage which is asserted both ways; scheduled notices stay hidden until their time;
corrections keep every version; a withdrawal keeps the record; refusals write nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from fpdf import FPDF

from resolvers import notice as notice_resolvers
from resolvers.ids import decode, encode
from resolvers.notice import tell_due
from tests.conftest import TODAY, Api, counting_statements, fetchval, token_for
from tests.test_photos import png, uploaded

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN, GRID, COMMITTEE, STAFF, OWNERS_COMMITTEE = (
    "13800000000",
    "13800000003",
    "13800000004",
    "13800000005",
    "13800000006",
)
CHIEF, RESIDENT, TENANT_1, OUTSIDER, OTHER_COMMITTEE = (
    "13800000001",
    "13800000007",
    "13800000008",
    "13800000011",
    "13800000014",
)
NOT_VISIBLE = "该内容不存在，或您没有查看权限。"

FIELDS = """id kind status title body version pinned publishAt expiresAt publishedAs withdrawnAt
  withdrawReason readByMe readVersion author { name } community { name } compound { name }
  buildings { name } versions { version title body note }"""
PUBLISH = f"mutation($i: PublishNoticeInput!) {{ publishNotice(input: $i) {{ {FIELDS} }} }}"
BOARD = """query($c: ID, $m: ID, $ended: Boolean, $first: Int, $after: String) {
  notices(compoundId: $c, communityId: $m, includeEnded: $ended, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id title pinned status readByMe compound { name } buildings { name } } } } }"""
NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on Notice {{ {FIELDS} }} }} }}"
READ = "mutation($id: ID!) { markNoticeRead(id: $id) { id readByMe readVersion } }"
RECEIPTS = """query($id: ID!) { node(id: $id) { ... on Notice { receipts(first: 100) {
  reached read unread readers { person { name } version } notYetRead { name } } } } }"""
CORRECT = """mutation($id: ID!, $note: String!, $body: String) {
  correctNotice(id: $id, note: $note, body: $body) { id version body versions { version body note } } }"""
WITHDRAW = """mutation($id: ID!, $reason: String!) { withdrawNotice(id: $id, reason: $reason) {
  id status withdrawReason pinned } }"""
PIN = "mutation($id: ID!, $p: Boolean!) { pinNotice(id: $id, pinned: $p) { id pinned } }"
ATTACHED = """query($id: ID!) { node(id: $id) { ... on Notice { photos { url thumbnailUrl status }
  files { url name sizeBytes mediaType } } } }"""


async def place(url: str, table: str, key: str) -> str:
    return encode(table.capitalize(), await fetchval(url, f"SELECT id FROM {table} WHERE key = $1", key))


async def building(url: str, name: str, compound: str = "qianshan-meilin") -> str:
    found = await fetchval(
        url,
        "SELECT b.id FROM building b JOIN compound c ON c.id = b.compound_id WHERE c.key = $1 AND b.name = $2",
        compound,
        name,
    )
    return encode("Building", found)


async def notices_written(url: str) -> int:
    return await fetchval(url, "SELECT count(*) FROM notice")


async def published(api: Api, url: str, phone: str, **given: object) -> dict:
    fields = {"title": "停水通知", "body": "12月8日9:00至17:00检修供水管道，请提前储水。", **given}
    return (await api.data(PUBLISH, {"i": fields}, token=await token_for(url, phone)))["publishNotice"]


def ids(board: dict) -> list[str]:
    return [e["node"]["id"] for e in board["notices"]["edges"]]


async def test_a_community_notice_reaches_its_compounds_and_the_committee_sees_who_read_it(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    jiulong, qianshan = (
        await place(url, "community", "jiulong"),
        await place(url, "compound", "qianshan-meilin"),
    )
    dongfang = await place(url, "compound", "dongfang-xintiandi")
    audited = await fetchval(
        url, "SELECT count(*) FROM audit_record WHERE payload::jsonb ->> 'action' = 'PUBLISH_NOTICE'"
    )
    notice = await published(api, url, COMMITTEE, communityId=jiulong, title="冬季用电安全提示")
    assert notice["status"] == "PUBLISHED" and notice["kind"] == "NORMAL" and notice["version"] == 1
    assert notice["publishedAs"] == "社区“两委”" and notice["compound"] is None
    assert notice["community"]["name"] == "九龙社区" and notice["versions"][0]["note"] is None
    assert (
        await fetchval(
            url, "SELECT count(*) FROM audit_record WHERE payload::jsonb ->> 'action' = 'PUBLISH_NOTICE'"
        )
        == audited + 1
    )

    resident, outsider = await token_for(url, RESIDENT), await token_for(url, OUTSIDER)
    board = await api.data(BOARD, {"c": qianshan}, token=resident)
    assert notice["id"] in ids(board)
    # a resident of another community's compound: not on their board, not by id
    assert notice["id"] not in ids(await api.data(BOARD, {"c": dongfang}, token=outsider))
    assert (await api.error(NODE, {"id": notice["id"]}, token=outsider))["message"] == NOT_VISIBLE
    # nor for a third party or nobody
    assert (await api.error(NODE, {"id": notice["id"]}))["extensions"]["code"] == "UNAUTHENTICATED"

    read = (await api.data(READ, {"id": notice["id"]}, token=resident))["markNoticeRead"]
    assert read["readByMe"] and read["readVersion"] == 1
    await api.data(READ, {"id": notice["id"]}, token=resident)  # twice: one receipt
    assert (
        await fetchval(url, "SELECT count(*) FROM notice_read WHERE notice_id = $1", _uuid(notice["id"])) == 1
    )

    receipts = (await api.data(RECEIPTS, {"id": notice["id"]}, token=await token_for(url, COMMITTEE)))["node"]
    counts = receipts["receipts"]
    living = await fetchval(
        url,
        f"""SELECT count(DISTINCT h.person_id) FROM home h JOIN compound c ON c.id = h.compound_id
           JOIN community m ON m.id = c.community_id
           WHERE m.key = 'jiulong' AND h.starts_on <= {TODAY} AND (h.ends_on IS NULL OR h.ends_on > {TODAY})""",
    )
    assert counts["reached"] == living and counts["read"] == 1 and counts["unread"] == living - 1
    assert [r["person"]["name"] for r in counts["readers"]] == [
        await fetchval(url, "SELECT name FROM person WHERE phone = $1", RESIDENT)
    ]
    assert len(counts["notYetRead"]) == min(100, living - 1) and "*" not in counts["notYetRead"][0]["name"]
    # a resident who may read the notice may not read its receipts: the policy's sentence
    refused = await api.error(RECEIPTS, {"id": notice["id"]}, token=resident)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert refused["message"] == "只有公告的发布人或本社区“两委”成员可以查看公告的阅读情况。"


async def test_a_building_notice_is_for_that_building_and_who_may_post_where(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    qianshan, jiulong = (
        await place(url, "compound", "qianshan-meilin"),
        await place(url, "community", "jiulong"),
    )
    six, one = await building(url, "6栋"), await building(url, "1栋")
    notice = await published(api, url, STAFF, compoundId=qianshan, buildingIds=[six], title="6栋电梯年检")
    assert notice["publishedAs"] == "物业服务中心" and [b["name"] for b in notice["buildings"]] == ["6栋"]
    # read in 6栋 and by everyone serving the compound; not by a tenant of 1栋
    for phone in (RESIDENT, GRID, OWNERS_COMMITTEE, CHIEF, COMMITTEE, ADMIN):
        token = await token_for(url, phone)
        assert (await api.data(NODE, {"id": notice["id"]}, token=token))["node"]["title"] == "6栋电梯年检", (
            phone
        )
    tenant = await token_for(url, TENANT_1)
    assert (await api.error(NODE, {"id": notice["id"]}, token=tenant))["message"] == NOT_VISIBLE
    assert notice["id"] not in ids(await api.data(BOARD, {"c": qianshan}, token=tenant))
    assert notice["id"] in ids(await api.data(BOARD, {"c": qianshan}, token=await token_for(url, RESIDENT)))

    before = await notices_written(url)
    one_compound = "只有本小区的班子、业委会、物业或社区“两委”成员可以在本小区发布公告。"
    refusals = [
        (RESIDENT, {"compoundId": qianshan}, "FORBIDDEN", one_compound),
        (GRID, {"compoundId": qianshan}, "FORBIDDEN", one_compound),
        (STAFF, {"communityId": jiulong}, "FORBIDDEN", "只有本社区“两委”成员可以向全社区发布公告。"),
        (
            OWNERS_COMMITTEE,
            {"communityId": jiulong},
            "FORBIDDEN",
            "只有本社区“两委”成员可以向全社区发布公告。",
        ),
        (OTHER_COMMITTEE, {"compoundId": qianshan}, "FORBIDDEN", NOT_VISIBLE),
        (
            STAFF,
            {"compoundId": qianshan, "buildingIds": [await building(url, "1栋", "dongfang-xintiandi")]},
            "BAD_USER_INPUT",
            "所选楼栋不属于该小区。",
        ),
        (
            COMMITTEE,
            {"compoundId": qianshan, "communityId": jiulong},
            "BAD_USER_INPUT",
            "请指定发布到一个社区或一个小区（二选一）。",
        ),
        (STAFF, {"compoundId": qianshan, "title": " "}, "BAD_USER_INPUT", None),
        (STAFF, {"compoundId": qianshan, "publishAt": "2026-12-31T09:00:00"}, "BAD_USER_INPUT", None),
        (
            STAFF,
            {"compoundId": qianshan, "expiresAt": "2020-01-01T00:00:00+08:00"},
            "BAD_USER_INPUT",
            "到期时间必须晚于发布时间和现在。",
        ),
        (
            STAFF,
            {"compoundId": qianshan, "publishAt": "2026-01-01T09:00:00+08:00"},
            "BAD_USER_INPUT",
            "发布时间不能早于现在（公告不能倒签日期）。",
        ),
    ]
    for phone, given, code, message in refusals:
        fields = {"title": "公告", "body": "正文", **given}
        error = await api.error(PUBLISH, {"i": fields}, token=await token_for(url, phone))
        assert error["extensions"]["code"] == code, (phone, given, error)
        if message is not None:
            assert error["message"] == message, (phone, given)
    assert await notices_written(url) == before
    # the team's chief convener, the owners' committee and the committee post to the compound
    for phone, as_whom in (
        (CHIEF, "小区党员班子"),
        (OWNERS_COMMITTEE, "业主委员会"),
        (COMMITTEE, "社区“两委”"),
    ):
        done = await published(api, url, phone, compoundId=qianshan, buildingIds=[one])
        assert done["publishedAs"] == as_whom


async def test_scheduled_corrected_pinned_and_withdrawn_notices(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    qianshan = await place(url, "compound", "qianshan-meilin")
    staff, resident = await token_for(url, STAFF), await token_for(url, RESIDENT)
    owners_committee, committee = await token_for(url, OWNERS_COMMITTEE), await token_for(url, COMMITTEE)

    later = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    scheduled = await published(api, url, STAFF, compoundId=qianshan, publishAt=later, title="定时公告")
    assert scheduled["status"] == "SCHEDULED"
    assert (await api.error(NODE, {"id": scheduled["id"]}, token=resident))["message"] == NOT_VISIBLE
    assert scheduled["id"] not in ids(await api.data(BOARD, {"c": qianshan, "ended": True}, token=resident))
    assert scheduled["id"] in ids(await api.data(BOARD, {"c": qianshan, "ended": True}, token=staff))
    assert scheduled["id"] not in ids(await api.data(BOARD, {"c": qianshan}, token=staff))

    notice = await published(api, url, STAFF, compoundId=qianshan, title="物业费公示")
    await api.data(READ, {"id": notice["id"]}, token=resident)
    # the owners' committee reads it but may not change it; the committee may
    refused = await api.error(
        CORRECT, {"id": notice["id"], "note": "改", "body": "新"}, token=owners_committee
    )
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert refused["message"] == "只有公告的发布人或本社区“两委”成员可以更正、置顶或撤回公告。"
    corrected = (
        await api.data(
            CORRECT, {"id": notice["id"], "note": "金额有误", "body": "每平方米1.8元。"}, token=committee
        )
    )["correctNotice"]
    assert corrected["version"] == 2 and corrected["body"] == "每平方米1.8元。"
    assert [(v["version"], v["note"]) for v in corrected["versions"]] == [(1, None), (2, "金额有误")]
    # who wrote each version is on it: the committee's correction of the staff's notice
    written = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Notice { versions { version writtenBy { name } } } } }",
        {"id": notice["id"]},
        token=committee,
    )
    versions = written["node"]["versions"]
    assert versions[1]["writtenBy"]["name"] == await fetchval(
        url, "SELECT name FROM person WHERE phone = $1", COMMITTEE
    )
    seen = (await api.data(NODE, {"id": notice["id"]}, token=resident))["node"]
    assert seen["readByMe"] and seen["readVersion"] == 1  # read before the correction
    # its readers see the version in force; its editors every version
    assert [v["version"] for v in seen["versions"]] == [2]
    same = await api.error(
        CORRECT, {"id": notice["id"], "note": "再改", "body": "每平方米1.8元。"}, token=staff
    )
    assert same["extensions"]["code"] == "BAD_USER_INPUT"
    # the versions are kept as published, whatever a statement tries
    with pytest.raises(asyncpg.RestrictViolationError):
        await fetchval(url, "UPDATE notice_version SET body = 'x' WHERE notice_id = $1", _uuid(notice["id"]))

    # pinned first on the board
    await api.data(PIN, {"id": notice["id"], "p": True}, token=staff)
    whole = ids(await api.data(BOARD, {"c": qianshan, "first": 50}, token=resident))
    assert whole[0] == notice["id"]
    # page by page (the cursor crosses from the pinned to the rest): the same notices, once each
    paged: list[str] = []
    after = None
    while True:
        page = (await api.data(BOARD, {"c": qianshan, "first": 2, "after": after}, token=resident))["notices"]
        paged += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert paged == whole and len(whole) >= 3

    blank = await api.error(WITHDRAW, {"id": notice["id"], "reason": "  "}, token=staff)
    assert blank["extensions"]["code"] == "BAD_USER_INPUT"
    withdrawn = (await api.data(WITHDRAW, {"id": notice["id"], "reason": "已改为书面通知"}, token=staff))[
        "withdrawNotice"
    ]
    assert withdrawn["status"] == "WITHDRAWN" and withdrawn["withdrawReason"] == "已改为书面通知"
    assert not withdrawn["pinned"]
    assert notice["id"] not in ids(await api.data(BOARD, {"c": qianshan}, token=resident))
    # taken down for its readers; kept, with its versions, for its editors
    assert (await api.error(NODE, {"id": notice["id"]}, token=resident))["message"] == NOT_VISIBLE
    kept = (await api.data(NODE, {"id": notice["id"]}, token=staff))["node"]
    assert kept["status"] == "WITHDRAWN" and len(kept["versions"]) == 2
    again = await api.error(WITHDRAW, {"id": notice["id"], "reason": "再撤"}, token=staff)
    assert again["extensions"]["code"] == "CONFLICT"
    late = await api.error(CORRECT, {"id": notice["id"], "note": "改", "body": "又改"}, token=staff)
    assert late["extensions"]["code"] == "CONFLICT"
    assert await fetchval(url, "SELECT version FROM notice WHERE id = $1", _uuid(notice["id"])) == 2
    # each change is in the audit trail, with what was done
    done = await fetchval(
        url,
        """SELECT array_agg(payload::jsonb -> 'detail' ->> 'did' ORDER BY seq) FROM audit_record
           WHERE payload::jsonb ->> 'action' = 'MANAGE_NOTICE' AND payload::jsonb ->> 'object_id' = $1""",
        str(_uuid(notice["id"])),
    )
    assert done == ["CORRECT", "PIN", "WITHDRAW"]


async def test_the_board_costs_the_same_statements_for_few_or_many_notices(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    shanyu = await place(url, "compound", "shanyu-cheng")
    token = await token_for(url, ADMIN)

    async def statements() -> tuple[int, int]:
        with counting_statements(api.app) as counted:
            board = await api.data(
                BOARD.replace("compound { name }", "compound { name } author { name }"),
                {"c": shanyu, "first": 50},
                token=token,
            )
        return counted.count, board["notices"]["totalCount"]

    for _ in range(2):
        await published(api, url, ADMIN, compoundId=shanyu)
    few, shown = await statements()
    for _ in range(10):
        await published(api, url, ADMIN, compoundId=shanyu)
    many, shown_more = await statements()
    assert shown_more == shown + 10
    assert many == few


def _uuid(global_id: str) -> uuid.UUID:
    return decode(global_id, "Notice")[1]


async def test_an_urgent_notice_is_told_to_everyone_it_reaches_once(
    shared_api: Api, shared_demo_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, url = shared_api, shared_demo_db_url
    qianshan, six = await place(url, "compound", "qianshan-meilin"), await building(url, "6栋")
    living_in_six = await fetchval(
        url,
        f"""SELECT count(DISTINCT hm.person_id) FROM home hm JOIN household h ON h.id = hm.household_id
           JOIN building b ON b.id = h.building_id JOIN compound c ON c.id = b.compound_id
           WHERE c.key = 'qianshan-meilin' AND b.name = '6栋'
             AND hm.starts_on <= {TODAY} AND (hm.ends_on IS NULL OR hm.ends_on > {TODAY})""",
    )
    told = "SELECT count(*) FROM notification WHERE kind = 'NOTICE_URGENT' AND ref_id = $1"

    urgent = await published(
        api, url, STAFF, compoundId=qianshan, buildingIds=[six], urgent=True, title="6栋停电"
    )
    assert urgent["kind"] == "URGENT"
    assert await fetchval(url, told, _uuid(urgent["id"])) == living_in_six > 0
    inbox = await api.data(
        "{ me { notifications(first: 1) { edges { node { kind title body subjectId } } } } }",
        token=await token_for(url, RESIDENT),
    )
    message = inbox["me"]["notifications"]["edges"][0]["node"]
    assert message["kind"] == "NOTICE_URGENT" and message["title"] == "紧急公告：6栋停电"
    assert message["subjectId"] == urgent["id"]
    # a correction of what they were told is told again
    await api.data(
        CORRECT,
        {"id": urgent["id"], "note": "时间有变", "body": "改为下午停电。"},
        token=await token_for(url, STAFF),
    )
    assert await fetchval(url, told, _uuid(urgent["id"])) == 2 * living_in_six

    # scheduled: told by the job once its time has come, once, whichever process runs it
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = await published(
        api, url, STAFF, compoundId=qianshan, buildingIds=[six], urgent=True, publishAt=later
    )
    assert await fetchval(url, told, _uuid(scheduled["id"])) == 0
    sessions = api.app.state.services.sessions
    await tell_due(sessions, {})
    assert await fetchval(url, told, _uuid(scheduled["id"])) == 0
    await fetchval(
        url,
        "UPDATE notice SET publish_at = now() - interval '1 minute' WHERE id = $1",
        _uuid(scheduled["id"]),
    )
    await asyncio.gather(tell_due(sessions, {}), tell_due(sessions, {}))
    await tell_due(sessions, {})
    assert await fetchval(url, told, _uuid(scheduled["id"])) == living_in_six

    # an audience larger than a request tells is told by the job, moments later, once
    monkeypatch.setattr(notice_resolvers, "TOLD_IN_REQUEST_MAX", 3)
    large = await published(
        api, url, STAFF, compoundId=qianshan, buildingIds=[six], urgent=True, title="大范围"
    )
    assert await fetchval(url, told, _uuid(large["id"])) == 0
    await asyncio.gather(tell_due(sessions, {}), tell_due(sessions, {}))
    assert await fetchval(url, told, _uuid(large["id"])) == living_in_six


async def test_a_notice_shows_its_photos_and_files_to_those_it_reaches(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    qianshan, six = await place(url, "compound", "qianshan-meilin"), await building(url, "6栋")
    staff, resident = await token_for(url, STAFF), await token_for(url, RESIDENT)
    mine = (await uploaded(api, staff, png()))["id"]
    theirs = (await uploaded(api, resident, png()))["id"]
    document = a_pdf()
    sent = await api.client.post(
        "/uploads",
        files={"file": ("停水通知.pdf", document, "application/pdf")},
        headers={"Authorization": f"Bearer {staff}"},
    )
    assert sent.status_code == 201 and sent.json()["status"] == "PASSED", sent.text
    pdf = sent.json()["id"]
    opened_now = await api.client.get(sent.json()["url"])
    assert opened_now.headers["content-disposition"] == "attachment"
    assert opened_now.headers["x-content-type-options"] == "nosniff"
    # a resident may not use the server to host files: PDFs are for those who post notices
    hosted = await api.client.post(
        "/uploads", files={"file": ("x.pdf", document)}, headers={"Authorization": f"Bearer {resident}"}
    )
    assert hosted.status_code == 403 and hosted.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    cut = await api.client.post(
        "/uploads", files={"file": ("坏.pdf", document[:-20])}, headers={"Authorization": f"Bearer {staff}"}
    )
    assert (
        cut.status_code == 400
        and cut.json()["errors"][0]["message"] == "PDF 文件不完整，请重新导出后再上传。"
    )

    before = await notices_written(url)
    for given, message in (
        ({"photos": [theirs]}, "只能使用您自己上传的照片。"),
        ({"photos": [pdf]}, "这是文件，不是照片：请作为附件文件添加。"),
        ({"files": [mine]}, "附件文件只能是 PDF；照片请作为照片添加。"),
    ):
        fields = {"compoundId": qianshan, "title": "图", "body": "图", **given}
        refused = await api.error(PUBLISH, {"i": fields}, token=staff)
        assert (refused["extensions"]["code"], refused["message"]) == ("BAD_USER_INPUT", message)
    assert await notices_written(url) == before
    # a PDF is for notices only, not a report
    on_report = await api.error(
        "mutation($i: ReportTaskInput!) { reportTask(input: $i) { id } }",
        {
            "i": {
                "compoundId": qianshan,
                "category": "OTHER",
                "title": "文件",
                "description": "文件",
                "photos": [pdf],
            }
        },
        token=staff,
    )
    assert on_report["message"] == "这是文件，不是照片：请作为附件文件添加。"

    notice = await published(
        api,
        url,
        STAFF,
        compoundId=qianshan,
        buildingIds=[six],
        photos=[mine, "cloud://env-1.bucket/plan.png"],
        files=[pdf],
    )
    seen = (await api.data(ATTACHED, {"id": notice["id"]}, token=resident))["node"]
    assert [p["status"] for p in seen["photos"]] == ["PASSED", "PASSED"]
    assert seen["photos"][1]["url"] == "cloud://env-1.bucket/plan.png"
    image = await api.client.get(seen["photos"][0]["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    (attached,) = seen["files"]
    assert (attached["name"], attached["sizeBytes"], attached["mediaType"]) == (
        "停水通知.pdf",
        len(document),
        "application/pdf",
    )
    opened = await api.client.get(attached["url"])
    assert opened.headers["content-type"] == "application/pdf" and opened.content == document
    # a tenant of 1栋 is not reached: neither the notice nor what is attached to it
    tenant = await token_for(url, TENANT_1)
    assert (await api.error(ATTACHED, {"id": notice["id"]}, token=tenant))["message"] == NOT_VISIBLE

    # the committee takes the file down; the staff's photos stay, though the committee did not upload them
    changed = await api.data(
        'mutation($id: ID!) { correctNotice(id: $id, note: "附件有误", files: []) { version photos { url } files { url } } }',
        {"id": notice["id"]},
        token=await token_for(url, COMMITTEE),
    )
    assert (changed["correctNotice"]["version"], len(changed["correctNotice"]["photos"])) == (2, 2)
    assert changed["correctNotice"]["files"] == []
    emptied = await api.data(
        'mutation($id: ID!) { correctNotice(id: $id, note: "撤下图片", photos: []) { version photos { url } } }',
        {"id": notice["id"]},
        token=staff,
    )
    assert emptied["correctNotice"] == {"version": 3, "photos": []}


def a_pdf() -> bytes:
    document = FPDF()
    document.add_page()
    return bytes(document.output())
